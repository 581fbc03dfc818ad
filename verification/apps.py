from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VerificationConfig(AppConfig):
    """Phones, ID numbers, SMS codes and the limits on sending and checking them."""

    name = "verification"
    verbose_name = _("身份验证")

    def ready(self):
        from . import (
            checks,  # noqa: F401 - registers the deploy check
            sms,
        )

        # A typo in SMS_BACKEND stops the server here, not the first citizen who asks for a code.
        sms.check_setting()
