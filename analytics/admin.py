from django.contrib import admin

from accounts.admin_scoping import ReadOnlyAdminMixin, TenantScopedAdmin
from analytics.models import JournalNote


@admin.register(JournalNote)
class JournalNoteAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = ("created_at", "tenant", "fill", "author", "text")
    list_filter = ("tenant",)
    search_fields = ("text",)
    list_select_related = ("tenant", "fill", "author")
