from axes.apps import AppConfig as BaseAxesConfig
from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class ZiboVoteConfig(AppConfig):
    """The project package is an app so that manage.py finds compile_translations and
    `{% load fixed %}` finds its tags; no models, and a ready() that registers the template
    library check and has Django draw its CSRF masks from one read (tokens.csrf_string).
    Each app connects its own signals in its own AppConfig.
    """

    default = True  # the module imports another AppConfig (axes'): without this, not chosen
    name = "zibo_vote"
    verbose_name = "zibo-vote"

    def ready(self):
        from django.middleware import csrf

        from . import checks  # noqa: F401 - registers the template library check
        from .tokens import csrf_string

        # Django's CSRF masks and secrets from one draw each, not 32 (zibo_vote.tokens).
        csrf._get_new_csrf_string = csrf_string


class AdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the site of zibo_vote/admin_site.py as `admin.site`."""

    default = False  # named in INSTALLED_APPS; ZiboVoteConfig stays this module's default
    default_site = "zibo_vote.admin_site.AdminSite"


class AxesConfig(BaseAxesConfig):
    """django-axes under a Chinese name in the admin (its app has no verbose_name; its model
    names are translated in locale/zh_Hans)."""

    default = False  # named in INSTALLED_APPS
    verbose_name = _("登录保护")
