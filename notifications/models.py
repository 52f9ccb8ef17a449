"""Alert deliveries: one row per (channel, alert), so an alert is never lost and never posted twice.

The row is written in the same transaction as the fact it reports (a fill, a breached limit), so an
alert exists exactly when its fact committed; the Celery task that posts it only carries the row's id.
"""

from django.db import models
from django.utils import timezone

from accounts.models import NotificationChannel, TradingAccount
from accounts.tenancy import TenantOwned


class NotificationEvent(models.TextChoices):
    """What a channel can subscribe to (NotificationChannel.events holds these values)."""

    FILL = "fill", "Fill"
    RISK = "risk", "Risk alert"
    DAILY_SUMMARY = "daily_summary", "Daily summary"
    ERROR = "error", "Error"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for a worker (first try or a scheduled retry)
    SENDING = "sending", "Sending"  # claimed by one worker; no other worker may post it
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"  # Discord refused it (4xx) or retries ran out; nothing was posted
    UNCERTAIN = (
        "uncertain",
        "Uncertain",
    )  # the post may or may not have arrived; not retried blindly
    SKIPPED = "skipped", "Skipped"  # the channel was disabled or unsubscribed before sending


UNFINISHED_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)


class NotificationDelivery(TenantOwned):
    channel = models.ForeignKey(
        NotificationChannel, on_delete=models.CASCADE, related_name="deliveries"
    )
    account = models.ForeignKey(
        TradingAccount, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    event = models.CharField(max_length=20, choices=NotificationEvent.choices)
    dedupe_key = models.CharField(
        max_length=120, help_text="The alert's identity: the same key never posts twice."
    )
    title = models.TextField()
    body = models.TextField(blank=True)
    # A list of [name, value] pairs, not an object: jsonb does not keep an object's key order.
    fields = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Claims by a worker so far.")
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    discord_message_id = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwned.Meta):
        verbose_name_plural = "notification deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "dedupe_key"], name="uniq_delivery_per_channel_key"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=DeliveryStatus.values), name="delivery_status_known"
            ),
        ]
        indexes = [
            # The sweeper's scan; partial, because finished rows are the vast majority.
            models.Index(
                fields=["status", "next_attempt_at"],
                condition=models.Q(status__in=["pending", "sending"]),
                name="delivery_unfinished_idx",
            ),
            models.Index(fields=["tenant", "-created_at"], name="delivery_tenant_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.channel_id} ({self.status})"
