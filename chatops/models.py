"""Discord control: which Discord user is which platform user, and the state of two-step actions.

A link belongs to a user, not a desk: what a command may touch is decided at every command from the
user's memberships and roles, so a role change or a removed membership takes effect at once.
"""

import uuid

from django.conf import settings
from django.db import models

from accounts.models import TradingAccount
from accounts.tenancy import TenantOwned


class DiscordLink(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="discord_link"
    )
    discord_user_id = models.CharField(max_length=32, unique=True)  # a snowflake, kept as text
    discord_username = models.CharField(max_length=100, blank=True)
    linked_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user} ↔ Discord {self.discord_username or self.discord_user_id}"


class DiscordLinkCode(models.Model):
    """A one-time code shown on the settings page; only its digest is stored (it grants a link)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="discord_link_codes"
    )
    code_digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"link code of {self.user} (until {self.expires_at:%H:%M:%S})"


class ConfirmAction(models.TextChoices):
    FLATTEN = "flatten", "Flatten"
    LOCK = "lock", "Lock for the day"


class ConfirmOutcome(models.TextChoices):
    PENDING = "pending", "Waiting for the button"
    CONFIRMED = "confirmed", "Confirmed"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


class PendingConfirmation(TenantOwned):
    """A destructive command waiting for its button: answered once, and only before `expires_at`."""

    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    action = models.CharField(max_length=10, choices=ConfirmAction.choices)
    account = models.ForeignKey(TradingAccount, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    discord_user_id = models.CharField(max_length=32)
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    outcome = models.CharField(
        max_length=10, choices=ConfirmOutcome.choices, default=ConfirmOutcome.PENDING
    )
    answered_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.action} {self.account_id}: {self.outcome}"


class DeskPause(TenantOwned):
    """The strategies one `/pause desk` switched off, so `/resume desk` turns on exactly those."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    config_ids = models.JSONField(default=list)
    paused_at = models.DateTimeField(auto_now_add=True)
    resumed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"desk pause of {len(self.config_ids)} strategies"
