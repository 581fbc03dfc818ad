"""The poll's page: rules, status and tally; closing, certifying and exporting, each on a page of
its own."""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .. import export, export_xlsx
from ..models import Poll, PollNotClosed, PollStatus
from ..tally import audit
from . import review


class PollAdminForm(forms.ModelForm):
    class Meta:
        model = Poll
        fields = [
            "title",
            "slug",
            "intro",
            "reforms",
            "opens_at",
            "closes_at",
            "max_choices",
            "require_id_number",
            "id_region_prefixes",
            "results_visible_while_open",
            "publicity_ends_at",
        ]

    # A closing time must leave citizens this long, so that setting one is a schedule, never a
    # way to close the poll at once without the lock, the confirmation and the record of who.
    CLOSING_NOTICE = timedelta(minutes=10)

    def clean(self):
        cleaned = super().clean()
        for name in ("opens_at", "closes_at"):
            moment = cleaned.get(name)
            if moment is not None and not 2000 <= moment.year <= 2100:
                self.add_error(name, _("请填写2000年至2100年之间的时间。"))
        closes_at = cleaned.get("closes_at")
        if (
            "closes_at" in self.changed_data
            and closes_at is not None
            and closes_at < timezone.now() + self.CLOSING_NOTICE
        ):
            self.add_error(
                "closes_at",
                _(
                    "截止时间须至少在10分钟之后。如需立即结束投票，请使用页面右上方的"
                    "“结束投票”按钮。"
                ),
            )
        publicity_ends_at = cleaned.get("publicity_ends_at")
        if publicity_ends_at is not None:
            if not 2000 <= publicity_ends_at.year <= 2100:
                self.add_error("publicity_ends_at", _("请填写2000年至2100年之间的时间。"))
            ended = self.instance.ended_at if self.instance.pk else None
            closes_at = cleaned.get("closes_at") or ended
            if closes_at is not None and publicity_ends_at <= closes_at:
                self.add_error("publicity_ends_at", _("公示期截止时间必须晚于投票截止时间。"))
        reforms = cleaned.get("reforms")
        max_choices = cleaned.get("max_choices")
        if reforms is not None and max_choices and max_choices > len(reforms):
            self.add_error(
                "max_choices",
                _("每张选票最多可选%(max)d项，但本次投票只有%(count)d项参评经验。")
                % {"max": max_choices, "count": len(reforms)},
            )
        return cleaned


@admin.register(Poll)
class PollAdmin(admin.ModelAdmin):
    form = PollAdminForm
    list_display = [
        "title",
        "status_display",
        "ballots_counted",
        "ballots_voided",
        "opens_at",
        "closes_at",
        "closed_at",
    ]
    search_fields = ["title", "slug"]
    filter_horizontal = ["reforms"]
    actions = ["close_selected"]
    fieldsets = [
        (None, {"fields": ["title", "slug", "intro", "reforms"]}),
        (_("时间"), {"fields": ["opens_at", "closes_at", "publicity_ends_at"]}),
        (
            _("规则"),
            {
                "fields": [
                    "max_choices",
                    "require_id_number",
                    "id_region_prefixes",
                    "results_visible_while_open",
                ]
            },
        ),
        (
            _("状态"),
            {
                "fields": [
                    "status_display",
                    "ballot_counts",
                    "closed_at",
                    "closed_by",
                    "certified_at",
                    "certified_by",
                    "personal_data_purged_at",
                ]
            },
        ),
        (_("计票"), {"fields": ["tally_table"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).with_counts()  # the list's counts in its query

    def get_readonly_fields(self, request, obj=None):
        fields = [
            "status_display",
            "ballot_counts",
            "closed_at",
            "closed_by",
            "certified_at",
            "certified_by",
            "personal_data_purged_at",
            "tally_table",
        ]
        if obj is not None and obj.status != PollStatus.SCHEDULED:
            # Once citizens are voting, the rules they vote under stay as they were.
            fields += [
                "slug",
                "opens_at",
                "reforms",
                "max_choices",
                "require_id_number_text",
                "id_region_prefixes",
            ]
        if obj is not None and obj.has_ended:
            # Closing is final: no new closing time can reopen the poll.
            fields += ["closes_at", "results_visible_text"]
        if obj is not None and obj.is_certified:
            # The 公示期 is over once the result is certified.
            fields += ["publicity_ends_at"]
        return fields

    def get_fieldsets(self, request, obj=None):
        if obj is None:  # adding: no status, counts or tally yet
            return self.fieldsets[:3]
        # A rule that can no longer change reads 是/否 in words, not Django's red ✖ icon (which
        # reads as an error to a clerk).
        shown = {}
        if obj.status != PollStatus.SCHEDULED:
            shown["require_id_number"] = "require_id_number_text"
        if obj.has_ended:
            shown["results_visible_while_open"] = "results_visible_text"
        return [
            (name, {**options, "fields": [shown.get(f, f) for f in options["fields"]]})
            for name, options in self.fieldsets
        ]

    @admin.display(description=_("需填写身份证号码"))
    def require_id_number_text(self, poll):
        return _("是") if poll.require_id_number else _("否")

    @admin.display(description=_("投票期间公开结果"))
    def results_visible_text(self, poll):
        return _("是") if poll.results_visible_while_open else _("否")

    @admin.display(description=_("状态"))
    def status_display(self, poll):
        return poll.status_label

    @admin.display(description=_("有效选票"))
    def ballots_counted(self, poll):
        return poll.counted_ballots

    @admin.display(description=_("已作废"), ordering="voided_total")
    def ballots_voided(self, poll):
        return poll.voided_count

    @admin.display(description=_("选票"))
    def ballot_counts(self, poll):
        return _("有效%(counted)d张，已作废%(voided)d张") % {
            "counted": poll.counted_ballots,
            "voided": poll.voided_count,
        }

    @admin.display(description=_("各项得票"))
    def tally_table(self, poll):
        # Staff see the count of the ballots themselves, checked against the running counts.
        result, mismatch = audit(poll)
        return render_to_string(
            "admin/ballots/poll/tally_table.html", {"result": result, "mismatch": mismatch}
        )

    # Close and export: their own pages, each checking its permission.

    def has_close_permission(self, request, obj=None):
        return request.user.has_perm("ballots.close_poll")

    def has_export_permission(self, request, obj=None):
        return request.user.has_perm("ballots.export_tally")

    def has_certify_permission(self, request, obj=None):
        return request.user.has_perm("ballots.certify_poll")

    def get_urls(self):
        own = [
            path(
                "<int:object_id>/close/",
                self.admin_site.admin_view(self.close_view),
                name="ballots_poll_close",
            ),
            path(
                "<int:object_id>/certify/",
                self.admin_site.admin_view(self.certify_view),
                name="ballots_poll_certify",
            ),
            path(
                "<int:object_id>/export/tally.csv",
                self.admin_site.admin_view(self.export_tally_view),
                name="ballots_poll_export_tally",
            ),
            path(
                "<int:object_id>/export/tally.xlsx",
                self.admin_site.admin_view(self.export_tally_xlsx_view),
                name="ballots_poll_export_tally_xlsx",
            ),
            path(
                "<int:object_id>/export/ballots.csv",
                self.admin_site.admin_view(self.export_ballots_view),
                name="ballots_poll_export_ballots",
            ),
            path(
                "<int:object_id>/review/",
                self.admin_site.admin_view(self.review_view),
                name="ballots_poll_review",
            ),
        ]
        return own + super().get_urls()

    def has_review_permission(self, request, obj=None):
        return request.user.has_perm("ballots.void_ballot")

    def review_view(self, request, object_id):
        poll = self._poll_or_403(request, object_id, self.has_review_permission)
        return review.review_view(self, request, poll)

    def render_change_form(self, request, context, *args, **kwargs):
        context["can_close"] = self.has_close_permission(request)
        context["can_export"] = self.has_export_permission(request)
        context["can_certify"] = self.has_certify_permission(request)
        context["can_review"] = self.has_review_permission(request)
        return super().render_change_form(request, context, *args, **kwargs)

    def _poll_or_403(self, request, object_id, allowed):
        if not allowed(request):
            raise PermissionDenied
        return get_object_or_404(Poll, pk=object_id)

    def close_view(self, request, object_id):
        poll = self._poll_or_403(request, object_id, self.has_close_permission)
        change_url = reverse("admin:ballots_poll_change", args=[poll.pk])
        if request.method == "POST":
            if poll.close(by=request.user):
                self.log_change(request, poll, _("结束投票"))
                self.message_user(request, _("投票已结束，此后提交的选票一律不予接受。"))
            else:
                self.message_user(request, _("该投票此前已经结束，未作改动。"), messages.WARNING)
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": _("结束投票"),
            "opts": self.opts,
            "poll": poll,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/ballots/poll/close_confirmation.html", context)

    def certify_view(self, request, object_id):
        poll = self._poll_or_403(request, object_id, self.has_certify_permission)
        change_url = reverse("admin:ballots_poll_change", args=[poll.pk])
        if request.method == "POST":
            try:
                certified_now = poll.certify(by=request.user)
            except PollNotClosed:
                self.message_user(request, _("投票尚未结束，不能确认最终结果。"), messages.ERROR)
                return HttpResponseRedirect(change_url)
            if certified_now:
                self.log_change(request, poll, _("确认最终结果"))
                self.message_user(
                    request, _("最终结果已确认并写入公开记录，此后计票结果不再变动。")
                )
            else:
                self.message_user(
                    request, _("该投票的最终结果此前已经确认，未作改动。"), messages.WARNING
                )
            return HttpResponseRedirect(change_url)
        ends = poll.publicity_ends_at
        context = {
            **self.admin_site.each_context(request),
            "title": _("确认最终结果"),
            "opts": self.opts,
            "poll": poll,
            "change_url": change_url,
            "result": audit(poll)[0] if poll.has_ended else None,
            "publicity_running": ends is not None and timezone.now() < ends,
            "later_voidings": (
                poll.voidings.filter(at__gte=poll.ended_at) if poll.has_ended else []
            ),
        }
        return TemplateResponse(request, "admin/ballots/poll/certify_confirmation.html", context)

    def _export(self, request, object_id, lines, kind, message):
        poll = self._poll_or_403(request, object_id, self.has_export_permission)
        moment = export.export_moment()
        response = StreamingHttpResponse(
            lines(poll, moment), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = (
            f'attachment; filename="{export.filename(poll, kind, moment)}"'
        )
        self.log_change(request, poll, message)
        return response

    def export_tally_view(self, request, object_id):
        return self._export(
            request, object_id, export.tally_lines, "tally", _("导出计票结果（CSV）")
        )

    def export_tally_xlsx_view(self, request, object_id):
        # The same permission as the CSV: it holds the same tally, and counts of ballots only.
        poll = self._poll_or_403(request, object_id, self.has_export_permission)
        moment = export.export_moment()
        response = HttpResponse(
            export_xlsx.tally_workbook(poll, moment), content_type=export_xlsx.CONTENT_TYPE
        )
        response["Content-Disposition"] = (
            f'attachment; filename="{export.filename(poll, "tally", moment, "xlsx")}"'
        )
        self.log_change(request, poll, _("导出计票结果（Excel）"))
        return response

    def export_ballots_view(self, request, object_id):
        return self._export(
            request, object_id, export.ballot_lines, "ballots", _("导出选票明细（CSV）")
        )

    @admin.action(permissions=["close"], description=_("结束所选投票"))
    def close_selected(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("请一次只选择一个投票活动。"), messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:ballots_poll_close", args=[queryset.get().pk]))
