from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from . import views

admin.site.site_header = _("淄博市改革创新经验评选 管理")
admin.site.site_title = _("淄博市改革创新经验评选 管理")
admin.site.index_title = _("管理首页")

urlpatterns = [
    path("", include("ballots.urls")),
    path("reforms/", include("reforms.urls")),
    path("healthz", views.healthz, name="healthz"),
    path(settings.ADMIN_PATH, admin.site.urls),
]
