import ipaddress
import logging

import csp.constants
import csp.middleware
import csp.utils
from django.conf import settings
from django.contrib.messages import middleware as messages_middleware
from django.contrib.messages import storage as messages_storage
from django.core.exceptions import (
    BadRequest,
    DisallowedHost,
    ImproperlyConfigured,
    MiddlewareNotUsed,
    SuspiciousOperation,
)
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpResponseBadRequest, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.template import loader
from django.utils import translation
from django.utils.functional import SimpleLazyObject, empty
from django.utils.translation import get_language_from_path
from simple_history.middleware import HistoryRequestMiddleware

from .views import HTML_LANG

logger = logging.getLogger(__name__)


class AdminHistoryMiddleware:
    """simple_history's middleware (which staff member made each change in the entries'
    history), on the admin's paths only. The entries are changed in admin and by management
    commands, never by a public page, and on a public page the history would name nobody (a
    citizen is not a user); there it only cost every request a context manager and two look-ups
    of a context-local (about 1 % of a citizen's flow, docs/benchmark.md)."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.with_history = HistoryRequestMiddleware(get_response)
        self.admin = "/" + settings.ADMIN_PATH

    def __call__(self, request):
        if request.path_info.startswith(self.admin):
            return self.with_history(request)
        return self.get_response(request)


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


class BadRequestMiddleware:
    """What no browser sends is answered 400 here, in one log line, before anything reads it.

    The one place that decides a request is malformed:

    - a Host that is not in DJANGO_ALLOWED_HOSTS (Django's own answer logs an ERROR with a
      traceback for every scanner that tries an IP address);
    - a NUL in the path or the query string: no address of the site uses one, and PostgreSQL
      refuses it in text, so an admin filter or search given `?unit=%00` would end in a
      database error;
    - a query string or a form body Django cannot parse: too many fields, too large, a
      multipart body without its boundary, a form in a charset other than UTF-8. (Django 5.2
      raises BadRequest for the last; its 400 page then reads the body again for its CSRF
      check and ends in a 500.)

    It comes before every middleware that reads the host or the body (security, CSRF), and
    renders the Chinese 400 page without the request's own values, which are what is wrong.
    """

    PARSE_ERRORS = (
        BadRequest,  # a form in a charset other than UTF-8
        SuspiciousOperation,  # too many fields or files, a body over the size limit
        MultiPartParserError,
        UnreadablePostError,  # the client went away mid-body
        LookupError,  # a charset Python does not know
        UnicodeError,
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        reason = self.malformed(request)
        if reason:
            logger.warning(
                "Bad request refused: %s %r from %s: %s",
                request.method,
                request.META.get("PATH_INFO", "")[:200],
                request.META.get("REMOTE_ADDR", ""),
                reason,
            )
            # In the language of the address (LocaleMiddleware has not run yet).
            language = get_language_from_path(request.path_info) or "zh-hans"
            with translation.override(language):
                page = loader.render_to_string("400.html", {"html_lang": HTML_LANG[language]})
            return HttpResponseBadRequest(page)
        return self.get_response(request)

    def malformed(self, request):
        try:
            request.get_host()
        except DisallowedHost:
            return f"host {request.META.get('HTTP_HOST', '')[:100]!r} is not allowed"
        if "%00" in request.META.get("QUERY_STRING", "") or "\x00" in request.path_info:
            return "NUL character"
        try:
            request.GET  # noqa: B018 - parsed now, so that a failure is answered here
            if request.method == "POST":
                request.POST  # noqa: B018
        except self.PARSE_ERRORS as error:
            return f"{type(error).__name__}: {str(error)[:200]}"
        return None


class MessageMiddleware(messages_middleware.MessageMiddleware):
    """Django's, with a request's message storage made when a view adds a message or a page
    shows them, not for every request: Django imports the storage class by its name and makes
    a cookie signer each time, and most of a citizen's pages neither add nor show one. A
    storage never made has nothing to store in the response."""

    def process_request(self, request):
        request._messages = SimpleLazyObject(lambda: messages_storage.default_storage(request))

    def process_response(self, request, response):
        messages = getattr(request, "_messages", None)
        if isinstance(messages, SimpleLazyObject) and messages._wrapped is empty:
            return response
        return super().process_response(request, response)


class CSPMiddleware(csp.middleware.CSPMiddleware):
    """django-csp's, with each policy header written once, not on every response.

    django-csp builds the header from the settings on every response (a deep copy of the
    policy's parts and a walk over every directive). The site's pages use no nonce and no
    per-view policy, so the header is the same every time: it is built once per process and
    kept. A response with its own policy (csp_update, csp_replace, csp_exempt…) or a page that
    used request.csp_nonce goes through django-csp unchanged.
    """

    _kept = {}  # report_only → the header, for responses with nothing of their own

    def process_response(self, request, response):
        own = any(
            getattr(response, f"_csp_{part}{ro}", None) is not None
            for part in ("config", "update", "replace", "exempt")
            for ro in ("", "_ro")
        )
        if own or getattr(request, "_csp_nonce", None) is not None or settings.DEBUG:
            return super().process_response(request, response)
        for report_only, header, setting in (
            (False, csp.constants.HEADER, "CONTENT_SECURITY_POLICY"),
            (True, csp.constants.HEADER_REPORT_ONLY, "CONTENT_SECURITY_POLICY_REPORT_ONLY"),
        ):
            if report_only not in self._kept:
                self._kept[report_only] = csp.utils.build_policy(report_only=report_only)
            policy = self._kept[report_only]
            prefixes = (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES") or ()
            if (
                policy
                and header not in response
                and not request.path_info.startswith(tuple(prefixes))
            ):
                response[header] = policy
        # As django-csp does: a nonce asked for after the header was written is an error.
        request.csp_nonce = csp.middleware.CheckableLazyObject(self._csp_nonce_post_response)
        return response


@receiver(setting_changed)
def _forget_kept_policies(setting, **kwargs):
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        CSPMiddleware._kept.clear()
