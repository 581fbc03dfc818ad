"""Limits on sending codes, checking codes and voting, counted in the shared cache.

Built on django-ratelimit (`get_usage`, its `RATELIMIT_*` settings, its `Ratelimited`
exception and middleware), and on Redis on the helpers of `django_ratelimit.core` that make its
keys and windows: private names, so the version is pinned, and an upgrade must pass
tests/test_rate_limits.py's `test_on_redis_the_counters_are_django_ratelimits_own_and_expire`.
Every limit is in the table below, with what it is
counted per and what it does when the cache is unavailable. The rule behind the table: a limit
may be counted only per something the person who spends it controls (their session, their
address, their verified number) or per something that costs a stranger money or sleep when
spent (a number's SMS). Never per a number a visitor merely names: then anyone could spend
someone else's allowance.

When the cache is unavailable (down, or slower than its socket timeout), the limits that guard
sending fail closed: sending is the action that costs money and can harass a stranger's phone.
The others fail open: the integrity of checking and voting rests on the database (five tries
per code, one ballot per citizen by constraint), and a cache outage must not stop a city's vote.

On Redis the counters one request asks about are asked in one round trip (`_usages()`, a
Lua script that does what django-ratelimit's get_usage does for each: the same keys, windows
and lifetimes); any other cache is asked through get_usage itself, a counter at a time.

"Unavailable" is decided in exactly one place, `_ask_cache()`: a cache call that raises one of
cache_breaker.CACHE_ERRORS, or an enabled django-ratelimit that answers `None` (see `_usage`),
or the shared cache's breaker (zibo_vote/cache_breaker.py) not asking the cache because it
failed a moment ago: a hung Redis then costs one socket timeout per worker every few seconds,
not one per call.
"""

import enum
import hashlib
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django_ratelimit import ALL
from django_ratelimit.core import (
    EXPIRATION_FUDGE,
    _get_window,
    _make_cache_key,
    _split_rate,
    get_usage,
)
from django_ratelimit.exceptions import Ratelimited
from django_redis.cache import RedisCache
from django_redis.client import ShardClient
from redis.exceptions import NoScriptError

from zibo_vote.cache_breaker import CacheDown, shared_cache
from zibo_vote.http import client_ip

from .identity import address_hash

logger = logging.getLogger(__name__)


class CacheUnavailable(Exception):
    """The shared cache did not answer; each limit's `when_cache_down` says what follows."""


class Limited(Ratelimited):
    """A limit is reached. django-ratelimit's middleware turns it into RATELIMIT_VIEW's 429."""

    def __init__(self, limit, retry_after):
        super().__init__(f"{limit.name} reached")
        self.limit = limit
        # The real time left in the limit's window, for the Retry-After header and the page.
        self.retry_after = max(1, math.ceil(retry_after))


class WhenCacheDown(enum.Enum):
    ALLOW = "fails open"
    REFUSE = "fails closed"


@dataclass(frozen=True)
class Limit:
    name: str  # django-ratelimit's group: the counter's name in the cache
    setting: str  # its rate, in settings.RATE_LIMITS
    per: str  # what it is counted per (documentation, logs)
    when_cache_down: WhenCacheDown

    @property
    def rate(self):
        value = settings.RATE_LIMITS[self.setting]
        # RATE_UNVERIFIED_SENDS_PER_IP was a bare number of sends an hour, and still may be.
        return f"{value}/h" if isinstance(value, int) else value


ALLOW, REFUSE = WhenCacheDown.ALLOW, WhenCacheDown.REFUSE

# The table. docs/verification.md repeats it with who can exhaust each limit.
SENDS_PER_NUMBER = Limit("sends-per-number", "send_per_phone", "number", REFUSE)
SENDS_PER_ADDRESS = Limit("sends-per-address", "send_per_ip", "address", REFUSE)
UNVERIFIED_SENDS_PER_ADDRESS = Limit(
    "unverified-sends-per-address", "unverified_sends_per_ip", "address", REFUSE
)
CHECKS_PER_SESSION = Limit("checks-per-session", "check_per_session", "session", ALLOW)
CHECKS_PER_ADDRESS = Limit("checks-per-address", "check_per_ip", "address", ALLOW)
BALLOTS_PER_ADDRESS = Limit("ballots-per-address", "vote_per_ip", "address", ALLOW)
BALLOTS_PER_CITIZEN = Limit("ballots-per-citizen", "vote_per_citizen", "citizen", ALLOW)
# Not django-ratelimit's: the product's 60 seconds between two codes for one number
# (SMS_RESEND_SECONDS), an interval from the last send rather than a fixed window. Fails closed.
RESEND_WAIT = "resend-wait"

# Unverified sends = sends minus verified codes, two counters of one address in the same
# window: both use UNVERIFIED_SENDS_PER_ADDRESS's rate, so their period and (django-ratelimit
# derives it from the key and the period) their window are always the same, whatever the rate.
_SENT = "sends-per-address-for-unverified"
_VERIFIED = "verified-per-address"


def _cache():
    return caches[settings.RATELIMIT_USE_CACHE]


def _ask_cache(operation, *args, **kwargs):
    """Every call the limits make to the cache goes through here, and through the breaker."""
    try:
        return shared_cache.call(operation, *args, **kwargs)
    except CacheDown as down:
        raise CacheUnavailable(str(down)) from down


def _no_answer(what):
    """A backend that swallowed its error answered nothing: the cache is out all the same."""
    shared_cache.failed(f"no answer for {what}")
    return CacheUnavailable(f"no answer for {what}")


def _usage(request, group, value, rate, *, increment):
    """django-ratelimit's count of `value` in `group`; None when RATELIMIT_ENABLE is off."""
    if not getattr(settings, "RATELIMIT_ENABLE", True):
        return None  # switched off: nothing is counted and nothing is limited
    usage = _ask_cache(
        get_usage,
        request,
        group=group,
        key=lambda group, request: value,
        rate=rate,
        increment=increment,
    )
    if usage is None:
        # Enabled, with a rate and every method, get_usage answers None ("not active") only
        # when the cache gave it no count and RATELIMIT_FAIL_OPEN (set in settings) tells it
        # not to invent a refusal: a backend that swallows its errors.
        raise _no_answer(group)
    return usage


@dataclass(frozen=True)
class _Ask:
    """One counter to ask about: `group` counted per `value` at `rate`; counted one more, or
    only read (`increment` False: would one more go over?)."""

    group: str
    value: str
    rate: str
    increment: bool


# What get_usage does for each counter, all of them in one round trip: a counter is made with
# its first count and lives for its period and django-ratelimit's fudge (INCR then PEXPIRE,
# which get_usage does as SET NX then INCR); a read makes nothing. With ARGV[1] = 1 it stops
# after the first counter over its limit, as the limits it enforces did one by one: the
# counters after a refusal are not counted. ARGV then holds, per key: increment (1 or 0), the
# lifetime in milliseconds, the limit.
_COUNT_SCRIPT = """
local stop = ARGV[1] == '1'
local counts = {}
for i, key in ipairs(KEYS) do
  local at = 2 + (i - 1) * 3
  local count
  if ARGV[at] == '1' then
    count = redis.call('INCR', key)
    if count == 1 then redis.call('PEXPIRE', key, ARGV[at + 1]) end
  else
    count = tonumber(redis.call('GET', key) or '0')
  end
  counts[i] = count
  if stop and count > tonumber(ARGV[at + 2]) then break end
end
return counts
"""


_COUNT_SHA = hashlib.sha1(_COUNT_SCRIPT.encode()).hexdigest()  # noqa: S324 - Redis's script id


def _run_count_script(client, keys, args):
    """EVALSHA of the counting script, loaded first if this Redis does not know it (a restart
    forgets every script): what redis-py's Script does, without making a Script, which hashes
    the script's text, on every request."""
    try:
        return client.evalsha(_COUNT_SHA, len(keys), *keys, *args)
    except NoScriptError:
        client.script_load(_COUNT_SCRIPT)
        return client.evalsha(_COUNT_SHA, len(keys), *keys, *args)


def _usages(request, asks, *, stop_when_over=False):
    """get_usage's answer for each of `asks`, in order; None for each when RATELIMIT_ENABLE is
    off. With stop_when_over, the answers end at the first counter over its limit (the others
    are neither counted nor asked). On Redis one round trip; raises CacheUnavailable."""
    if not getattr(settings, "RATELIMIT_ENABLE", True):
        return [None] * len(asks)
    cache = _cache()
    # The script needs one Redis server: django-redis's default client (not a sharded one).
    if not isinstance(cache, RedisCache) or isinstance(cache.client, ShardClient):
        usages = []
        for ask in asks:
            usages.append(_usage(request, ask.group, ask.value, ask.rate, increment=ask.increment))
            if stop_when_over and usages[-1]["should_limit"]:
                break
        return usages
    keys, argv, ends = [], ["1" if stop_when_over else "0"], []
    for ask in asks:
        limit, period = _split_rate(ask.rate)
        window = _get_window(ask.value, period)
        keys.append(cache.make_key(_make_cache_key(ask.group, window, ask.rate, ask.value, ALL)))
        argv += ["1" if ask.increment else "0", (period + EXPIRATION_FUDGE) * 1000, limit]
        ends.append((limit, window))
    client = cache.client.get_client(write=True)
    counts = _ask_cache(_run_count_script, client, keys, argv)
    now = int(time.time())
    return [
        {
            "count": count,
            "limit": limit,
            "should_limit": count > limit,
            "time_left": window - now,
        }
        for count, (limit, window) in zip(counts, ends, strict=False)
    ]


def _enforce(request, *limits):
    """Count this request against each of `limits`, (Limit, value) pairs, in order: raise
    Limited at the first one it goes over (those after it are not counted), or
    CacheUnavailable if the cache cannot be asked and one of them fails closed."""
    asks = [_Ask(limit.name, value, limit.rate, True) for limit, value in limits]
    try:
        usages = _usages(request, asks, stop_when_over=True)
    except CacheUnavailable as unavailable:
        if all(limit.when_cache_down is ALLOW for limit, _value in limits):
            names = ", ".join(limit.name for limit, _value in limits)
            logger.warning("Cache unavailable, %s not counted: %s", names, unavailable)
            return
        raise
    for (limit, _value), usage in zip(limits, usages, strict=False):
        if usage is not None and usage["should_limit"]:
            raise Limited(limit, usage["time_left"])


def address_key(request):
    """What an address is counted by (identity.address_hash): also kept with its codes."""
    return address_hash(client_ip(request))


def check_send(request, phone_hash):
    """Before a code is sent: raise Limited, or CacheUnavailable (sending fails closed).

    Nothing is counted here: a send counts when the SMS has gone (count_send), so refused or
    failed attempts use up nobody's allowance.
    """
    address = address_key(request)
    rate = UNVERIFIED_SENDS_PER_ADDRESS.rate
    # Every limit here fails closed: CacheUnavailable goes to the caller.
    number, sends, sent, verified = _usages(
        request,
        [
            _Ask(SENDS_PER_NUMBER.name, phone_hash, SENDS_PER_NUMBER.rate, False),
            _Ask(SENDS_PER_ADDRESS.name, address, SENDS_PER_ADDRESS.rate, False),
            _Ask(_SENT, address, rate, False),
            _Ask(_VERIFIED, address, rate, False),
        ],
    )
    for limit, usage in ((SENDS_PER_NUMBER, number), (SENDS_PER_ADDRESS, sends)):
        if usage is not None and usage["count"] >= usage["limit"]:
            raise Limited(limit, usage["time_left"])
    if sent is not None and sent["count"] - verified["count"] >= sent["limit"]:
        raise Limited(UNVERIFIED_SENDS_PER_ADDRESS, sent["time_left"])


def start_resend_wait(phone_hash):
    """Start the number's wait before another code: 0, or the seconds left of an earlier one.

    add() is atomic in Redis and in the embedded cache: of two sends racing for one number,
    only one gets through within the interval, on any worker or app server. Raises
    CacheUnavailable (the wait fails closed).
    """
    cache = _cache()
    key = f"{RESEND_WAIT}:{phone_hash}"
    if _ask_cache(cache.add, key, time.time() + settings.SMS_RESEND_SECONDS,
                  settings.SMS_RESEND_SECONDS):  # fmt: skip
        return 0
    deadline = _ask_cache(cache.get, key)
    if deadline is None:
        # Refused to add, yet nothing there: a backend that swallowed an error.
        raise _no_answer(RESEND_WAIT)
    return max(1, math.ceil(deadline - time.time()))


def end_resend_wait(phone_hash):
    """After a failed send (or, in tests, once the minute has passed): send again at once."""
    try:
        _ask_cache(_cache().delete, f"{RESEND_WAIT}:{phone_hash}")
    except CacheUnavailable as unavailable:
        logger.warning("Cache unavailable, resend wait not ended: %s", unavailable)


def _count(request, *asks):
    """Count one on each, after the fact: the action happened, so a cache failure is only
    logged. `asks` are (group, value, rate)."""
    try:
        _usages(request, [_Ask(group, value, rate, True) for group, value, rate in asks])
    except CacheUnavailable as unavailable:
        names = ", ".join(group for group, _value, _rate in asks)
        logger.warning("Cache unavailable, %s not counted: %s", names, unavailable)


def count_send(request, phone_hash, address):
    """The SMS has gone: it counts against the number and the address that asked."""
    _count(
        request,
        (SENDS_PER_NUMBER.name, phone_hash, SENDS_PER_NUMBER.rate),
        (SENDS_PER_ADDRESS.name, address, SENDS_PER_ADDRESS.rate),
        (_SENT, address, UNVERIFIED_SENDS_PER_ADDRESS.rate),
    )


def credit_verified_send(request, sent_from):
    """A verified code gives its send back to the address that asked for it.

    `sent_from` is that address's key, kept with the code: the phone may check the code from
    another network (Wi-Fi at home, mobile data outside), which neither gains nor loses.
    """
    if sent_from:
        _count(request, (_VERIFIED, sent_from, UNVERIFIED_SENDS_PER_ADDRESS.rate))


def count_code_check(request, session_key):
    """A well-formed code is about to be checked: per session and per address (fail open)."""
    _enforce(request, (CHECKS_PER_SESSION, session_key), (CHECKS_PER_ADDRESS, address_key(request)))


def count_ballot(request, citizen_hash):
    """A ballot the form accepted is about to be cast: per address and per citizen (fail open).

    Submissions the form refuses (no choice, a mistyped ID number) are not counted: they
    change nothing, and counting them locked out citizens who corrected their mistakes.
    """
    _enforce(
        request, (BALLOTS_PER_ADDRESS, address_key(request)), (BALLOTS_PER_CITIZEN, citizen_hash)
    )
