from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VerificationConfig(AppConfig):
    """Phones, ID numbers, SMS codes and the limits on sending and checking them."""

    name = "verification"
    verbose_name = _("身份验证")

    def ready(self):
        from . import checks  # noqa: F401 - registers the deploy check
