import sqlite3

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

from . import sms


@checks.register(checks.Tags.security, deploy=True)
def check_sms_backend(app_configs, **kwargs):
    """`check --deploy`: a production server must send real SMS, not print codes to its log.

    The backend is imported here, so a dotted path with a typo fails the deploy instead of
    the first citizen who asks for a code.
    """
    path = sms.backend_path(settings.SMS_BACKEND)
    try:
        import_string(path)
    except ImportError as error:
        return [
            checks.Error(
                f"SMS_BACKEND is {settings.SMS_BACKEND!r}, which does not import: {error}",
                hint="A short name (" + ", ".join(sms.BACKENDS) + ") or the dotted path of a "
                "class with a send(phone, code, text) method (docs/verification.md).",
                id="verification.E001",
            )
        ]
    if path == sms.BACKENDS["aliyun"]:
        placeholders = sorted(
            f"ALIYUN_SMS_{name}"
            for name, value in settings.ALIYUN_SMS.items()
            if not value.strip() or value.strip().lower().startswith("change-me")
        )
        if placeholders:
            return [
                checks.Error(
                    f"{', '.join(placeholders)} still hold the template's placeholder (or "
                    "nothing): no SMS would reach a citizen.",
                    hint="The values from the Alibaba Cloud SMS console (docs/verification.md, "
                    "SMS gateway), in /etc/zibo-vote/zibo-vote.env.",
                    id="verification.E002",
                )
            ]
    if settings.SMS_BACKEND in sms.DEVELOPMENT_BACKENDS:
        return [
            checks.Warning(
                f"SMS_BACKEND is {settings.SMS_BACKEND!r}: citizens receive no SMS, and the "
                "codes are written where staff can read them.",
                hint="Set SMS_BACKEND=aliyun and the ALIYUN_SMS_* values "
                "(docs/verification.md, SMS gateway).",
                id="verification.W001",
            )
        ]
    return []


@checks.register(checks.Tags.compatibility)
def check_sqlite_version(app_configs, **kwargs):
    """The codes' and the sessions' statements need SQLite 3.35 (RETURNING; ON CONFLICT since
    3.24): on an older library every code sent would fail, so `check` and `migrate` (which
    `make run` runs first) refuse it."""
    return sqlite_too_old(settings.DATABASES)


def sqlite_too_old(databases):
    """check_sqlite_version()'s errors for these DATABASES."""
    uses_sqlite = any("sqlite" in config["ENGINE"] for config in databases.values())
    if uses_sqlite and sqlite3.sqlite_version_info < (3, 35):
        return [
            checks.Error(
                f"SQLite {sqlite3.sqlite_version} is too old: 3.35 or later is needed "
                "(UPDATE … RETURNING).",
                hint="Use PostgreSQL (DATABASE_URL), or a Python built with a newer SQLite.",
                id="verification.E003",
            )
        ]
    return []
