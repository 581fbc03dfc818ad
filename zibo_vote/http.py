"""Request helpers every app may use: where a request came from, and where it may go next."""

from django.utils.http import url_has_allowed_host_and_scheme


def client_ip(request):
    """The client's address as the server trusts it (REMOTE_ADDR, set by the proxy layer:
    zibo_vote.middleware.ClientAddressMiddleware)."""
    return request.META.get("REMOTE_ADDR", "")


def local_path(target, fallback):
    """`target` if it is a path on this site ("/vote/"), else `fallback`: never another site."""
    if target.startswith("/") and url_has_allowed_host_and_scheme(target, allowed_hosts=None):
        return target
    return fallback
