from django.conf import settings
from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from . import views

handler500 = "zibo_vote.views.server_error"

admin.site.site_header = _("淄博市改革创新经验评选 管理")
admin.site.site_title = _("淄博市改革创新经验评选 管理")
admin.site.index_title = _("管理首页")

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("text-size/", views.text_size, name="text_size"),
    path(settings.ADMIN_PATH, admin.site.urls),
]

# The public pages in Chinese at the addresses in the contract (/, /verify/, …), whatever the
# browser's language; in English under /en/ (/en/, /en/verify/, …).
urlpatterns += i18n_patterns(
    path("", include("ballots.urls")),
    path("reforms/", include("reforms.urls")),
    path("", include("record.urls")),
    prefix_default_language=False,
)
