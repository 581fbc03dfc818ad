import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from django.conf import settings
from django.db import connections, models, router, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext_lazy as _


class CodeCheck(models.TextChoices):
    """What checking a code can answer; the label is what the citizen reads."""

    OK = "ok", _("验证成功")
    NO_CODE = "no_code", _("请先获取验证码。")
    WRONG = "wrong", _("验证码不正确，请核对短信后重新输入。")
    EXPIRED = "expired", _("验证码已过期，请重新获取。")
    USED = "used", _("该验证码已使用，请重新获取。")
    TOO_MANY_TRIES = "too_many_tries", _("错误次数过多，该验证码已失效，请重新获取。")


@dataclass(frozen=True)
class CheckOutcome:
    status: CodeCheck
    # Wrong tries this code still allows (0 once it is used up, expired or used).
    tries_left: int = 0
    # For a code that checked OK: when it was sent, and the address hash that asked for it.
    sent_at: datetime | None = None
    sent_from: str = ""


def _session_hash(nonce):
    return hashlib.sha256(nonce.encode()).hexdigest()


def _columns(alias, *names):
    """The code table's name and these columns', quoted for the database `alias`."""
    meta = VerificationCode._meta
    quote = connections[alias].ops.quote_name
    return quote(meta.db_table), {name: quote(meta.get_field(name).column) for name in names}


@cache
def _issue_statement(alias):
    """INSERT … ON CONFLICT DO UPDATE … RETURNING the id (PostgreSQL; SQLite 3.35+): a new
    code for this session and number, in place of any earlier one. One statement needs no
    transaction around it, and is written out once: the ORM's bulk_create() would compile it
    for every code and put BEGIN and COMMIT around it."""
    table, column = _columns(
        alias, "id", "phone_hash", "session_hash", "code_hash", "sent_from", "sent_at",
        "expires_at", "wrong_tries", "used_at",
    )  # fmt: skip
    replaced = ("code_hash", "sent_from", "sent_at", "expires_at", "wrong_tries", "used_at")
    # Only the model's own table and column names, quoted, are put into the text.
    return (
        f"INSERT INTO {table} ({column['phone_hash']}, {column['session_hash']}, "  # noqa: S608
        f"{column['code_hash']}, {column['sent_from']}, {column['sent_at']}, "
        f"{column['expires_at']}, {column['wrong_tries']}, {column['used_at']}) "
        "VALUES (%s, %s, %s, %s, %s, %s, 0, NULL) "
        f"ON CONFLICT ({column['phone_hash']}, {column['session_hash']}) DO UPDATE SET "
        + ", ".join(f"{column[name]} = EXCLUDED.{column[name]}" for name in replaced)
        + f" RETURNING {column['id']}"
    )


@cache
def _use_statement(alias):
    """UPDATE … RETURNING (PostgreSQL; SQLite 3.35+): marks this session's code for this number
    used if it is the right one, unused, under its wrong tries and in time, and returns it.

    One statement, so nothing can come between the check and the use: of two requests with
    the right code at once, the second finds it used (PostgreSQL re-checks the WHERE on the row
    the first changed). Read through raw(), so its times come back as the model's fields.
    """
    table, column = _columns(
        alias, "id", "phone_hash", "session_hash", "code_hash", "sent_at", "sent_from",
        "expires_at", "wrong_tries", "used_at",
    )  # fmt: skip
    # Only the model's own table and column names, quoted, are put into the text.
    return (
        f"UPDATE {table} SET {column['used_at']} = %s "  # noqa: S608
        f"WHERE {column['phone_hash']} = %s AND {column['session_hash']} = %s "
        f"AND {column['code_hash']} = %s AND {column['used_at']} IS NULL "
        f"AND {column['wrong_tries']} < %s AND {column['expires_at']} > %s "
        f"RETURNING {column['id']}, {column['sent_at']}, {column['sent_from']}"
    )


class VerificationCode(models.Model):
    """A one-time code sent by SMS, bound to the phone and to the browser session that asked.

    Only an HMAC of the code is stored; the phone is its keyed hash, as on ballots, and the
    address that asked is the keyed hash the rate limits count it by, so a verified code can
    give that address its send back (limits.credit_verified_send).
    """

    phone_hash = models.CharField(_("手机号摘要"), max_length=64)
    session_hash = models.CharField(_("会话摘要"), max_length=64)
    code_hash = models.CharField(_("验证码摘要"), max_length=64)
    sent_from = models.CharField(_("请求来源摘要"), max_length=64)
    sent_at = models.DateTimeField(_("发送时间"), default=timezone.now)
    expires_at = models.DateTimeField(_("失效时间"), db_index=True)
    wrong_tries = models.PositiveSmallIntegerField(_("错误次数"), default=0)
    used_at = models.DateTimeField(_("使用时间"), null=True, blank=True)

    class Meta:
        ordering = ["-sent_at"]
        verbose_name = _("短信验证码")
        verbose_name_plural = _("短信验证码")
        constraints = [
            # A session's code for a number: a new one replaces it (issue()), in one statement.
            models.UniqueConstraint(
                fields=["phone_hash", "session_hash"], name="verification_code_one_per_session"
            ),
        ]

    def __str__(self):
        return f"code {self.pk}"

    @staticmethod
    def _hash_code(code, phone_hash, session_hash):
        # HMAC, not the password hasher: PBKDF2 would cost ~0.3 s per try for a code that
        # expires in five minutes and allows five tries anyway.
        return salted_hmac(
            "verification.VerificationCode",
            f"{phone_hash}:{session_hash}:{code}",
            algorithm="sha256",
        ).hexdigest()

    @classmethod
    def issue(cls, *, phone_hash, nonce, sent_from="", now=None):
        """A fresh 6-digit code for this phone and session; earlier ones for them stop working."""
        now = now or timezone.now()
        session_hash = _session_hash(nonce)
        code = f"{secrets.randbelow(10**6):06d}"
        row = cls(
            phone_hash=phone_hash,
            session_hash=session_hash,
            code_hash=cls._hash_code(code, phone_hash, session_hash),
            sent_from=sent_from,
            sent_at=now,
            expires_at=now + timedelta(seconds=settings.SMS_CODE_TTL_SECONDS),
            wrong_tries=0,
            used_at=None,
        )
        # One INSERT … ON CONFLICT DO UPDATE on the constraint (_issue_statement()): an earlier
        # code of this session for this number is overwritten, its wrong tries and use with it.
        connection = connections[router.db_for_write(cls)]
        params = [
            row.phone_hash,
            row.session_hash,
            row.code_hash,
            row.sent_from,
            connection.ops.adapt_datetimefield_value(row.sent_at),
            connection.ops.adapt_datetimefield_value(row.expires_at),
        ]
        with connection.cursor() as cursor:
            cursor.execute(_issue_statement(connection.alias), params)
            row.pk = cursor.fetchone()[0]
        row._state.adding, row._state.db = False, connection.alias  # a saved row, as create()'s
        return row, code

    @classmethod
    def check_code(cls, *, phone_hash, nonce, code, now=None):
        """Try a code; returns a CheckOutcome. Each wrong try counts, even when tries race."""
        now = now or timezone.now()
        session_hash = _session_hash(nonce)
        allowed = settings.SMS_CODE_MAX_WRONG_TRIES
        # What nearly every check is, a right code in time, is used in one statement; anything
        # else is told apart below, under the row's lock.
        connection = connections[router.db_for_write(cls)]
        at = connection.ops.adapt_datetimefield_value(now)  # as the ORM stores the field
        code_hash = cls._hash_code(code, phone_hash, session_hash)
        params = [at, phone_hash, session_hash, code_hash, allowed, at]
        for row in cls.objects.raw(_use_statement(connection.alias), params):
            return CheckOutcome(CodeCheck.OK, sent_at=row.sent_at, sent_from=row.sent_from)
        with transaction.atomic():
            # The row lock serialises tries on one code, so parallel guesses cannot slip past
            # the five-try limit between reading and writing the counter.
            row = (
                cls.objects.select_for_update()
                .filter(phone_hash=phone_hash, session_hash=session_hash)
                .first()
            )
            if row is None:
                return CheckOutcome(CodeCheck.NO_CODE)
            if row.used_at is not None:
                return CheckOutcome(CodeCheck.USED)
            if row.wrong_tries >= allowed:
                return CheckOutcome(CodeCheck.TOO_MANY_TRIES)
            if now >= row.expires_at:
                return CheckOutcome(CodeCheck.EXPIRED)
            if constant_time_compare(row.code_hash, code_hash):
                cls.objects.filter(pk=row.pk).update(used_at=now)
                return CheckOutcome(CodeCheck.OK, sent_at=row.sent_at, sent_from=row.sent_from)
            cls.objects.filter(pk=row.pk).update(wrong_tries=F("wrong_tries") + 1)
            tries_left = allowed - row.wrong_tries - 1
            if tries_left <= 0:
                return CheckOutcome(CodeCheck.TOO_MANY_TRIES)
            return CheckOutcome(CodeCheck.WRONG, tries_left=tries_left)
