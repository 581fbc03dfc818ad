from axes.apps import AppConfig as BaseAxesConfig
from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class ZiboVoteConfig(AppConfig):
    """The project package is an app only so that manage.py finds compile_translations.

    No models and no ready(): each app connects its own signals in its own AppConfig.
    """

    name = "zibo_vote"
    verbose_name = "zibo-vote"


class AdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the site of zibo_vote/admin_site.py as `admin.site`."""

    default = False  # named in INSTALLED_APPS; ZiboVoteConfig stays this module's default
    default_site = "zibo_vote.admin_site.AdminSite"


class AxesConfig(BaseAxesConfig):
    """django-axes under a Chinese name in the admin (its app has no verbose_name; its model
    names are translated in locale/zh_Hans)."""

    default = False  # named in INSTALLED_APPS
    verbose_name = _("登录保护")
