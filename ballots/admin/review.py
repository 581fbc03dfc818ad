"""The review page of a poll (审核, issue 14): the charts, the top sources, the flags, and the
voiding of one flagged cluster by a person, with a reason and a note (docs/review.md)."""

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .. import review
from ..models import Ballot, PollCertified, VoidReason


class ClusterVoidForm(forms.Form):
    cluster = forms.CharField(max_length=32)
    # No reason preselected: the person chooses one.
    reason = forms.ChoiceField(
        label=_("作废原因"), choices=[("", "---------"), *VoidReason.choices]
    )
    note = forms.CharField(
        label=_("作废说明"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        error_messages={"required": _("请填写作废说明，写明核查的依据。")},
    )

    def clean_note(self):
        note = self.cleaned_data["note"].strip()
        if not note:
            raise forms.ValidationError(_("请填写作废说明，写明核查的依据。"))
        return note


def cluster_changelist_url(poll, cluster):
    query = {"poll__id__exact": poll.pk, "cluster": f"{poll.pk}:{cluster.id}"}
    return f"{reverse('admin:ballots_ballot_changelist')}?{urlencode(query)}"


def review_view(model_admin, request, poll):
    review_url = reverse("admin:ballots_poll_review", args=[poll.pk])
    form = ClusterVoidForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if form.is_valid():
            cluster = review.find_cluster(poll, form.cleaned_data["cluster"])
            if cluster is None:
                model_admin.message_user(
                    request,
                    gettext("该可疑群组已不存在或已有变动，请查看刷新后的审核页面。"),
                    messages.ERROR,
                )
                return HttpResponseRedirect(review_url)
            reason = form.cleaned_data["reason"]
            note = form.cleaned_data["note"]
            targets = Ballot.objects.filter(poll=poll, voided_at__isnull=True).filter(cluster.q())
            try:
                voided = targets.void(by=request.user, reason=reason, note=note, rule=cluster.rule)
            except PollCertified:
                model_admin.message_user(
                    request,
                    gettext("“%(poll)s”的最终结果已经确认，选票不能再作废。") % {"poll": poll},
                    messages.ERROR,
                )
                return HttpResponseRedirect(review_url)
            LogEntry.objects.log_actions(
                request.user.pk,
                [poll],
                CHANGE,
                gettext("作废可疑群组（%(rule)s）%(count)d张选票：%(reason)s。%(note)s")
                % {
                    "rule": cluster.rule_label,
                    "count": len(voided),
                    "reason": VoidReason(reason).label,
                    "note": note,
                },
                single_object=True,
            )
            model_admin.message_user(
                request,
                gettext("已作废%(count)d张选票，不再计入结果。") % {"count": len(voided)},
            )
            return HttpResponseRedirect(review_url)
        model_admin.message_user(
            request,
            gettext("未作废：%(errors)s")
            % {"errors": "".join(e for errors in form.errors.values() for e in errors)},
            messages.ERROR,
        )
    stored = review.stored_review(poll)
    clusters = stored["clusters"]
    for cluster in clusters:
        cluster.changelist_url = cluster_changelist_url(poll, cluster)
    hours, minutes = stored["hours"], stored["minutes"]
    context = {
        **model_admin.admin_site.each_context(request),
        "title": gettext("审核：%(poll)s") % {"poll": poll},
        "opts": model_admin.opts,
        "poll": poll,
        "computed_at": stored["computed_at"],
        "change_url": reverse("admin:ballots_poll_change", args=[poll.pk]),
        "hour_chart": mark_safe(review.svg_bars(hours, label=gettext("每小时选票数"))),  # noqa: S308
        "minute_chart": mark_safe(  # noqa: S308 (review.svg_bars escapes every text)
            review.svg_bars(minutes, label=gettext("每分钟选票数（最近24小时）"))
        ),
        "top_networks": stored["top_networks"],
        "top_segments": stored["top_segments"],
        "top_ua": stored["top_ua"],
        "clusters": clusters,
        "reasons": VoidReason.choices,
        "form": form,
        "voidings": poll.voidings.all(),
    }
    return TemplateResponse(request, "admin/ballots/poll/review.html", context)
