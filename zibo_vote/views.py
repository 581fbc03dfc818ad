import logging
import math

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpResponse, HttpResponseRedirect, HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.utils.translation import get_language
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .http import next_path

logger = logging.getLogger(__name__)

TEXT_SIZE_COOKIE = "text_size"
# The language of each page, as the `lang` attribute spells it (BCP 47), and its home page.
HTML_LANG = {"zh-hans": "zh-Hans", "en": "en"}
HOME = {"zh-hans": "/", "en": "/en/"}


@require_safe
@never_cache
def healthz(request):
    """200 when the database answers, 503 when it does not: what a load balancer needs to know."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        logger.exception("Health check: the database did not answer")
        return HttpResponse("database unavailable\n", status=503, content_type="text/plain")
    return HttpResponse("ok\n", content_type="text/plain")


def server_error(request):
    """handler500: the stand-alone 500 page, in the language of the page that failed."""
    language = get_language() or "zh-hans"
    context = {"html_lang": HTML_LANG.get(language, "zh-Hans"), "home": HOME.get(language, "/")}
    return HttpResponseServerError(loader.get_template("500.html").render(context))


def rate_limited(request, exception):
    """RATELIMIT_VIEW: a refusal by the limits becomes a Chinese 429 page.

    Retry-After is the real time left in the limit's window (verification.limits.Limited
    carries it), not a fixed minute: an hour-long limit says so.
    """
    retry_after = getattr(exception, "retry_after", None) or 60
    logger.info(
        "Rate limit hit: %s %s (%s, %d s left)",
        request.method,
        request.path,
        getattr(getattr(exception, "limit", None), "name", "limit"),
        retry_after,
    )
    minutes = max(1, math.ceil(retry_after / 60))
    response = render(request, "429.html", {"minutes": minutes}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


@require_safe
@never_cache
def text_size(request):
    """The large-text switch (适老化): a link, so it works without JavaScript or a form.

    Remembered in a cookie that ends with the browser session; it changes only how pages
    look, so a plain link (not a POST with a CSRF token) is enough.
    """
    response = HttpResponseRedirect(next_path(request, "/"))
    if request.GET.get("size") == "large":
        response.set_cookie(
            TEXT_SIZE_COOKIE,
            "large",
            samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
        )
    else:
        response.delete_cookie(TEXT_SIZE_COOKIE, samesite="Lax")
    return response
