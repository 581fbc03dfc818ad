"""WSGI entry point: `gunicorn zibo_vote.wsgi` (see gunicorn.conf.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zibo_vote.settings")

application = get_wsgi_application()
