"""Reads of notification channels and deliveries. Every read starts from for_tenant()."""

from django.db.models import QuerySet

from accounts.models import NotificationChannel, Tenant
from notifications.models import NotificationDelivery


def channel_list_for_event(*, tenant: Tenant | int, event: str) -> QuerySet[NotificationChannel]:
    """The tenant's enabled channels subscribed to `event` (an exact member of their events list)."""
    return (
        NotificationChannel.objects.for_tenant(tenant)
        .filter(is_enabled=True, events__contains=[event])
        .order_by("pk")
    )


def delivery_get(*, tenant: Tenant | int, delivery_id: int) -> NotificationDelivery | None:
    return (
        NotificationDelivery.objects.for_tenant(tenant)
        .select_related("channel", "account__connection")
        .filter(pk=delivery_id)
        .first()
    )
