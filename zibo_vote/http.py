"""Request helpers every app may use: where a request came from, and where it may go next."""

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.http import url_has_allowed_host_and_scheme
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


def url_context():
    """What reversing and resolving a path depend on besides the path: the active language
    (the /en/ prefix, translated patterns), where the site is mounted, and the URLconf. The
    key of the answers kept below and in context_processors."""
    return get_language(), get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF


def path_to(view_name):
    """reverse(view_name) of a view that takes no arguments, kept: the views ask for the same
    few paths on every request, and reverse() walks the URLconf each time (about 0.01 ms)."""
    return _path_to(view_name, *url_context())


@lru_cache(maxsize=64)
def _path_to(view_name, language, script_prefix, urlconf):
    return reverse(view_name, urlconf=urlconf)
