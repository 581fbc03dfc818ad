from django.contrib import admin, messages
from django.contrib.admin.utils import label_for_field, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin
from simple_history.template_utils import HistoricalRecordContextHelper

from .models import Reform, restore_reason


def history_value(value):
    if isinstance(value, bool):
        return gettext("是") if value else gettext("否")
    return "" if value is None else str(value)


class WholeValues(HistoricalRecordContextHelper):
    """Each change in the history with its whole old and new value, where simple_history would
    cut a paragraph to "张店区创新[216 chars]…": the clerk compares the whole text. Left
    unescaped: the template escapes them, as staff typed them."""

    def stringify_delta_change_values(self, change, old, new):
        return history_value(old), history_value(new)


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

    def history_view(self, request, object_id, extra_context=None):
        # The column headers in the page's language (已发布), not the field names.
        columns = [
            (name, label_for_field(name, self.model, self))
            for name in self.get_history_list_display(request)
        ]
        return super().history_view(
            request, object_id, {"history_columns": columns, **(extra_context or {})}
        )

    def history_view_title(self, request, obj):
        return gettext("修改记录：%(entry)s") % {"entry": obj}

    def get_historical_record_context_helper(self, request, historical_record):
        return WholeValues(self.model, historical_record)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        """A version of an entry, and restoring it: restoring is a change, so it needs the
        permission to change, and the admin log says which version came back."""
        if not (str(object_id).isdigit() and str(version_id).isdigit()):
            raise Http404
        if request.method == "POST":
            if not self.has_change_permission(request):
                raise PermissionDenied
            request.restored_version = version_id
        context = {
            "version": version_id,
            "entry": self.get_object(request, unquote(object_id)),  # for the breadcrumb
            **(extra_context or {}),
        }
        return super().history_form_view(request, object_id, version_id, context)

    def history_form_view_title(self, request, obj):
        # obj is the entry as that version had it; simple_history keeps the version on it.
        return gettext("版本 #%(version)s：%(entry)s") % {
            "version": obj._history.history_id,
            "entry": obj,
        }

    def save_model(self, request, obj, form, change):
        version = getattr(request, "restored_version", None)
        if version is not None:
            obj._change_reason = restore_reason(version)  # the history row says 恢复
        super().save_model(request, obj, form, change)

    def log_change(self, request, obj, message):
        version = getattr(request, "restored_version", None)
        if version is not None:
            message = gettext("从修改记录恢复（版本 #%(version)s）") % {"version": version}
        return super().log_change(request, obj, message)

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

    @admin.action(permissions=["change"], description=_("发布所选经验"))
    def publish(self, request, queryset):
        changed = self._set_published(request, queryset, True, _("发布"))
        self.message_user(
            request,
            ngettext("已发布%(count)d项经验。", "已发布%(count)d项经验。", changed)
            % {"count": changed},
            messages.SUCCESS,
        )

    @admin.action(permissions=["change"], description=_("撤回发布所选经验"))
    def unpublish(self, request, queryset):
        changed = self._set_published(request, queryset, False, _("撤回发布"))
        self.message_user(
            request,
            ngettext(
                "已撤回发布%(count)d项经验：网站上不再显示，群众也不能投票选择。",
                "已撤回发布%(count)d项经验：网站上不再显示，群众也不能投票选择。",
                changed,
            )
            % {"count": changed},
            messages.SUCCESS,
        )
