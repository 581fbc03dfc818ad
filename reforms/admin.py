from django.contrib import admin

from .models import Reform


@admin.register(Reform)
class ReformAdmin(admin.ModelAdmin):
    list_display = ["number", "title", "unit", "published", "order"]
    list_display_links = ["number", "title"]
    list_filter = ["published", "unit"]
    search_fields = ["title", "unit", "body"]
    ordering = ["order", "number"]
