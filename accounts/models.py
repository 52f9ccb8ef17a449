"""Tenants, their members, broker connections, trading accounts, risk profiles, notifications, audit."""

import uuid
from datetime import datetime, time
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
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


class DailyLossAction(models.TextChoices):
    """What the Personal Daily Loss Limit does when reached (TopstepX; execution.risk)."""

    ALERT = "alert", "Do nothing (alert only)"
    LIQUIDATE = "liquidate", "Liquidate"
    LIQUIDATE_AND_BLOCK = "liquidate_and_block", "Liquidate and block for the session"


class AccountPlan(models.Model):
    """TopStep's rules per account type. Kept as data because the firm changes them often;
    `rules_source` says where each default comes from (docs/topstep-rules.md)."""

    code = models.SlugField(max_length=40, unique=True)  # e.g. "combine-50k"
    program = models.CharField(max_length=10, choices=Program.choices)
    size_usd = models.DecimalField(max_digits=14, decimal_places=2)
    profit_target_usd = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    daily_loss_limit_usd = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="The firm's daily loss limit (soft breach: flatten and block until 17:00 CT); "
        "blank: none, as on TopstepX Combines and Express accounts since 25 Aug 2024.",
    )
    max_loss_limit_usd = models.DecimalField(max_digits=14, decimal_places=2)
    mll_mode = models.CharField(max_length=12, choices=MllMode.choices, default=MllMode.END_OF_DAY)
    max_contracts = models.PositiveSmallIntegerField(
        help_text="In minis; micros count at 1/micro_ratio."
    )
    micro_ratio = models.PositiveSmallIntegerField(
        default=1,
        help_text="Micros per mini: 1 (a micro counts as a full contract, the stricter reading) "
        "or 10.",
    )
    scaling_plan = models.JSONField(
        default=list,
        blank=True,
        help_text="Express scaling plan: [[profit above (USD), max contracts], ...] ascending; "
        "read from the start-of-day balance, so it changes at the day roll only.",
    )
    rules_source = models.TextField(
        blank=True, help_text="Where each of these numbers and modes comes from."
    )
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
    # Express Funded accounts: the payout policy (the Evaluation Lab's XFA stage; the scaling
    # plan is `scaling_plan`). TopStep changes them often; docs/evaluation-lab.md says how sure
    # each number is.
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


class BracketMode(models.TextChoices):
    """The TopstepX risk setting that decides whether orders may carry brackets (§11)."""

    AUTO_OCO = "auto_oco", "Auto OCO Brackets"
    POSITION = "position", "Position Brackets"


MAX_EXPRESS_ACCOUNTS = 5  # per trader (broker login), TopstepX's rule
MAX_COPIER_ACCOUNTS = 5  # a lead and its followers, as TopstepX's trade copier


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
    bracket_mode = models.CharField(
        max_length=10,
        choices=BracketMode.choices,
        default=BracketMode.AUTO_OCO,
        help_text="Learnt from the broker: under Position Brackets it refuses orders with "
        "brackets, so entries go without them and the platform places stop and target after "
        "the fill (execution/brackets.py).",
    )
    # Copier desk (as TopstepX's trade copier): a follower copies the lead's strategy orders.
    copies_account = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="copier_followers",
        help_text="The lead account whose strategies' orders this account copies.",
    )
    copier_cut_out_on = models.DateField(
        null=True, blank=True, help_text="Trading date on which a limit of its own cut it out."
    )
    copier_cut_out_reason = models.TextField(blank=True)

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

    def clean(self) -> None:
        """Runs on create, sync and every admin edit (plan change, reactivation, copier)."""
        self._clean_copier()
        self._clean_express_count()

    def _clean_copier(self) -> None:
        """A copier desk, as TopstepX's trade copier: accounts of one trader (broker login), at
        most five in all, and the lead has the smallest position limit, so an order the lead may
        take never exceeds a follower's cap by construction (each follower is still checked on
        its own limits)."""
        lead = self.copies_account
        if lead is None:
            return
        if self.pk is None:
            raise ValidationError("create the account first, then make it a follower")
        if lead.pk == self.pk or lead.copies_account_id is not None:
            raise ValidationError("a lead cannot copy another account, nor itself")
        if self.copier_followers.exists():
            raise ValidationError(f"{self.name} leads a copier desk; it cannot copy {lead.name}")
        if lead.connection_id != self.connection_id or lead.tenant_id != self.tenant_id:
            raise ValidationError("a copier desk's accounts must share one broker login (trader)")
        followers = [
            *TradingAccount.all_tenants.filter(copies_account=lead)
            .exclude(pk=self.pk)
            .select_related("risk_profile"),
            self,
        ]
        if len(followers) + 1 > MAX_COPIER_ACCOUNTS:
            raise ValidationError(
                f"a copier desk has at most {MAX_COPIER_ACCOUNTS} accounts (the lead and "
                f"{MAX_COPIER_ACCOUNTS - 1} followers); {lead.name} has {len(followers) - 1}"
            )
        lead_cap = lead.risk_profile.max_contracts
        for follower in followers:
            cap = follower.risk_profile.max_contracts
            if cap < lead_cap:
                raise ValidationError(
                    "the lead must be the account with the smallest position limit: "
                    f"{lead.name} allows {lead_cap} contracts, {follower.name} only {cap}"
                )

    def _clean_express_count(self) -> None:
        """TopstepX: a trader (one broker login) holds at most five active Express accounts."""
        if not self.is_active or self.plan_id is None or self.connection_id is None:
            return
        if self.plan.program != Program.EXPRESS:
            return
        others = (
            TradingAccount.all_tenants.filter(
                connection_id=self.connection_id, is_active=True, plan__program=Program.EXPRESS
            )
            .exclude(pk=self.pk)
            .count()
        )
        if others >= MAX_EXPRESS_ACCOUNTS:
            raise ValidationError(
                f"a trader may hold at most {MAX_EXPRESS_ACCOUNTS} Express Funded accounts; "
                f"login {self.connection.username} already has {others} active"
            )


class RiskProfile(TenantOwned):
    """Per-account limits, defaulted from the plan and editable by the owner."""

    account = models.OneToOneField(
        TradingAccount, on_delete=models.CASCADE, related_name="risk_profile"
    )
    # The trader's Personal Daily Loss Limit (TopstepX; a fixed amount) and what reaching it
    # does; the plan's firm limit, if any, applies as well. The consistency guard stops a
    # Combine's entries for the day before a win breaks the consistency target.
    is_daily_loss_enforced = models.BooleanField(
        default=True, verbose_name="personal daily loss limit on"
    )
    daily_loss_limit_usd = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        verbose_name="personal daily loss limit (USD)",
    )
    daily_loss_action = models.CharField(
        max_length=20,
        choices=DailyLossAction.choices,
        default=DailyLossAction.LIQUIDATE_AND_BLOCK,
        verbose_name="personal daily loss action",
    )
    is_consistency_guarded = models.BooleanField(
        default=False,
        verbose_name="stop for the day before a win breaks consistency",
    )
    max_loss_limit_usd = models.DecimalField(max_digits=14, decimal_places=2)
    mll_mode = models.CharField(max_length=12, choices=MllMode.choices, default=MllMode.END_OF_DAY)
    mll_lock_balance_usd = models.DecimalField(
        max_digits=14, decimal_places=2, help_text="The MLL floor stops trailing here."
    )
    max_contracts = models.PositiveSmallIntegerField()
    micro_ratio = models.PositiveSmallIntegerField(default=1)
    flat_by_et = models.TimeField(
        default=time(15, 55), help_text="End-of-day flatten, New York time."
    )
    warning_share = models.DecimalField(max_digits=4, decimal_places=3, default=Decimal("0.800"))
    # Protections (execution/risk.py Protections); null switches one off.
    max_losing_trades = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Stop for the day after this many losing trades."
    )
    max_drawdown_usd = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Stop for the day once the day's P&L is this far below the day's high.",
    )
    loss_streak = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Pause after this many losing trades in a row ..."
    )
    cooldown_minutes = models.PositiveSmallIntegerField(
        default=30, help_text="... for this many minutes after the last loss."
    )
    # Loosenings made while a session was open wait here for the next session (the day roll).
    pending_changes = models.JSONField(default=dict, blank=True)
    pending_from = models.DateField(
        null=True, blank=True, help_text="Trading date from which the pending changes apply."
    )
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

    def clean(self) -> None:
        if self.is_daily_loss_enforced and self.daily_loss_limit_usd is None:
            raise ValidationError(
                {"daily_loss_limit_usd": "a personal daily loss limit that is on needs an amount"}
            )
        if self.daily_loss_limit_usd is not None and self.daily_loss_limit_usd <= 0:
            raise ValidationError({"daily_loss_limit_usd": "must be more than 0"})


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
