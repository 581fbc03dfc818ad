"""Whole public pages kept briefly in the shared cache, for visitors with no personal state.

The entry list, the entry pages and the results are the same for every visitor who has not
verified or voted: they are rendered once and served from the cache for a few seconds
(PUBLIC_PAGE_CACHE_SECONDS), whatever the number of ballots. What keeps this safe:

- A request that carries a session cookie (a citizen who verified or voted, or staff) is never
  served from nor stored in the cache, so no page can show one citizen's state to another.
- The key holds everything else a page depends on: its address (and so its language) and the
  large-text setting.
- A page whose rendering used a CSRF token or set a cookie is never stored.
- Staff edits (entries, the poll, its entries, closing it, voiding a ballot) change a version
  number that is part of every key, so the next request renders afresh on every app server.
  Votes themselves do not: while voting is open, the counts on a page may be a few seconds old.
"""

import hashlib
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.translation import get_language

VERSION_KEY = "public-pages:version"


def invalidate(**kwargs):
    """Make every cached page stale; usable as a signal receiver."""
    try:
        cache.incr(VERSION_KEY)
    except ValueError:  # no version yet (or the cache forgot it): start one
        cache.set(VERSION_KEY, 1, None)


def _key(request):
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, 1, None)
        version = cache.get(VERSION_KEY, 1)
    large = request.COOKIES.get("text_size") == "large"
    page = hashlib.sha256(request.get_full_path().encode()).hexdigest()[:32]
    return f"public-page:{version}:{get_language()}:{int(large)}:{page}"


def public_page(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        timeout = settings.PUBLIC_PAGE_CACHE_SECONDS
        personal = settings.SESSION_COOKIE_NAME in request.COOKIES
        if not timeout or personal or request.method not in ("GET", "HEAD"):
            response = view(request, *args, **kwargs)
            patch_vary_headers(response, ["Cookie"])
            return response
        key = _key(request)
        stored = cache.get(key)
        if stored is not None:
            content, content_type = stored
            response = HttpResponse(content, content_type=content_type)
        else:
            response = view(request, *args, **kwargs)
            if (
                response.status_code == 200
                and not response.streaming
                and not response.cookies
                and not request.META.get("CSRF_COOKIE_NEEDS_UPDATE")
            ):
                cache.set(key, (response.content, response["Content-Type"]), timeout)
        patch_vary_headers(response, ["Cookie"])
        return response

    return wrapper
