"""The production settings, plus what only a test run needs.

pytest-django imports settings before any conftest runs, so the few environment values a test
run must have are set here, then everything else comes from zibo_vote/settings.py unchanged.
"""

import os
import tempfile

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-key-" + "x" * 40)
os.environ.setdefault("CITIZEN_HASH_KEY", "tests-only-citizen-hash-key-" + "y" * 20)
os.environ.setdefault("SMS_BACKEND", "locmem")
# A key of the tests' own (never a real one: it is in the repository).
os.environ.setdefault("RECORD_SIGNING_KEY", "TVF5yjVDTZ6Pj9Ar5w7E3Qmd07xvH1uVKyDXiBxnH3A=")
# Each run gets its own embedded cache, so counters left by an earlier run cannot leak in.
os.environ.setdefault("DJANGO_CACHE_DIR", tempfile.mkdtemp(prefix="zibo-vote-test-cache-"))

from zibo_vote.settings import *  # noqa: F403

# On SQLite, a real file in WAL mode, as `make run` uses: threads in the concurrency tests
# then meet the same locking as gunicorn's workers, not an in-memory database's.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.mkdtemp(prefix="zibo-vote-test-db-"), "test.sqlite3")
    }

# Password hashing is slow by design; tests log staff in often and prove nothing with it.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tests render templates without running collectstatic first; the serving test checks the
# real hashed-and-compressed storage under gunicorn.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# whitenoise warns about a missing STATIC_ROOT on every request; tests serve from the app dirs.
STATIC_ROOT = tempfile.mkdtemp(prefix="zibo-vote-test-static-")
