"""The admin site: Django's, with one guard for every model admin registered on it.

A list page's address and an action's form come back from the browser, and staff's browsers
are not the only ones that can send them. Django's admin trusts two of them further than it
should, and answers a 500:

- a date-hierarchy filter out of the calendar's range (`?cast_at__year=9999`: year 10000;
  `=99999999999`: OverflowError). Here it is an invalid filter, as Django treats every other
  wrong lookup: the list without it, and "?e=1";
- an action's `_selected_action` that is not a primary key (`abc`, `1.5`, a number too large for
  the column). Here the action is not run, and the list says why;
- an object's history page for an id that is not a primary key (django-simple-history's view
  looks it up as given): a 404, as for an object that does not exist.

The guard is mixed into every ModelAdmin at registration, so Django's own (users, groups) and
those of the packages we use are covered along with ours, and a new admin cannot forget it.
"""

from functools import cache

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.utils.translation import gettext as _


class _GuardedFilters:
    def get_filters(self, request):
        try:
            return super().get_filters(request)
        except (ValueError, OverflowError) as error:  # a date the calendar does not have
            raise IncorrectLookupParameters(error) from error


@cache
def _guarded_changelist(changelist_class):
    return type(changelist_class.__name__, (_GuardedFilters, changelist_class), {})


class GuardedModelAdmin:
    """Mixed into each registered ModelAdmin by AdminSite.register()."""

    def get_changelist(self, request, **kwargs):
        return _guarded_changelist(super().get_changelist(request, **kwargs))

    def _is_primary_key(self, value):
        field = self.opts.pk
        try:
            # run_validators: the column's range too, so a number too large never reaches SQL.
            field.run_validators(field.to_python(value))
        except ValidationError:
            return False
        return True

    def history_view(self, request, object_id, extra_context=None):
        if not self._is_primary_key(unquote(object_id)):
            raise Http404
        return super().history_view(request, object_id, extra_context)

    def response_action(self, request, queryset):
        selected = request.POST.getlist(ACTION_CHECKBOX_NAME)
        if not all(self._is_primary_key(value) for value in selected):
            self.message_user(request, _("所选对象无效，未执行任何操作。"), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)


class AdminSite(admin.AdminSite):
    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, GuardedModelAdmin):
            admin_class = type(
                admin_class.__name__,
                (GuardedModelAdmin, admin_class),
                {"__module__": admin_class.__module__, "__doc__": admin_class.__doc__},
            )
        return super().register(model_or_iterable, admin_class, **options)
