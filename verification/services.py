"""What the rest of the site asks of verification: send a code, check it, who is this citizen.

The views call these functions and nothing else of this app's insides. They keep the session's
share of the state:

- while a code is pending, `PENDING`: the phone's hash, its 号段, the random nonce the code is
  bound to, when it was sent, and the number sealed (AES-GCM, identity.seal_phone) so that
  重新获取验证码 needs no retyping. The sealed number is usable for the code's lifetime
  (SMS_CODE_TTL_SECONDS after the last send) and goes with the pending code: at verification,
  when that lifetime is over, or when the session ends;
- once verified, `CITIZEN`: the citizen's hash, the 号段, when the code was sent and when it
  was verified. Never the number: the last four digits are not at rest anywhere.
"""

import logging
import math
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from . import limits, sms
from .identity import (
    mask_phone,
    normalise_phone,
    phone_hash,
    phone_segment,
    seal_phone,
    unseal_phone,
)
from .models import CodeCheck, VerificationCode

logger = logging.getLogger(__name__)

PENDING = "verify"
CITIZEN = "citizen"
# A form to show again after the redirect that answers its POST (see keep_for_redisplay).
REDISPLAY = "verify_redisplay"


@dataclass(frozen=True)
class Citizen:
    """A verified citizen, as the session knows them."""

    hash: str  # identity.phone_hash of the number
    segment: str  # the 号段: first seven digits
    code_sent_at: datetime
    verified_at: datetime

    @property
    def masked_phone(self):
        return mask_phone(self.segment)


class SendStatus:
    SENT = "sent"
    WAIT = "wait"  # the number's resend wait is still running
    BUSY = "busy"  # the cache did not answer: sending fails closed
    FAILED = "failed"  # the SMS gateway did not take the message


@dataclass(frozen=True)
class SendResult:
    status: str
    masked_phone: str
    # Seconds before another code may be sent to this number (0: at once).
    resend_in: int = 0
    # WAIT only: this session already has a code pending for this very number (the citizen
    # asked twice), so the answer is the code step, not a refusal.
    pending_here: bool = False

    @property
    def sent(self):
        return self.status == SendStatus.SENT

    @property
    def message(self):
        """What the citizen is told when no code was sent. A wait is a notice, not a fault."""
        if self.status == SendStatus.WAIT:
            if self.pending_here:
                return _(
                    "验证码刚刚已发送，请查收短信。如未收到，可在%(seconds)d秒后重新获取。"
                ) % {"seconds": self.resend_in}
            return _("该号码刚刚获取过验证码，请查收短信，或在%(seconds)d秒后重新获取。") % {
                "seconds": self.resend_in
            }
        if self.status == SendStatus.BUSY:
            return _("系统繁忙，暂时无法发送验证码，请稍后再试。")
        if self.status == SendStatus.FAILED:
            return _("短信发送失败，请稍后重试。如多次失败，请确认号码无误。")
        return ""


@dataclass(frozen=True)
class CheckResult:
    status: CodeCheck
    # Wrong tries the pending code still allows.
    tries_left: int = 0
    citizen: Citizen | None = None

    @property
    def verified(self):
        return self.status == CodeCheck.OK

    @property
    def message(self):
        if self.verified:
            return ""
        message = str(CodeCheck(self.status).label)
        if self.status == CodeCheck.WRONG and self.tries_left:
            message += ngettext(
                "还可以再输入%(count)d次。", "还可以再输入%(count)d次。", self.tries_left
            ) % {"count": self.tries_left}
        return message


@dataclass(frozen=True)
class PendingCode:
    """The code this session is waiting for, as the code step shows it."""

    masked_phone: str
    sent_at: datetime
    # Seconds before another code may be asked for (0: now), as far as this session knows.
    resend_in: int
    # Past its lifetime: the code no longer works and the sealed number is gone.
    expired: bool = False


def _moment(timestamp):
    return datetime.fromtimestamp(timestamp, tz=UTC)


def pending_code(request, now=None):
    """The code pending in this session (a PendingCode), or None.

    Once the code's lifetime is over, the pending state leaves the session (the sealed number
    with it) and this returns it one last time with `expired` set, so the page can say why the
    number must be typed again. `now` (a Unix time) is for tests.
    """
    pending = request.session.get(PENDING)
    try:
        segment, sent_at = pending["segment"], float(pending["sent_at"])
    except (KeyError, TypeError, ValueError):
        return None
    now = now or time.time()
    if now - sent_at >= settings.SMS_CODE_TTL_SECONDS:
        del request.session[PENDING]
        return PendingCode(mask_phone(segment), _moment(sent_at), 0, expired=True)
    resend_in = max(0, math.ceil(sent_at + settings.SMS_RESEND_SECONDS - now))
    return PendingCode(mask_phone(segment), _moment(sent_at), resend_in)


def pending_phone(request):
    """The masked number a code is pending for in this session, or None."""
    pending = pending_code(request)
    return pending.masked_phone if pending and not pending.expired else None


def send_code(request, phone):
    """Send a code to `phone` for this session. Returns a SendResult; raises limits.Limited.

    The caller has checked that a poll is open. The number is brought to its canonical form
    here whatever the caller passes, so the hash, the limits and the gateway see one number.
    """
    phone = normalise_phone(phone)
    hashed = phone_hash(phone)
    masked = mask_phone(phone)
    try:
        limits.check_send(request, hashed)
        wait = limits.start_resend_wait(hashed)
    except limits.CacheUnavailable as unavailable:
        logger.warning("No code sent to %s, the cache is unavailable: %s", masked, unavailable)
        return SendResult(SendStatus.BUSY, masked)
    pending = request.session.get(PENDING) or {}
    if wait:
        here = pending.get("phone_hash") == hashed
        return SendResult(SendStatus.WAIT, masked, resend_in=wait, pending_here=here)

    address = limits.address_key(request)
    nonce = pending.get("nonce") or secrets.token_urlsafe(18)
    row, code = VerificationCode.issue(phone_hash=hashed, nonce=nonce, sent_from=address)
    text = _(
        "您的验证码是%(code)s，%(minutes)d分钟内有效，仅用于淄博市改革创新经验评选投票。"
        "如非本人操作，请忽略本短信。"
    ) % {"code": code, "minutes": settings.SMS_CODE_TTL_SECONDS // 60}
    try:
        sms.send_code(phone, code, text)
    except sms.SmsError as error:
        # No usable code may outlive a message that never arrived; this code only (a number
        # and session keep their row across codes, so never a later one sent meanwhile).
        VerificationCode.objects.filter(pk=row.pk, code_hash=row.code_hash).delete()
        limits.end_resend_wait(hashed)
        logger.warning("SMS to %s failed: %s", masked, error)
        return SendResult(SendStatus.FAILED, masked)
    limits.count_send(request, hashed, address)
    request.session[PENDING] = {
        "phone_hash": hashed,
        "segment": phone_segment(phone),
        "nonce": nonce,
        "sent_at": row.sent_at.timestamp(),
        "sealed_phone": seal_phone(phone, nonce),
    }
    logger.info("Verification code sent to %s", masked)
    return SendResult(SendStatus.SENT, masked, resend_in=settings.SMS_RESEND_SECONDS)


def resend_code(request):
    """Send a new code to the number of this session's pending code, without retyping it.

    Returns a SendResult, or None when there is no number to send to: no code pending, its
    lifetime over (the sealed number has gone), or a number that no longer opens (the key was
    changed). Raises limits.Limited as send_code does.
    """
    pending = pending_code(request)
    if pending is None or pending.expired:
        return None
    stored = request.session[PENDING]
    phone = unseal_phone(stored.get("sealed_phone"), stored["nonce"])
    if phone is None or phone_hash(phone) != stored["phone_hash"]:
        return None
    return send_code(request, phone)


def check_code(request, code, phone=""):
    """Check `code` (six ASCII digits) against this session's pending code; raises Limited.

    `phone`, if the request names one, must be the number the code was sent to. On success
    the session becomes a verified citizen's, under a new session key.
    """
    pending = request.session.get(PENDING)
    try:
        pending_hash, nonce, segment = pending["phone_hash"], pending["nonce"], pending["segment"]
    except (KeyError, TypeError):
        return CheckResult(CodeCheck.NO_CODE)
    # Counted per session and per address, never per number: otherwise anyone who asked a
    # code for a stranger's number could use up that stranger's checks.
    limits.count_code_check(request, nonce)
    if phone:
        try:
            named = phone_hash(normalise_phone(phone))
        except ValidationError:
            named = ""  # an invalid number names no pending code
        if named != pending_hash:
            return CheckResult(CodeCheck.NO_CODE)

    outcome = VerificationCode.check_code(phone_hash=pending_hash, nonce=nonce, code=code)
    if outcome.status != CodeCheck.OK:
        return CheckResult(outcome.status, tries_left=outcome.tries_left)

    limits.credit_verified_send(request, outcome.sent_from)
    # A new session key at the moment the session gains a right, as a login does.
    request.session.cycle_key()
    del request.session[PENDING]
    verified_at = time.time()
    request.session[CITIZEN] = {
        "hash": pending_hash,
        "segment": segment,
        "code_sent_at": outcome.sent_at.timestamp(),
        "verified_at": verified_at,
    }
    citizen = Citizen(pending_hash, segment, outcome.sent_at, _moment(verified_at))
    return CheckResult(CodeCheck.OK, citizen=citizen)


def verified_citizen(request, now=None):
    """The verified Citizen of this session, or None if not verified or verified too long ago.

    `now` (a Unix time) is for tests; the site asks about the present.
    """
    stored = request.session.get(CITIZEN)
    try:
        citizen = Citizen(
            hash=stored["hash"],
            segment=stored["segment"],
            code_sent_at=_moment(stored["code_sent_at"]),
            verified_at=_moment(stored["verified_at"]),
        )
    except (KeyError, TypeError, ValueError, OverflowError):
        return None  # not verified, or a session from before this shape
    age = (now or time.time()) - stored["verified_at"]
    if age > settings.CITIZEN_VERIFIED_SECONDS:
        return None
    return citizen


@dataclass(frozen=True)
class Redisplay:
    """A verification form as it was posted: what was typed, and what the page said of it."""

    typed: str
    message: str = ""  # an error beside the field
    notice: str = ""  # a notice above the form (a wait), not an error


def keep_for_redisplay(request, step, typed, message="", notice=""):
    """Keep a posted form for the page the POST redirects to (POST-redirect-GET also on
    errors: no answer to a POST stays in the browser's history to be resubmitted).

    What was typed is kept sealed (identity.seal_phone): it may be a phone number, or a code.
    The next `redisplay` of that step takes it out of the session.
    """
    context = secrets.token_urlsafe(12)
    request.session[REDISPLAY] = {
        "step": step,
        "context": context,
        "typed": seal_phone(typed, context),
        "message": message,
        "notice": notice,
    }


def redisplay(request, step):
    """The Redisplay kept for `step` ("phone" or "code"), once; or None."""
    kept = request.session.get(REDISPLAY)
    if not isinstance(kept, dict) or kept.get("step") != step:
        return None
    del request.session[REDISPLAY]
    typed = unseal_phone(kept.get("typed"), kept.get("context", ""))
    if typed is None:
        return None
    return Redisplay(typed, str(kept.get("message", "")), str(kept.get("notice", "")))


def forget_citizen(request):
    """End this session's verification, so another person can verify on the same phone.

    The whole session goes, as at a logout: the citizen, a pending code, and whatever else the
    site kept for this visitor (the receipts of their ballots among it). The next request gets
    a new, empty session.
    """
    request.session.flush()
