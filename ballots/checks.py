from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def check_sms_backend(app_configs, **kwargs):
    """`check --deploy`: a production server must send real SMS, not print codes to its log."""
    if settings.SMS_BACKEND in {"console", "file", "locmem"}:
        return [
            checks.Warning(
                f"SMS_BACKEND is {settings.SMS_BACKEND!r}: citizens receive no SMS, and the "
                "codes are written where staff can read them.",
                hint="Set SMS_BACKEND=aliyun and the ALIYUN_SMS_* values (README, SMS gateway).",
                id="ballots.W001",
            )
        ]
    return []
