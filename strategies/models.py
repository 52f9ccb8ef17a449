"""Strategy configurations (which strategy trades what, with which parameters) and backtest runs."""

import uuid

from django.db import models

from accounts.tenancy import TenantOwned


class StrategyKind(models.TextChoices):
    OVERNIGHT_RANGE_BREAKOUT = "overnight_range_breakout", "Overnight Range Breakout"
    MEAN_REVERSION = "mean_reversion", "Mean Reversion"
    TREND_FOLLOWING = "trend_following", "Trend Following"


class StrategyConfig(TenantOwned):
    """Parameters are validated against the kind's schema (strategies/engine/params.py) by the services."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=40, choices=StrategyKind.choices)
    account = models.ForeignKey(
        "accounts.TradingAccount", on_delete=models.PROTECT, related_name="strategies"
    )
    instrument = models.ForeignKey(
        "execution.Instrument", on_delete=models.PROTECT, related_name="+"
    )
    params = models.JSONField(default=dict)
    is_enabled = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwned.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["account", "name"], name="uniq_strategy_name_per_account"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"
