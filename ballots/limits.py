"""Rate limits on sending codes, checking codes and voting (django-ratelimit, shared cache).

Each limit is counted per client address and per phone (or verified citizen). The counts live
in the default cache, which every worker and app server shares. When that cache cannot be
reached, django-ratelimit reports "limited": sending codes then fails closed, which is what
we want for the one action that costs money and can harass a stranger's phone. Checking codes
and voting fail open instead: their integrity rests on the database (five tries per code, one
ballot per citizen), and an outage of the cache should not stop a city's vote.
"""

import math
import time

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext_lazy as _
from django_ratelimit.core import get_usage
from django_ratelimit.exceptions import Ratelimited

_UNCOUNTED = "1000000/h"  # a counter, not a limit: the comparison is made below


class SendRefused(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


def _usage(request, group, key, rate, increment=True):
    """django-ratelimit's count for this request; None when the cache did not answer."""
    usage = get_usage(request, group=group, key=key, rate=rate, increment=increment)
    if usage is None:  # RATELIMIT_ENABLE is off
        return {"count": 0, "should_limit": False}
    if usage["time_left"] == -1 and usage["limit"] == 0:
        return None
    return usage


def _fixed(value):
    return lambda group, request: value


def _reached(usage):
    """For a count read without incrementing: is the allowance used up?"""
    return usage["count"] >= usage["limit"]


def check_send_allowed(request, phone_hash):
    """Raise SendRefused (with the citizen's message) or Ratelimited, or return to send.

    Nothing is counted here except the resend wait: a send counts when the SMS has gone
    (record_sent), so refused or failed attempts never use up a number's or a network's
    allowance.
    """
    busy = SendRefused(_("系统繁忙，暂时无法发送验证码，请稍后再试。"))
    limits = settings.RATE_LIMITS
    per_phone = _usage(
        request, "sms-send-phone", _fixed(phone_hash), limits["send_per_phone"], increment=False
    )
    # One count of the codes an address was sent serves both its limits: all sends, and those
    # never verified (sends minus verifications, in the same hour-long window).
    sent = _usage(request, "sms-sent-ip", "ip", limits["send_per_ip"], increment=False)
    verified = _usage(request, "sms-verified-ip", "ip", _UNCOUNTED, increment=False)
    if None in (per_phone, sent, verified):
        raise busy
    if _reached(per_phone) or _reached(sent):
        raise Ratelimited
    if sent["count"] - verified["count"] >= limits["unverified_sends_per_ip"]:
        raise Ratelimited
    # add() is atomic in Redis and in the embedded cache: of two sends racing for one phone,
    # only one gets through within the resend interval, on any worker or app server.
    cooldown_key = f"sms-cooldown:{phone_hash}"
    deadline = time.time() + settings.SMS_RESEND_SECONDS
    if not cache.add(cooldown_key, deadline, settings.SMS_RESEND_SECONDS):
        earlier_deadline = cache.get(cooldown_key)
        if earlier_deadline is None:
            raise busy
        raise SendRefused(
            _("验证码发送过于频繁，请在%(seconds)d秒后重新获取。")
            % {"seconds": max(1, math.ceil(earlier_deadline - time.time()))}
        )
    return cooldown_key


def record_sent(request, phone_hash):
    limits = settings.RATE_LIMITS
    _usage(request, "sms-send-phone", _fixed(phone_hash), limits["send_per_phone"])
    _usage(request, "sms-sent-ip", "ip", limits["send_per_ip"])


def release_cooldown(cooldown_key):
    """After a failed send, the citizen may try again at once."""
    cache.delete(cooldown_key)


def record_verified(request):
    """A verified code gives its address back the send it used (see unverified_sends_per_ip)."""
    _usage(request, "sms-verified-ip", "ip", _UNCOUNTED)


def _limit(request, group, key, rate):
    usage = _usage(request, group, key, rate)
    # usage None: the cache is down. Fail open here (see the module docstring).
    if usage is not None and usage["should_limit"]:
        raise Ratelimited


def check_code_allowed(request, phone_hash):
    limits = settings.RATE_LIMITS
    _limit(request, "code-check-ip", "ip", limits["check_per_ip"])
    _limit(request, "code-check-phone", _fixed(phone_hash), limits["check_per_phone"])


def check_vote_allowed(request, citizen_hash):
    limits = settings.RATE_LIMITS
    _limit(request, "vote-ip", "ip", limits["vote_per_ip"])
    _limit(request, "vote-citizen", _fixed(citizen_hash), limits["vote_per_citizen"])
