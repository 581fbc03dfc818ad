from django.contrib import admin

from .models import Poll


@admin.register(Poll)
class PollAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "opens_at", "closes_at", "closed_at"]
    filter_horizontal = ["reforms"]
    readonly_fields = ["closed_at", "closed_by"]
