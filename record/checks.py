from django.conf import settings
from django.core import checks

from .signing import signing_key_problem


@checks.register(checks.Tags.security, deploy=True)
def check_signing_key(app_configs, **kwargs):
    """`check --deploy`: without a sound RECORD_SIGNING_KEY no checkpoint can be signed."""
    problem = signing_key_problem(settings.RECORD_SIGNING_KEY)
    if problem:
        return [
            checks.Error(
                problem,
                hint="Put the key in the environment file, the same on every app server, and "
                "never change it during a poll (docs/record.md, Keys).",
                id="record.E001",
            )
        ]
    return []
