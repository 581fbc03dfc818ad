from csp.decorators import csp_update
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
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

    # django-simple-history's history list has one inline style (border-top: 0): the Content
    # Security Policy allows exactly that one, on that page.
    @csp_update(
        {
            "style-src-attr": [
                "'unsafe-hashes'",
                "'sha256-XMXSevYjgSjXgRafBFDvtjwX+yyWLrxfso9DcNZ9UXM='",
            ]
        }
    )
    def history_view(self, request, object_id, extra_context=None):
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        """A version of an entry, and restoring it: restoring is a change, so it needs the
        permission to change, and the admin log says which version came back."""
        if not (str(object_id).isdigit() and str(version_id).isdigit()):
            raise Http404
        if request.method == "POST":
            if not self.has_change_permission(request):
                raise PermissionDenied
            request.restored_version = version_id
        return super().history_form_view(request, object_id, version_id, extra_context)

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
