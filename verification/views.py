import logging
import math

from django.shortcuts import render

logger = logging.getLogger(__name__)


def rate_limited(request, exception):
    """RATELIMIT_VIEW: a refusal by the limits becomes a Chinese 429 page.

    Retry-After is the real time left in the limit's window (limits.Limited.retry_after),
    not a fixed minute: an hour-long limit says so.
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
