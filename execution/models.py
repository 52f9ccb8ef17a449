"""Instruments, orders, fills, positions, per-day account state, overnight ranges and cached bars.

Prices are DecimalField(18, 9) (the gateway sends 9 decimals), dollars DecimalField(14, 2), sizes int.
Order transitions are allowed only by execution/orders.py (the one state machine).
"""

import uuid

from django.db import models

from accounts.tenancy import TenantOwned

PRICE = {"max_digits": 18, "decimal_places": 9}
USD = {"max_digits": 14, "decimal_places": 2}


class Instrument(models.Model):
    """A tradable contract (reference data shared by every tenant)."""

    symbol = models.CharField(max_length=12, help_text="Our symbol, e.g. ES.")
    contract_id = models.CharField(
        max_length=40, unique=True, help_text="ProjectX id, CON.F.US.EP.Z25."
    )
    symbol_id = models.CharField(max_length=30, help_text="ProjectX symbolId, F.US.EP.")
    name = models.CharField(max_length=30)
    description = models.CharField(max_length=120, blank=True)
    tick_size = models.DecimalField(**PRICE)
    tick_value_usd = models.DecimalField(**USD)
    fee_per_side_usd = models.DecimalField(**USD)
    exchange_time_zone = models.CharField(max_length=40, default="America/Chicago")
    is_active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"{self.symbol} {self.name}"


class OrderSide(models.IntegerChoices):  # mirrors ProjectX OrderSide
    BUY = 0, "Buy"
    SELL = 1, "Sell"


class OrderType(models.IntegerChoices):  # mirrors ProjectX OrderType (accepted by Order/place)
    LIMIT = 1, "Limit"
    MARKET = 2, "Market"
    STOP = 4, "Stop"
    TRAILING_STOP = 5, "Trailing stop"
    JOIN_BID = 6, "Join bid"
    JOIN_ASK = 7, "Join ask"


class OrderStatus(models.TextChoices):
    NEW = "new", "New (stored, not sent)"
    SUBMITTED = "submitted", "Submitted"
    WORKING = "working", "Working"
    PARTIALLY_FILLED = "partially_filled", "Partially filled"
    FILLED = "filled", "Filled"
    CANCELLED = "cancelled", "Cancelled"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"


OPEN_STATUSES = (
    OrderStatus.NEW,
    OrderStatus.SUBMITTED,
    OrderStatus.WORKING,
    OrderStatus.PARTIALLY_FILLED,
)


class OrderRole(models.TextChoices):
    ENTRY = "entry", "Entry"
    STOP_LOSS = "stop_loss", "Stop-loss"
    TAKE_PROFIT = "take_profit", "Take-profit"
    EXIT = "exit", "Exit / flatten"
    MANUAL = "manual", "Manual"


class Order(TenantOwned):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(
        "accounts.TradingAccount", on_delete=models.PROTECT, related_name="orders"
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    strategy_config = models.ForeignKey(
        "strategies.StrategyConfig",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="orders",
    )
    custom_tag = models.CharField(max_length=64, help_text="Our id, sent as ProjectX customTag.")
    broker_order_id = models.BigIntegerField(null=True, blank=True)
    order_type = models.PositiveSmallIntegerField(choices=OrderType.choices)
    side = models.PositiveSmallIntegerField(choices=OrderSide.choices)
    size = models.PositiveIntegerField()
    limit_price = models.DecimalField(null=True, blank=True, **PRICE)
    stop_price = models.DecimalField(null=True, blank=True, **PRICE)
    trail_ticks = models.PositiveIntegerField(null=True, blank=True)
    stop_loss_ticks = models.IntegerField(
        null=True, blank=True, help_text="Bracket, signed as sent."
    )
    take_profit_ticks = models.IntegerField(
        null=True, blank=True, help_text="Bracket, signed as sent."
    )
    role = models.CharField(max_length=12, choices=OrderRole.choices, default=OrderRole.MANUAL)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    oco_group = models.CharField(max_length=64, blank=True)
    protect_after_fill = models.BooleanField(
        default=False,
        help_text="Sent without its brackets (Position Brackets account): the platform places "
        "the stop-loss and take-profit once it fills.",
    )
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.NEW)
    filled_size = models.PositiveIntegerField(default=0)
    average_fill_price = models.DecimalField(null=True, blank=True, **PRICE)
    rejection_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwned.Meta):
        constraints = [
            models.UniqueConstraint(fields=["account", "custom_tag"], name="uniq_order_custom_tag"),
            models.UniqueConstraint(
                fields=["account", "broker_order_id"],
                condition=models.Q(broker_order_id__isnull=False),
                name="uniq_order_broker_id",
            ),
            models.CheckConstraint(condition=models.Q(size__gt=0), name="order_size_positive"),
            models.CheckConstraint(
                condition=models.Q(filled_size__lte=models.F("size")), name="order_fill_within_size"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "account", "status"], name="order_account_status")
        ]

    def __str__(self) -> str:
        return f"{self.get_side_display()} {self.size} {self.instrument.symbol} [{self.status}]"


class Fill(TenantOwned):
    """One execution reported by the broker (a ProjectX half-turn trade)."""

    account = models.ForeignKey(
        "accounts.TradingAccount", on_delete=models.PROTECT, related_name="fills"
    )
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="fills"
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    broker_trade_id = models.BigIntegerField()
    side = models.PositiveSmallIntegerField(choices=OrderSide.choices)
    size = models.PositiveIntegerField()
    price = models.DecimalField(**PRICE)
    fees_usd = models.DecimalField(default=0, **USD)
    realized_pnl_usd = models.DecimalField(null=True, blank=True, **USD)
    executed_at = models.DateTimeField(db_index=True)
    strategy_config = models.ForeignKey(
        "strategies.StrategyConfig",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta(TenantOwned.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["account", "broker_trade_id"], name="uniq_fill_broker_trade"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_side_display()} {self.size} @ {self.price}"


class Position(TenantOwned):
    """The broker's net position per contract; size is signed (negative = short)."""

    account = models.ForeignKey(
        "accounts.TradingAccount", on_delete=models.PROTECT, related_name="positions"
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    net_size = models.IntegerField(default=0)
    average_price = models.DecimalField(null=True, blank=True, **PRICE)
    unrealized_pnl_usd = models.DecimalField(default=0, **USD)
    opened_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwned.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["account", "instrument"], name="uniq_position_per_contract"
            )
        ]

    def __str__(self) -> str:
        return f"{self.net_size:+d} {self.instrument.symbol}"


class AccountDay(TenantOwned):
    """An account's state for one exchange trading date: balances, P&L, limit levels, the lock."""

    account = models.ForeignKey(
        "accounts.TradingAccount", on_delete=models.PROTECT, related_name="days"
    )
    session_date = models.DateField()
    start_balance_usd = models.DecimalField(**USD)
    balance_usd = models.DecimalField(**USD)
    realized_pnl_usd = models.DecimalField(default=0, **USD)
    unrealized_pnl_usd = models.DecimalField(default=0, **USD)
    fees_usd = models.DecimalField(default=0, **USD)
    high_water_usd = models.DecimalField(**USD)
    mll_floor_usd = models.DecimalField(**USD)
    daily_loss_floor_usd = models.DecimalField(null=True, blank=True, **USD)
    is_locked = models.BooleanField(default=False)
    locked_reason = models.CharField(max_length=200, blank=True)
    locked_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwned.Meta):
        constraints = [
            models.UniqueConstraint(fields=["account", "session_date"], name="uniq_account_day")
        ]
        ordering = ["-session_date"]

    def __str__(self) -> str:
        return f"{self.account} {self.session_date}"

    @property
    def net_pnl_usd(self):
        return self.realized_pnl_usd + self.unrealized_pnl_usd - self.fees_usd


class OvernightRange(models.Model):
    """The 18:00-09:30 ET high and low of a contract for one session (market data, not tenant data)."""

    instrument = models.ForeignKey(Instrument, on_delete=models.CASCADE, related_name="+")
    session_date = models.DateField()
    window_start_at = models.DateTimeField()
    window_end_at = models.DateTimeField()
    high_price = models.DecimalField(**PRICE)
    low_price = models.DecimalField(**PRICE)
    bar_count = models.PositiveIntegerField()
    is_complete = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["instrument", "session_date"], name="uniq_overnight_range"
            ),
            models.CheckConstraint(
                condition=models.Q(high_price__gte=models.F("low_price")), name="range_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.instrument.symbol} {self.session_date}: {self.low_price}-{self.high_price}"


class CachedBar(models.Model):
    """A bar fetched from the gateway, kept so each range is fetched once. `source` names the gateway
    (execution/sources.py): the simulator uses TopStepX's contract ids, so its bars are kept apart."""

    source = models.CharField(max_length=24)
    contract_id = models.CharField(max_length=40)
    unit = models.PositiveSmallIntegerField(
        help_text="ProjectX bar unit: 1 s, 2 min, 3 h, 4 day ..."
    )
    unit_number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    open_price = models.DecimalField(**PRICE)
    high_price = models.DecimalField(**PRICE)
    low_price = models.DecimalField(**PRICE)
    close_price = models.DecimalField(**PRICE)
    volume = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "contract_id", "unit", "unit_number", "started_at"],
                name="uniq_cached_bar",
            )
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.contract_id} {self.started_at:%Y-%m-%d %H:%M}"


class BarCoverage(models.Model):
    """A time span whose bars have been fetched from the gateway (a minute without trades has no bar,
    so coverage, not the bars, says what is known). Adjacent spans are merged on write."""

    source = models.CharField(max_length=24)
    contract_id = models.CharField(max_length=40)
    unit = models.PositiveSmallIntegerField()
    unit_number = models.PositiveSmallIntegerField()
    start_at = models.DateTimeField()
    end_at = models.DateTimeField(help_text="Exclusive.")

    class Meta:
        indexes = [
            models.Index(
                fields=["source", "contract_id", "unit", "unit_number", "start_at"],
                name="bar_coverage_lookup",
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_at__gt=models.F("start_at")), name="coverage_ordered"
            )
        ]

    def __str__(self) -> str:
        span = f"{self.start_at:%Y-%m-%d %H:%M} -> {self.end_at:%Y-%m-%d %H:%M}"
        return f"{self.source} {self.contract_id} {span}"


class DayStep(models.TextChoices):
    EOD_FLATTEN = "eod_flatten", "End-of-day flatten"
    DAY_ROLL = "day_roll", "Day closed and next day opened"


class DailyStep(TenantOwned):
    """A step of the trading day done for an account and session date. Unique, so a beat restart,
    a duplicate delivery or two workers racing change nothing: whoever inserts the row acts."""

    account = models.ForeignKey(
        "accounts.TradingAccount", on_delete=models.CASCADE, related_name="+"
    )
    session_date = models.DateField()
    step = models.CharField(max_length=20, choices=DayStep.choices)
    done_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwned.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["account", "session_date", "step"], name="uniq_daily_step"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.session_date} {self.step}"
