from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from simple_history.admin import SimpleHistoryAdmin

from .models import Reform


@admin.register(Reform)
class ReformAdmin(SimpleHistoryAdmin):
    """Entries, with a history of every change (修改记录) that staff can read and restore."""

    list_display = ["number", "title", "unit", "published", "order"]
    list_display_links = ["number", "title"]
    list_filter = ["published", "unit"]
    search_fields = ["title", "unit", "summary", "body"]
    ordering = ["order", "number"]
    actions = ["publish", "unpublish"]
    history_list_display = ["published"]

    def _set_published(self, request, queryset, published, message):
        changed = 0
        # One save per entry, not queryset.update(): each change must reach the history and
        # the admin log. There are fifteen entries.
        for reform in queryset.filter(published=not published):
            reform.published = published
            reform.save(update_fields=["published"])
            self.log_change(request, reform, message)
            changed += 1
        return changed

    @admin.action(permissions=["change"], description=_("发布所选条目"))
    def publish(self, request, queryset):
        changed = self._set_published(request, queryset, True, _("发布"))
        self.message_user(
            request,
            ngettext("已发布%(count)d个条目。", "已发布%(count)d个条目。", changed)
            % {"count": changed},
            messages.SUCCESS,
        )

    @admin.action(permissions=["change"], description=_("取消发布所选条目"))
    def unpublish(self, request, queryset):
        changed = self._set_published(request, queryset, False, _("取消发布"))
        self.message_user(
            request,
            ngettext(
                "已取消发布%(count)d个条目，网站上不再显示，也不能被选择。",
                "已取消发布%(count)d个条目，网站上不再显示，也不能被选择。",
                changed,
            )
            % {"count": changed},
            messages.SUCCESS,
        )
