"""The ballot list: read-only evidence, filtered for fraud review, voided with a reason.

Staff see who may have voted how often from where, never how anyone voted: no page or export
here shows a ballot's choices or its receipt (a receipt leads to the choices in the public
record). P5 of docs/record.md.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from ..models import Ballot, Poll, PollCertified, VoidReason


class StatusFilter(admin.SimpleListFilter):
    title = _("状态")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("counted", _("有效")), ("voided", _("已作废"))]

    def queryset(self, request, queryset):
        if self.value() == "counted":
            return queryset.filter(voided_at__isnull=True)
        if self.value() == "voided":
            return queryset.filter(voided_at__isnull=False)
        return queryset


class HourFilter(admin.SimpleListFilter):
    """The time of day (Beijing time) in four periods: bursts at 3 a.m. are how ballot stuffing
    shows, and 凌晨 holds them. Four choices, not twenty-four hours, keep the sidebar short; the
    date above the list (date_hierarchy) narrows to a day, and the review page finds bursts."""

    title = _("投票时段")
    parameter_name = "hour"
    PERIODS = {
        "0-6": (0, 6, _("凌晨 00:00–05:59")),
        "6-12": (6, 12, _("上午 06:00–11:59")),
        "12-18": (12, 18, _("下午 12:00–17:59")),
        "18-24": (18, 24, _("晚上 18:00–23:59")),
    }

    def lookups(self, request, model_admin):
        return [(key, label) for key, (_start, _end, label) in self.PERIODS.items()]

    def queryset(self, request, queryset):
        if self.value() in self.PERIODS:
            start, end, _label = self.PERIODS[self.value()]
            return queryset.filter(cast_at__hour__gte=start, cast_at__hour__lt=end)
        return queryset


class ClusterFilter(admin.SimpleListFilter):
    """The ballots of one flag of the review page (ballots.review): ?cluster=POLL:ID."""

    title = _("可疑群组")
    parameter_name = "cluster"

    def _cluster(self):
        from .. import review
        from ..models import Poll

        poll_id, _sep, cluster_id = (self.value() or "").partition(":")
        poll = Poll.objects.filter(pk=int(poll_id)).first() if poll_id.isdigit() else None
        return poll, review.find_cluster(poll, cluster_id) if poll else None

    def lookups(self, request, model_admin):
        if self.value():
            return [(self.value(), _("审核页面所列群组"))]
        return []

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        poll, cluster = self._cluster()
        if cluster is None:
            return queryset.none()
        return queryset.filter(poll=poll, voided_at__isnull=True).filter(cluster.q())


class VoidForm(forms.Form):
    # A blank first choice: the clerk picks the reason; none is preselected for them.
    reason = forms.ChoiceField(
        label=_("作废原因"),
        choices=[("", "---------"), *VoidReason.choices],
        error_messages={"required": _("请选择作废原因。")},
    )
    note = forms.CharField(
        label=_("作废说明"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text=_("写明依据，例如核查的情况。原因为“其他”时必须填写。"),
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("reason") == VoidReason.OTHER and not cleaned.get("note", "").strip():
            self.add_error("note", _("原因为“其他”时，请填写说明。"))
        return cleaned


@admin.register(Ballot)
class BallotAdmin(admin.ModelAdmin):
    """Ballots are evidence: nobody adds, edits or deletes one here, superusers included.

    The one change allowed is voiding, with a reason, by whom and when, in the admin log.
    """

    # Fits 1280 px beside the two sidebars without scrolling sideways (tests/test_browser.py):
    # the status and reason share one column (the batch is on the ballot's page), and the poll
    # shows only when there are two.
    list_display = [
        "__str__",
        "poll",
        "cast_time",
        "phone_masked",
        "network",
        "ua_family",
        "status",
    ]
    list_filter = ["poll", StatusFilter, HourFilter, ClusterFilter]
    list_select_related = ["poll", "voiding"]
    date_hierarchy = "cast_at"
    actions = ["void_ballots"]
    fields = [
        "poll",
        "cast_at",
        "phone_masked",
        "network",
        "ua_family",
        "seconds_from_code",
        "voided_at",
        "voided_by",
        "void_reason",
        "void_note",
        "voiding",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_void_permission(self, request):
        return request.user.has_perm("ballots.void_ballot")

    def get_list_display(self, request):
        shown = super().get_list_display(request)
        if Poll.objects.count() < 2:
            return [name for name in shown if name != "poll"]
        return shown

    @admin.display(description=_("投票时间"), ordering="cast_at")
    def cast_time(self, ballot):
        return date_format(timezone.localtime(ballot.cast_at), "Y-m-d H:i:s")

    @admin.display(description=_("状态"))
    def status(self, ballot):
        if not ballot.is_voided:
            return _("有效")
        # The batch (voiding) is on the ballot's own page.
        return _("已作废：%(reason)s") % {"reason": VoidReason(ballot.void_reason).label}

    @admin.action(permissions=["void"], description=_("作废所选选票"))
    def void_ballots(self, request, queryset):
        # "Select all" across pages is carried to the confirmation as select_across plus the
        # list's filters in the address, not as thousands of ids: a stuffing wave is large.
        select_across = request.POST.get("select_across") == "1"
        form = VoidForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            reason = form.cleaned_data["reason"]
            note = form.cleaned_data["note"].strip()
            try:
                voided = queryset.void(by=request.user, reason=reason, note=note)
            except PollCertified as refused:
                self.message_user(
                    request,
                    gettext("“%(poll)s”的最终结果已经确认，选票不能再作废。")
                    % {"poll": refused.poll},
                    messages.ERROR,
                )
                return None
            message = gettext("作废：%(reason)s。%(note)s") % {
                "reason": VoidReason(reason).label,
                "note": note,
            }
            LogEntry.objects.log_actions(
                request.user.pk, Ballot.objects.filter(pk__in=voided), CHANGE, message
            )
            self.message_user(
                request,
                ngettext(
                    "已作废%(count)d张选票，不再计入结果。",
                    "已作废%(count)d张选票，不再计入结果。",
                    len(voided),
                )
                % {"count": len(voided)},
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("作废选票"),
            "opts": self.opts,
            "count": queryset.count(),
            "sample": queryset.select_related("poll")[:50],
            "select_across": select_across,
            "selected_ids": [] if select_across else request.POST.getlist("_selected_action"),
            "form": form,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/ballots/ballot/void_confirmation.html", context)
