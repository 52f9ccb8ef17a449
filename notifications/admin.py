"""Deliveries in the operations console: read-only, tenant-scoped, with an audited re-send action."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.admin_scoping import ReadOnlyAdminMixin, TenantScopedAdmin
from notifications import services
from notifications.models import NotificationDelivery


@admin.register(NotificationDelivery)
class NotificationDeliveryAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = (
        "created_at",
        "tenant",
        "channel",
        "event",
        "title",
        "status",
        "attempts",
        "last_status_code",
    )
    list_filter = ("status", "event", "tenant")
    search_fields = ("title", "dedupe_key")
    list_select_related = ("tenant", "channel")
    date_hierarchy = "created_at"
    actions = ("resend",)

    @admin.action(description="Re-send (failed or uncertain only; may duplicate an uncertain one)")
    def resend(self, request: HttpRequest, queryset: QuerySet[NotificationDelivery]) -> None:
        sent, refused = 0, []
        for delivery in queryset:
            try:
                services.delivery_requeue(
                    tenant_id=delivery.tenant_id, delivery_id=delivery.pk, actor=request.user
                )
                sent += 1
            except services.InvalidNotification as exc:
                refused.append(f"#{delivery.pk}: {exc}")
        if sent:
            self.message_user(request, f"{sent} deliveries queued again.", messages.SUCCESS)
        for message in refused:
            self.message_user(request, message, messages.WARNING)
