"""Request helpers every app may use: where a request came from, and where it may go next."""

import ipaddress
import time
from functools import lru_cache, wraps

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.cache import add_never_cache_headers, patch_cache_control
from django.utils.http import http_date, url_has_allowed_host_and_scheme
from django.utils.translation import get_language


def parse_address(ip):
    """The address as an ipaddress object, IPv4-mapped IPv6 as the IPv4 it carries; or None.

    `::ffff:203.0.113.57` is what a server bound to `[::]` (or some proxies) reports for an
    IPv4 client. Taken as IPv6 it would fall, with every other IPv4 client, into `::/48`.
    """
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_ip(request):
    """The client's address as the server trusts it (REMOTE_ADDR, set by the proxy layer:
    zibo_vote.middleware.ClientAddressMiddleware), IPv4-mapped IPv6 as plain IPv4."""
    raw = request.META.get("REMOTE_ADDR", "")
    address = parse_address(raw)
    return str(address) if address is not None else raw


def local_path(target, fallback):
    """`target` if it is a path on this site ("/vote/"), else `fallback`: never another site.

    Anything urlsplit() cannot read (`//[`: "Invalid IPv6 URL"), with a host or a scheme
    (`//evil.example`, `/\\evil.example`), or holding a control character is not a path here.
    """
    if (
        isinstance(target, str)
        and target.startswith("/")
        and target.isprintable()
        and url_has_allowed_host_and_scheme(target, allowed_hosts=None)
    ):
        return target
    return fallback


def next_path(request, fallback):
    """Where to go next: the request's `next` (form field, else query) if it is a path on this
    site, else `fallback`. The one reading of `next` for every view and the language switch."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    return local_path(target, fallback)


def url_context(language=None):
    """What reversing and resolving a path depend on besides the path: the active language
    (the /en/ prefix, translated patterns; `language` if the caller has looked it up), where
    the site is mounted, and the URLconf. The key of the answers kept below, in
    context_processors and in the templates' kept tags."""
    return language or get_language(), get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF


def path_to(view_name):
    """reverse(view_name) of a view that takes no arguments, kept: the views ask for the same
    few paths on every request, and reverse() walks the URLconf each time (about 0.01 ms)."""
    return _path_to(view_name, *url_context())


@lru_cache(maxsize=64)
def _path_to(view_name, language, script_prefix, urlconf):
    return reverse(view_name, urlconf=urlconf)


# Django's never_cache and cache_control work the header out for each response: the header
# already there parsed with a regular expression and joined again (twice for never_cache), and
# the date written by the email module. On the citizen's pages nothing has set them before, so
# the headers are the same strings each time; a response that did set one goes through Django.
NEVER_CACHE = "max-age=0, no-cache, no-store, must-revalidate, private"  # Django's, its order
REVALIDATE = "private, no-cache, must-revalidate"
_date = (None, "")


def _now_as_http_date():
    """Expires: now, as Django's never_cache writes it; worked out once a second."""
    global _date
    second = int(time.time())
    if _date[0] != second:
        _date = (second, http_date(second))  # one tuple: a thread reads either pair whole
    return _date[1]


def never_cache(view):
    """django.views.decorators.cache.never_cache, the same headers (Expires now, Cache-Control
    max-age=0, no-cache, no-store, must-revalidate, private) for function views."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if "Cache-Control" in response or "Expires" in response:
            add_never_cache_headers(response)
        else:
            response.headers["Expires"] = _now_as_http_date()
            response.headers["Cache-Control"] = NEVER_CACHE
        return response

    return wrapper


def revalidate(view):
    """cache_control(private=True, no_cache=True, must_revalidate=True), for function views:
    a browser may keep the page for Back, but asks again before showing it anew."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if "Cache-Control" in response:
            patch_cache_control(response, private=True, no_cache=True, must_revalidate=True)
        else:
            response.headers["Cache-Control"] = REVALIDATE
        return response

    return wrapper
