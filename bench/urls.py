"""The site's own URLs plus the benchmark's yardstick (bench/settings.py selects this module)."""

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.http import require_safe

from zibo_vote import urls as site

handler500 = site.handler500


@require_safe
def baseline(request):
    """A fixed string through the same middleware as every page: what a page is measured against."""
    return HttpResponse("ok\n", content_type="text/plain")


urlpatterns = [path("bench/baseline", baseline), *site.urlpatterns]
