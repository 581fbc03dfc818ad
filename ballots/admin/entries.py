"""The entries list, with each entry's counted votes."""

from django.contrib import admin
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from reforms.admin import ReformAdmin
from reforms.models import Reform

from ..models import Choice


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
