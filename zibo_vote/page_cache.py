"""Whole public pages kept briefly in the shared cache: the same page for every visitor.

The entry list, the entry pages and the results show nothing personal: they are rendered once
and served from the cache for a few seconds (PUBLIC_PAGE_CACHE_SECONDS), whatever the number of
ballots and whoever asks. What keeps this safe:

- The one fact about a visitor such a page may show is named by its view (`variant`): on the
  home page, the polls they voted in (for "您已投票"). The key holds it, with everything else a
  page depends on: its path (and so its language) and the large-text setting. No page holds a
  phone, a receipt or a token, so none can show one citizen's state to another.
- A request with a query string is not cached at all, so the number of keys stays that of the
  pages, and nobody can fill the cache with made-up addresses.
- A page whose rendering used a CSRF token or set a cookie is never stored.
- Staff edits (entries, the poll, its entries, closing it, voiding a ballot), once committed,
  set a new version in the shared cache; a page stored under an older version is rendered
  afresh. Votes themselves do not, nor does the clock reaching a scheduled opening or closing
  time: then a page may be up to PUBLIC_PAGE_CACHE_SECONDS (+1) old.

Each worker also keeps the pages it served for PUBLIC_PAGE_LOCAL_SECONDS (one second) in its
own memory, so a busy page costs one trip to Redis per second per worker, not one per request.
An edit therefore reaches the worker that made it at once, and every other worker and app server
within that second.

The shared cache is asked through its breaker (zibo_vote/cache_breaker.py). When it is down or
hung, pages are rendered for each request and kept only in the worker's memory, for that one
second; an edit made meanwhile cannot set the new version, so another server may show its copy
of a page for up to PUBLIC_PAGE_CACHE_SECONDS after Redis is back.
"""

import copy
import datetime
import decimal
import logging
import time
from functools import wraps

from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django.db.models.base import ModelState
from django.http import HttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.translation import get_language

from .cache_breaker import CacheDown, shared_cache

logger = logging.getLogger(__name__)

VERSION_KEY = "public-pages:version"
local = caches["pages-local"]  # this worker's own copies (settings.CACHES)


def _ask(operation, *args):
    """A call to the shared cache ("shared": raising its errors), or None if it is out."""
    try:
        return shared_cache.call(getattr(caches["shared"], operation), *args)
    except CacheDown:
        return None


def clear_local():
    """Forget this worker's own copies: the pages and the rows `kept` holds."""
    local.clear()
    _rows.clear()


def invalidate(**kwargs):
    """Make every cached page stale.

    The version is the time of the change, not a counter: if Redis ever forgets it, the next
    version is still new, and an old page can never become current again.
    """
    clear_local()
    try:
        shared_cache.call(caches["shared"].set, VERSION_KEY, time.time_ns(), None)
    except CacheDown as down:
        logger.warning("New page version not set (%s): other servers keep their copies.", down)


def invalidate_on_commit(**kwargs):
    """Signal receiver: after the change is committed, so no page is rendered from rows that
    are about to change and then stored as current. This worker's own copies (the rows `kept`
    holds among them) go at once as well, so the request that made the change reads it."""
    clear_local()
    transaction.on_commit(invalidate)


_rows = {}  # key -> (until, a copy of the rows no request has had): what kept() holds
_IMMUTABLE = (str, int, float, bool, type(None), datetime.date, datetime.time, decimal.Decimal)


def kept(key, compute):
    """What `compute()` returns, kept PUBLIC_PAGE_LOCAL_SECONDS in this worker's memory.

    For the rows every public request reads and staff rarely change (the current poll, its
    entries): one query a second per worker instead of one per request. Staff edits clear
    it with the pages (invalidate_on_commit), at once in the worker that made them and within
    the second in every other, which is what the pages already promise. Each call gets its own
    copy, so nothing one request caches on an object reaches the next (copy_rows()).
    Nothing here decides a ballot: casting reads the poll and its entries again under the lock.
    """
    now = time.monotonic()
    found = _rows.get(key)
    if found is not None and found[0] > now:
        return copy_rows(found[1])
    rows = compute()
    if len(_rows) >= 200:  # a bound: the keys are the polls', a handful
        _rows.clear()
    _rows[key] = (now + settings.PUBLIC_PAGE_LOCAL_SECONDS, copy_rows(rows))
    return rows


def copy_rows(rows):
    """A model instance, a list of them, or None, as new instances: their field values are
    shared only if none can be changed in place (str, int, dates…; a dict of those is copied),
    otherwise the instance is deep-copied. Related rows cached on an instance
    (`select_related`) are not copied: a copy reads them again. Unpickling each time, as a
    cache does, cost about 0.1 ms a request for the entries."""
    if rows is None:
        return None
    if isinstance(rows, list):
        return [copy_rows(row) for row in rows]
    values = {}
    for name, value in rows.__dict__.items():
        if name == "_state" or isinstance(value, _IMMUTABLE):
            continue
        if type(value) is dict and all(isinstance(v, _IMMUTABLE) for v in value.values()):
            values[name] = dict(value)  # Poll's record of its guarded fields as loaded
            continue
        return copy.deepcopy(rows)
    copied = rows.__class__.__new__(rows.__class__)
    copied.__dict__.update(rows.__dict__)
    copied.__dict__.update(values)
    copied._state = ModelState()
    copied._state.db, copied._state.adding = rows._state.db, rows._state.adding
    return copied


def _cacheable(request, response):
    return (
        response.status_code == 200
        and not response.streaming
        and not response.cookies
        # A CSRF token in the page belongs to one visitor.
        and not request.META.get("CSRF_COOKIE_NEEDS_UPDATE")
    )


def _page(content, content_type):
    response = HttpResponse(content, content_type=content_type)
    patch_vary_headers(response, ["Cookie"])
    return response


def public_page(view=None, *, variant=None):
    """Serve the view's page from the cache. `variant(request)` names the only thing about the
    visitor that changes the page (on the home page: whether they voted); without it, the page
    is the same for everyone, with or without a session."""
    if view is None:
        return lambda view: public_page(view, variant=variant)

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if (
            not settings.PUBLIC_PAGE_CACHE_SECONDS
            or request.method not in ("GET", "HEAD")
            or request.GET
        ):
            response = view(request, *args, **kwargs)
            patch_vary_headers(response, ["Cookie"])
            return response

        large = request.COOKIES.get("text_size") == "large"
        kind = variant(request) if variant else ""
        key = f"public-page:{get_language()}:{int(large)}:{kind}:{request.path}"
        mine = local.get(key)
        if mine is not None:
            return _page(*mine)

        found = _ask("get_many", [VERSION_KEY, key])  # one round trip for both
        version = (found or {}).get(VERSION_KEY, 0)
        stored = (found or {}).get(key)
        if stored is not None and stored[0] == version:
            page = stored[1:]
            response = _page(*page)
        else:
            response = view(request, *args, **kwargs)
            patch_vary_headers(response, ["Cookie"])
            if not _cacheable(request, response):
                return response
            page = (response.content, response["Content-Type"])
            if found is not None:  # not when the shared cache is out: the version is unknown
                _ask("set", key, (version, *page), settings.PUBLIC_PAGE_CACHE_SECONDS)
        local.set(key, page, settings.PUBLIC_PAGE_LOCAL_SECONDS)
        return response

    return wrapper
