import ipaddress
import logging

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.http import HttpResponseBadRequest

logger = logging.getLogger(__name__)


class ClientAddressMiddleware:
    """Take the client's address from the reverse proxy's header, and only when configured.

    Behind nginx every request arrives from the proxy; without this, rate limits and fraud
    review would see one address for the whole city. The header is believed only from the
    addresses in DJANGO_TRUSTED_PROXIES. With DJANGO_CLIENT_IP_HEADER unset the middleware
    removes itself, so a header a client sends on its own changes nothing.
    """

    def __init__(self, get_response):
        if not settings.CLIENT_IP_HEADER:
            raise MiddlewareNotUsed
        self.get_response = get_response
        self.meta_key = "HTTP_" + settings.CLIENT_IP_HEADER.upper().replace("-", "_")
        try:
            self.proxies = [
                ipaddress.ip_network(proxy, strict=False) for proxy in settings.TRUSTED_PROXIES
            ]
        except ValueError as error:
            raise ImproperlyConfigured(f"DJANGO_TRUSTED_PROXIES: {error}") from None
        self.warned = False

    def _from_proxy(self, address):
        try:
            peer = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(peer in network for network in self.proxies)

    def __call__(self, request):
        if self._from_proxy(request.META.get("REMOTE_ADDR", "")):
            # The right-most entry is the one our own proxy wrote; anything left of it came
            # from the client or from proxies we do not control.
            reported = request.META.get(self.meta_key, "").rsplit(",", 1)[-1].strip()
            try:
                request.META["REMOTE_ADDR"] = str(ipaddress.ip_address(reported))
            except ValueError:
                if not self.warned:  # once per worker: a misconfigured proxy, not an event
                    self.warned = True
                    logger.warning(
                        "%s is missing or not an address (%r); is the proxy setting it?",
                        settings.CLIENT_IP_HEADER,
                        reported[:60],
                    )
        return self.get_response(request)


class RejectNulMiddleware:
    """A NUL character in the query string is answered 400 at once.

    No address of the site uses one; PostgreSQL refuses it in text, so an admin filter or
    search given `?unit=%00` would otherwise end in a database error.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "%00" in request.META.get("QUERY_STRING", ""):
            return HttpResponseBadRequest("NUL in query string\n", content_type="text/plain")
        return self.get_response(request)
