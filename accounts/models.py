"""Tenants, their members, broker connections, trading accounts, risk profiles, notifications, audit."""

import uuid
from datetime import datetime, time
from decimal import Decimal

from django.conf import settings
from django.db import models

from accounts.tenancy import TenantOwned


class Tenant(models.Model):
    """A trading desk or organisation: the unit of isolation."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    TRADER = "trader", "Trader"
    VIEWER = "viewer", "Viewer"


class Membership(TenantOwned):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.TRADER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwned.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="uniq_membership")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant_id} ({self.role})"

    @property
    def can_trade(self) -> bool:
        return self.role in (Role.OWNER, Role.TRADER)


class Invitation(TenantOwned):
    """An owner's offer of a role on the desk to an email address. It is accepted by its recipient
    only, through the emailed link (whose secret is stored hashed), before it expires, once; the desk
    can revoke it. Nobody joins a desk because of an address alone."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField(help_text="Stored lower-cased; the link is sent here.")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(
        null=True, blank=True, help_text="Revoked by the desk, declined or replaced by a new one."
    )

    class Meta(TenantOwned.Meta):
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} to {self.tenant_id} as {self.role}"

    def is_pending(self, now: datetime) -> bool:
        return self.accepted_at is None and self.revoked_at is None and now < self.expires_at


class VerifiedEmail(models.Model):
    """The address a user proved they receive mail at (a verification or invitation link opened).
    Only a verified address counts as the user's own; changing the login's email drops it."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="verified_email"
    )
    email = models.EmailField()
    verified_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.email


class GatewayEnvironment(models.TextChoices):
    LIVE = "live", "TopStepX (live)"
    SIMULATOR = "simulator", "Simulator (paper)"


class BrokerConnection(TenantOwned):
    """A ProjectX login: username and API key. The key is encrypted and never shown after entry."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=120)
    environment = models.CharField(
        max_length=10, choices=GatewayEnvironment.choices, default=GatewayEnvironment.SIMULATOR
    )
    username = models.CharField(max_length=150)
    api_key_encrypted = models.TextField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_verified_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantOwned.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "environment", "username"], name="uniq_broker_login"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_environment_display()})"

    @property
    def is_simulated(self) -> bool:
        return self.environment == GatewayEnvironment.SIMULATOR


class Program(models.TextChoices):
    COMBINE = "combine", "Trading Combine"
    EXPRESS = "express", "Express Funded"
    PRACTICE = "practice", "Practice"


class MllMode(models.TextChoices):
    END_OF_DAY = "end_of_day", "Trails end-of-day balance"
    INTRADAY = "intraday", "Trails intraday equity high"


class AccountPlan(models.Model):
    """TopStep's rules per account type. Kept as data because the firm changes them often."""

    code = models.SlugField(max_length=40, unique=True)  # e.g. "combine-50k"
    program = models.CharField(max_length=10, choices=Program.choices)
    size_usd = models.DecimalField(max_digits=14, decimal_places=2)
    profit_target_usd = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    daily_loss_limit_usd = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True
    )
    max_loss_limit_usd = models.DecimalField(max_digits=14, decimal_places=2)
    mll_mode = models.CharField(max_length=12, choices=MllMode.choices, default=MllMode.END_OF_DAY)
    max_contracts = models.PositiveSmallIntegerField(
        help_text="In minis; micros count at 1/micro_ratio."
    )
    micro_ratio = models.PositiveSmallIntegerField(default=10)
    consistency_share = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.500"),
        help_text="The best day must stay below this share of total profit.",
    )
    evaluation_fee_usd = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="What one attempt at this evaluation costs (the monthly fee; a reset).",
    )
    evaluation_fee_source = models.CharField(
        max_length=300, blank=True, help_text="Where the fee comes from, and when it was read."
    )
    # Express Funded accounts: the scaling plan and the payout policy (the Evaluation Lab's XFA
    # stage). TopStep changes them often; docs/evaluation-lab.md says how sure each number is.
    scaling = models.JSONField(
        default=list,
        blank=True,
        help_text="Scaling plan: [[profit above USD, max minis], ...] ascending; below the first "
        "step max_contracts applies.",
    )
    payout_winning_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Winning days needed since the last payout."
    )
    payout_winning_day_usd = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="The net a day needs to count as a winning day.",
    )
    payout_consistency_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Consistency path: trading days needed since the last payout (empty: no path).",
    )
    payout_consistency_share = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        null=True,
        blank=True,
        help_text="Consistency path: the best day must stay below this share of the cycle's profit.",
    )
    payout_balance_share = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        null=True,
        blank=True,
        help_text="The share of the balance one payout may take.",
    )
    payout_cap_usd = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="The most one payout may take (empty: no cap).",
    )
    payout_policy_source = models.CharField(
        max_length=500, blank=True, help_text="Where the payout numbers come from, when read."
    )

    def __str__(self) -> str:
        return f"{self.get_program_display()} {int(self.size_usd) // 1000}K"


class TradingAccount(TenantOwned):
    """One ProjectX trading account under a broker connection."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    connection = models.ForeignKey(
        BrokerConnection, on_delete=models.PROTECT, related_name="accounts"
    )
    projectx_account_id = models.BigIntegerField()
    name = models.CharField(max_length=120)
    plan = models.ForeignKey(AccountPlan, on_delete=models.PROTECT, related_name="+")
    starting_balance_usd = models.DecimalField(max_digits=14, decimal_places=2)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwned.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "projectx_account_id"], name="uniq_px_account"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_simulated(self) -> bool:
        return self.connection.is_simulated


class RiskProfile(TenantOwned):
    """Per-account limits, defaulted from the plan and editable by the owner."""

    account = models.OneToOneField(
        TradingAccount, on_delete=models.CASCADE, related_name="risk_profile"
    )
    is_daily_loss_enforced = models.BooleanField(default=True)
    daily_loss_limit_usd = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True
    )
    max_loss_limit_usd = models.DecimalField(max_digits=14, decimal_places=2)
    mll_mode = models.CharField(max_length=12, choices=MllMode.choices, default=MllMode.END_OF_DAY)
    mll_lock_balance_usd = models.DecimalField(
        max_digits=14, decimal_places=2, help_text="The MLL floor stops trailing here."
    )
    max_contracts = models.PositiveSmallIntegerField()
    micro_ratio = models.PositiveSmallIntegerField(default=10)
    flat_by_et = models.TimeField(
        default=time(15, 55), help_text="End-of-day flatten, New York time."
    )
    warning_share = models.DecimalField(max_digits=4, decimal_places=3, default=Decimal("0.800"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwned.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(flat_by_et__lte=time(16, 9)),
                name="flat_by_before_topstep_deadline",
            ),
            models.CheckConstraint(
                condition=models.Q(warning_share__gt=0, warning_share__lte=1),
                name="warning_share_range",
            ),
        ]

    def __str__(self) -> str:
        return f"Risk profile of {self.account}"


class NotificationKind(models.TextChoices):
    DISCORD = "discord", "Discord webhook"


class NotificationChannel(TenantOwned):
    """Where a tenant's alerts go. The webhook URL is a secret (it grants posting) and is encrypted."""

    kind = models.CharField(
        max_length=10, choices=NotificationKind.choices, default=NotificationKind.DISCORD
    )
    name = models.CharField(max_length=120)
    url_encrypted = models.TextField(editable=False)
    events = models.JSONField(default=list, help_text="fill, risk, daily_summary, error")
    is_enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class AuditEntry(TenantOwned):
    """Append-only: who did what, when, to which object, with the state before and after."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(
        max_length=150, help_text="The user, or the system job that acted."
    )
    action = models.CharField(max_length=80)
    object_type = models.CharField(max_length=80, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta(TenantOwned.Meta):
        ordering = ["-at"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise PermissionError("audit entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("audit entries are append-only")
