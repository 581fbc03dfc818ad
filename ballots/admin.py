from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.signals import user_logged_in
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.dispatch import receiver
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from reforms.admin import ReformAdmin
from reforms.models import Reform

from . import export
from .models import Ballot, Choice, Poll, PollStatus, VoidReason
from .tally import audit


@receiver(user_logged_in)
def end_staff_sessions_with_the_browser(sender, request, user, **kwargs):
    # Only staff log in. Their session ends when the browser closes, and at the latest after
    # SESSION_COOKIE_AGE (a working day): an office computer left on does not stay signed in.
    request.session.set_expiry(0)


# --- Entries, with their votes ---------------------------------------------------------------


class ReformWithVotesAdmin(ReformAdmin):
    """The entries list plus counted votes. Defined here: reforms knows nothing of ballots."""

    list_display = [*ReformAdmin.list_display, "votes"]

    def get_queryset(self, request):
        counted = (
            Choice.objects.filter(reform=OuterRef("pk"), ballot__voided_at__isnull=True)
            .order_by()
            .values("reform")
            .annotate(votes=Count("pk"))
            .values("votes")
        )
        # A subquery in the page's one query, not a count per row.
        return super().get_queryset(request).annotate(votes=Coalesce(Subquery(counted), 0))

    @admin.display(description=_("有效票数"), ordering="votes")
    def votes(self, reform):
        return reform.votes


admin.site.unregister(Reform)
admin.site.register(Reform, ReformWithVotesAdmin)


# --- Polls -------------------------------------------------------------------------------------


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
        (_("时间"), {"fields": ["opens_at", "closes_at"]}),
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
        (_("状态"), {"fields": ["status_display", "ballot_counts", "closed_at", "closed_by"]}),
        (_("计票"), {"fields": ["tally_table"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        fields = ["status_display", "ballot_counts", "closed_at", "closed_by", "tally_table"]
        if obj is not None and obj.status != PollStatus.SCHEDULED:
            # Once citizens are voting, the rules they vote under stay as they were.
            fields += [
                "slug",
                "opens_at",
                "reforms",
                "max_choices",
                "require_id_number",
                "id_region_prefixes",
            ]
        if obj is not None and obj.status == PollStatus.CLOSED:
            # Closing is final: no new closing time can reopen the poll.
            fields += ["closes_at", "results_visible_while_open"]
        return fields

    def get_fieldsets(self, request, obj=None):
        if obj is None:  # adding: no status, counts or tally yet
            return self.fieldsets[:3]
        return self.fieldsets

    @admin.display(description=_("状态"))
    def status_display(self, poll):
        return poll.status_label

    @admin.display(description=_("有效选票"))
    def ballots_counted(self, poll):
        return poll.counted_ballots

    @admin.display(description=_("已作废"), ordering="voided_count")
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
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}、{}</td><td>{}</td><td>{}</td><td>{}</td>"
            '<td><progress max="100" value="{}" aria-hidden="true"></progress></td></tr>',
            (
                (
                    row.rank,
                    row.reform.numeral,
                    row.reform.title,
                    row.reform.unit,
                    row.votes,
                    f"{row.share:.2%}",
                    f"{row.share * 100:.2f}",
                )
                for row in result.rows
            ),
        )
        return format_html(
            '<table class="tally"><thead><tr><th scope="col">{}</th><th scope="col">{}</th>'
            '<th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th>'
            '<th scope="col">{}</th></tr></thead><tbody>{}</tbody></table>'
            "<p>{}</p>{}",
            _("名次"),
            _("参评经验"),
            _("单位"),
            _("票数"),
            _("占比"),
            _("得票比例"),
            rows,
            _("有效票数%(votes)d；已作废的选票不计入。") % {"votes": result.votes},
            format_html(
                '<p class="errornote">{}</p>',
                _("计数核对不一致，请联系技术人员运行 manage.py check_tally。"),
            )
            if mismatch
            else "",
        )

    # Close and export: their own pages, each checking its permission.

    def has_close_permission(self, request, obj=None):
        return request.user.has_perm("ballots.close_poll")

    def has_export_permission(self, request, obj=None):
        return request.user.has_perm("ballots.export_tally")

    def get_urls(self):
        own = [
            path(
                "<int:object_id>/close/",
                self.admin_site.admin_view(self.close_view),
                name="ballots_poll_close",
            ),
            path(
                "<int:object_id>/export/tally.csv",
                self.admin_site.admin_view(self.export_tally_view),
                name="ballots_poll_export_tally",
            ),
            path(
                "<int:object_id>/export/ballots.csv",
                self.admin_site.admin_view(self.export_ballots_view),
                name="ballots_poll_export_ballots",
            ),
        ]
        return own + super().get_urls()

    def render_change_form(self, request, context, *args, **kwargs):
        context["can_close"] = self.has_close_permission(request)
        context["can_export"] = self.has_export_permission(request)
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


# --- Ballots -----------------------------------------------------------------------------------


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
    """The hour of day (Beijing time): bursts at 3 a.m. are how ballot stuffing shows."""

    title = _("投票时段")
    parameter_name = "hour"

    def lookups(self, request, model_admin):
        return [(str(hour), f"{hour:02d}:00–{hour:02d}:59") for hour in range(24)]

    def queryset(self, request, queryset):
        if self.value() in {str(hour) for hour in range(24)}:
            return queryset.filter(cast_at__hour=int(self.value()))
        return queryset


class VoidForm(forms.Form):
    reason = forms.ChoiceField(label=_("作废原因"), choices=VoidReason.choices)
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

    list_display = [
        "receipt",
        "poll",
        "cast_at",
        "phone_masked",
        "network",
        "status",
        "void_reason",
    ]
    list_filter = ["poll", StatusFilter, HourFilter]
    list_select_related = ["poll"]
    date_hierarchy = "cast_at"
    search_fields = ["receipt"]
    search_help_text = _("输入回执编号查找（可含连字符）")
    actions = ["void_ballots"]
    fields = [
        "receipt",
        "poll",
        "cast_at",
        "phone_masked",
        "network",
        "chosen",
        "voided_at",
        "voided_by",
        "void_reason",
        "void_note",
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

    def get_search_results(self, request, queryset, search_term):
        # Receipts are shown as ABCD-EFGH-JKMN; staff type them as they read them.
        normalised = search_term.replace("-", "").replace(" ", "").upper()
        return super().get_search_results(request, queryset, normalised)

    @admin.display(description=_("状态"))
    def status(self, ballot):
        return _("已作废") if ballot.is_voided else _("有效")

    @admin.display(description=_("所选经验"))
    def chosen(self, ballot):
        return "；".join(str(choice.reform) for choice in ballot.choices.select_related("reform"))

    @admin.action(permissions=["void"], description=_("作废所选选票"))
    def void_ballots(self, request, queryset):
        # "Select all" across pages is carried to the confirmation as select_across plus the
        # list's filters in the address, not as thousands of ids: a stuffing wave is large.
        select_across = request.POST.get("select_across") == "1"
        form = VoidForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            reason = form.cleaned_data["reason"]
            note = form.cleaned_data["note"].strip()
            voided = queryset.void(by=request.user, reason=reason, note=note)
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
