import logging
import math

from django.apps import apps
from django.conf import settings
from django.core.cache import caches
from django.db import DatabaseError, connection
from django.http import HttpResponse, HttpResponseRedirect, HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.utils.translation import get_language
from django.views.decorators.http import require_safe

from .cache_breaker import CacheDown, shared_cache
from .http import never_cache, next_path

logger = logging.getLogger(__name__)

TEXT_SIZE_COOKIE = "text_size"
# The language of each page, as the `lang` attribute spells it (BCP 47), and its home page.
HTML_LANG = {"zh-hans": "zh-Hans", "en": "en"}
HOME = {"zh-hans": "/", "en": "/en/"}


def _database_health():
    """None if the site's tables answer, else what failed.

    One query reads at most one row of each table a citizen's visit needs
    (settings.HEALTH_CHECK_MODELS): a database that answers "SELECT 1" but lost its tables (a
    moved SQLite file, a PostgreSQL database dropped and created again) is not healthy.
    """
    try:
        connection.ensure_connection()
    except DatabaseError as error:
        return f"database: unreachable ({_first_line(error)})"
    quote_name = connection.ops.quote_name
    tables = [
        quote_name(apps.get_model(label)._meta.db_table) for label in settings.HEALTH_CHECK_MODELS
    ]
    # Names from the models, quoted: nothing from the request.
    sql = "SELECT " + ", ".join(f"(SELECT 1 FROM {table} LIMIT 1)" for table in tables)  # noqa: S608
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            cursor.fetchone()
    except DatabaseError as error:
        return f"database: tables missing or unreadable ({_first_line(error)})"
    return None


def _first_line(error):
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


@require_safe
@never_cache
def healthz(request):
    """200 when the site's tables answer, 503 saying which part failed when they do not.

    For a load balancer: an app server whose database is gone must leave the pool. The shared
    cache is reported but never fails the check: without it the site still votes (limits per
    their table, pages uncached), and a Redis outage must not empty the pool of every server.
    It is asked through its breaker, so a hung Redis costs this check nothing most of the time.
    """
    database = _database_health()
    try:
        shared_cache.call(caches["shared"].get, "healthz")
        cache = "cache: ok"
    except CacheDown as down:
        cache = f"cache: unavailable, pages uncached and codes not sent ({down})"
    if database:
        logger.error("Health check failed: %s", database)
        body = f"unavailable\n{database}\n{cache}\n"
        return HttpResponse(body, status=503, content_type="text/plain; charset=utf-8")
    return HttpResponse(f"ok\ndatabase: ok\n{cache}\n", content_type="text/plain; charset=utf-8")


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
