"""The public record on the poll's admin page: its checkpoints and the closing package.

Defined here, on top of ballots' PollAdmin, as ballots' entries admin extends reforms': ballots
knows nothing of the record.
"""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import path
from django.utils.translation import gettext_lazy as _

from ballots.admin.polls import PollAdmin
from ballots.models import Poll

from .models import ClosingPackage, Log
from .publish import next_checkpoint_due
from .views import package_response

SHOWN = 24


class PollWithRecordAdmin(PollAdmin):
    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        return [*fieldsets, (_("公开记录"), {"fields": ["record_checkpoints"]})]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "record_checkpoints"]

    @admin.display(description=_("检查点"))
    def record_checkpoints(self, poll):
        log = Log.objects.filter(poll=poll).first()
        checkpoints = log.checkpoints.order_by("-number")[:SHOWN] if log else []
        package = ClosingPackage.objects.filter(log=log).first() if log else None
        return render_to_string(
            "admin/record/poll_record.html",
            {
                "poll": poll,
                "log": log,
                "checkpoints": checkpoints,
                "shown": SHOWN,
                "package": package,
                "next_due": next_checkpoint_due(),
            },
        )

    def get_urls(self):
        own = [
            path(
                "<int:object_id>/record/package.zip",
                self.admin_site.admin_view(self.package_view),
                name="record_poll_package",
            ),
        ]
        return own + super().get_urls()

    def package_view(self, request, object_id):
        if not self.has_export_permission(request):
            raise PermissionDenied
        poll = get_object_or_404(Poll, pk=object_id)
        package = ClosingPackage.objects.filter(log__poll=poll).first()
        if package is None:
            raise Http404
        self.log_change(request, poll, _("下载公开记录包"))
        return package_response(package)


admin.site.unregister(Poll)
admin.site.register(Poll, PollWithRecordAdmin)
