"""Sending one-time codes by SMS, behind one small interface chosen by SMS_BACKEND.

Like Django's email backends: `console` (development: the message goes to the server log),
`file` (one JSON object per line in SMS_FILE, for scripts and the benchmark), `locmem` (tests
read `outbox`), and `aliyun` (Alibaba Cloud SMS, production). A backend either delivers to the
gateway or raises SmsError; the caller decides what the citizen sees.
"""

import json
import logging
import sys
import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.module_loading import import_string

from .identity import mask_phone

logger = logging.getLogger(__name__)

# The short names SMS_BACKEND accepts (settings and the deploy check read them here); any
# other value is the dotted path of a class with the same send() method.
BACKENDS = {
    "console": "verification.sms.ConsoleBackend",
    "file": "verification.sms.FileBackend",
    "locmem": "verification.sms.LocmemBackend",
    "aliyun": "verification.sms.AliyunBackend",
}
# Backends that deliver nothing to a phone: fine on a developer's machine, never in production.
DEVELOPMENT_BACKENDS = frozenset({"console", "file", "locmem"})


class SmsError(Exception):
    """The message did not reach the gateway, or the gateway refused it."""


def backend_path(name):
    """The dotted path of the backend SMS_BACKEND names (a short name or a path)."""
    return BACKENDS.get(name, name)


def check_setting():
    """Refuse, at start-up, an SMS_BACKEND this module cannot use (ImproperlyConfigured)."""
    name = settings.SMS_BACKEND
    if name not in BACKENDS and "." not in name:
        raise ImproperlyConfigured(
            f"SMS_BACKEND must be {', '.join(BACKENDS)} or a dotted path to a backend "
            f"class, not {name!r}."
        )
    if backend_path(name) == BACKENDS["aliyun"]:
        missing = [key for key, value in settings.ALIYUN_SMS.items() if not value]
        if missing:
            raise ImproperlyConfigured(
                "SMS_BACKEND=aliyun needs " + ", ".join(f"ALIYUN_SMS_{n}" for n in missing) + "."
            )


def get_backend():
    return import_string(backend_path(settings.SMS_BACKEND))()


def send_code(phone, code, text):
    """Send `text` to `phone`, the canonical number (identity.normalise_phone); or SmsError."""
    get_backend().send(phone, code, text)


class ConsoleBackend:
    """Prints the message to stderr, which gunicorn puts in the server log. The number is masked."""

    def send(self, phone, code, text):
        print(f"[SMS to {mask_phone(phone)}] {text}", file=sys.stderr, flush=True)


class FileBackend:
    """Appends {"phone", "code", "text", "sent_at"} as one JSON line to SMS_FILE.

    It stands in for the operator's network (the citizen's inbox) in development, tests and
    the benchmark, so it holds the number a real SMS would go to. Not for production.
    """

    _lock = threading.Lock()

    def send(self, phone, code, text):
        line = json.dumps(
            {
                "phone": phone,
                "code": code,
                "text": text,
                "sent_at": timezone.localtime().isoformat(),
            },
            ensure_ascii=False,
        )
        try:
            # One write() of one line in append mode: lines from several workers never interleave.
            with self._lock, open(settings.SMS_FILE, "a", encoding="utf-8") as inbox:
                inbox.write(line + "\n")
        except OSError as error:
            raise SmsError(f"cannot write SMS_FILE: {error}") from error


outbox = []


class LocmemBackend:
    """Keeps messages in `verification.sms.outbox` for tests to read."""

    def send(self, phone, code, text):
        outbox.append({"phone": phone, "code": code, "text": text, "sent_at": timezone.now()})


class AliyunBackend:
    """Alibaba Cloud SMS (短信服务, API version 2017-05-25) through its official SDK.

    Installed with the `aliyun` extra. The template configured in the console must take one
    variable, ${code}.
    """

    def __init__(self):
        try:
            from alibabacloud_dysmsapi20170525.client import Client
            from alibabacloud_tea_openapi.models import Config
        except ImportError as error:  # pragma: no cover - depends on the installed extra
            raise SmsError("SMS_BACKEND=aliyun needs: pip install '.[aliyun]'") from error
        options = settings.ALIYUN_SMS
        self.sign_name = options["SIGN_NAME"]
        self.template_code = options["TEMPLATE_CODE"]
        self.client = Client(
            Config(
                access_key_id=options["ACCESS_KEY_ID"],
                access_key_secret=options["ACCESS_KEY_SECRET"],
                endpoint=options["ENDPOINT"],
                protocol=options["PROTOCOL"],
                connect_timeout=3000,
                read_timeout=5000,
            )
        )

    def send(self, phone, code, text):
        from alibabacloud_dysmsapi20170525.models import SendSmsRequest

        request = SendSmsRequest(
            phone_numbers=phone,
            sign_name=self.sign_name,
            template_code=self.template_code,
            template_param=json.dumps({"code": code}),
        )
        try:
            response = self.client.send_sms(request)
        except Exception as error:
            # The SDK raises its own error types for transport and HTTP failures alike.
            raise SmsError(f"Aliyun SMS request failed: {type(error).__name__}: {error}") from error
        body = response.body
        if body is None or body.code != "OK":
            detail = f"{body.code}: {body.message}" if body is not None else "empty response"
            raise SmsError(f"Aliyun SMS refused the message ({detail})")
        logger.info("SMS to %s accepted by Aliyun (BizId %s)", mask_phone(phone), body.biz_id)
