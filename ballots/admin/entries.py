"""The entries list, with each entry's counted votes."""

from django.contrib import admin
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from reforms.admin import ReformAdmin
from reforms.models import Reform

from ..models import Choice, Poll, frozen_entry_refusals, polls_freezing


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

    def has_delete_permission(self, request, obj=None):
        # An entry of a poll that has opened is frozen: no delete button, and its delete page
        # answers 403 (superusers included). The list's delete action: get_deleted_objects.
        if obj is not None and polls_freezing([obj.pk]).exists():
            return False
        return super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs, request):
        # Frozen entries are shown as what protects them, so Django refuses the deletion.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        refusals = frozen_entry_refusals([obj.pk for obj in objs])
        if refusals:
            # has_delete_permission(obj) is False for them, which Django would report as a
            # missing permission; the page should say why instead.
            perms_needed = set()
        return deleted, counts, perms_needed, [*refusals, *protected]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None and obj.published and "published" in form.base_fields:
            live = list(Poll.objects.open().filter(reforms=obj))
            if live:
                form.base_fields["published"].help_text = _(
                    "注意：“%(polls)s”正在投票。取消勾选即撤回发布：网站上不再显示，群众也不能"
                    "再投票选择；已投的票仍然计入。"
                ) % {"polls": "、".join(str(poll) for poll in live)}
        return form

    @admin.action(permissions=["change"], description=_("撤回发布所选经验"))
    def unpublish(self, request, queryset):
        # Withdrawing an entry citizens are voting on is asked once more, on a page of its own.
        live = list(
            Poll.objects.open().filter(reforms__in=queryset.filter(published=True)).distinct()
        )
        if live and request.POST.get("confirm") != "1":
            context = {
                **self.admin_site.each_context(request),
                "title": _("确认撤回发布"),
                "opts": self.opts,
                "reforms": list(queryset.order_by("order", "number")),
                "polls": [str(poll) for poll in live],
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(
                request, "admin/reforms/reform/unpublish_confirmation.html", context
            )
        return super().unpublish(request, queryset)

    @admin.display(description=_("有效票数"), ordering="votes")
    def votes(self, reform):
        return reform.votes


admin.site.unregister(Reform)
admin.site.register(Reform, ReformWithVotesAdmin)
