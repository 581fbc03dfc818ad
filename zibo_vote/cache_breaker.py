"""The shared cache may be slow as well as down: after it fails, stop asking it for a while.

Redis stopped (SIGSTOP, a full disk, a network partition that drops packets) does not refuse
connections: every call waits for its socket timeout. Without this, each request waited once
per cache call, and a city's vote ran at a few pages a second. With it, one call pays the
timeout (REDIS_TIMEOUT_MS, 200 ms); then nobody in this process asks for
CACHE_BREAKER_SECONDS (5 s), and every caller goes on at once as if the cache were down:

- the public pages are rendered for each request (zibo_vote/page_cache.py);
- the rate limits follow their table of what fails open and what fails closed
  (verification/limits.py, `_ask_cache()`; docs/verification.md);
- the health check says so, and still answers 200 (zibo_vote/views.py).

When the time is up, one call (the first to come) asks again; the others keep not asking until
it has its answer. Each worker process keeps its own state: nothing about an outage is shared
through the cache that is out.
"""

import logging
import sqlite3
import threading
import time

import diskcache
from django.conf import settings
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# What a cache backend raises when it cannot answer: Redis refusing or timing out (django-redis
# re-raises redis-py's errors when IGNORE_EXCEPTIONS is off, as it is for the aliases asked
# through here), a socket error, the embedded cache's SQLite locked past its timeout.
CACHE_ERRORS = (RedisError, OSError, sqlite3.Error, diskcache.Timeout)


class CacheDown(Exception):
    """The shared cache failed on this call, or did a moment ago and was not asked."""


class Breaker:
    def __init__(self, name):
        self.name = name
        self._lock = threading.Lock()
        self._retry_at = None  # None: asking; else the monotonic time to ask again
        self._reason = ""

    @property
    def is_open(self):
        """True while the cache is not being asked (for reports; callers just call())."""
        retry_at = self._retry_at
        return retry_at is not None and time.monotonic() < retry_at

    def call(self, operation, *args, **kwargs):
        """operation(*args, **kwargs), or CacheDown without asking, or CacheDown on its error."""
        if not self._may_ask():
            raise CacheDown(f"{self.name} not asked, it failed just now ({self._reason})")
        try:
            result = operation(*args, **kwargs)
        except CACHE_ERRORS as error:
            reason = f"{type(error).__name__}: {error}"
            self.failed(reason)
            raise CacheDown(reason) from error
        if self._retry_at is not None:
            self._answered()
        return result

    def failed(self, reason):
        """Stop asking for CACHE_BREAKER_SECONDS; also for a backend that swallowed its error
        and answered nothing where it must have answered (verification.limits sees that)."""
        with self._lock:
            opening = self._retry_at is None
            self._retry_at = time.monotonic() + settings.CACHE_BREAKER_SECONDS
            self._reason = reason[:200]
        if opening:
            logger.warning(
                "The %s failed (%s); not asked for %s s: pages uncached, limits per their table.",
                self.name,
                reason[:200],
                settings.CACHE_BREAKER_SECONDS,
            )

    def reset(self):
        with self._lock:
            self._retry_at = None

    def _may_ask(self):
        if self._retry_at is None:
            return True
        with self._lock:
            now = time.monotonic()
            if self._retry_at is None:
                return True
            if now < self._retry_at:
                return False
            # This call asks; the others wait for its answer as if the time were not up.
            self._retry_at = now + settings.CACHE_BREAKER_SECONDS
            return True

    def _answered(self):
        with self._lock:
            if self._retry_at is None:
                return
            self._retry_at = None
        logger.warning("The %s answers again.", self.name)


# Redis (or the embedded cache) that every worker shares: the limits' and the pages' store.
shared_cache = Breaker("shared cache")
