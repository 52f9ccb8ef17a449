"""Reads for the pages: account summaries, risk gauges, chart series and strategy statistics.

Every tenant-owned read starts from `for_tenant(...)` (or an app selector that does); market data
(instruments, bars, overnight ranges) is shared reference data and needs no tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import (
    Count,
    DateTimeField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from accounts.models import Membership, RiskProfile, Tenant, TradingAccount
from execution.models import (
    OPEN_STATUSES,
    AccountDay,
    CachedBar,
    Fill,
    Instrument,
    Order,
    OvernightRange,
    Position,
)
from execution.selectors import risk_limits_for_account
from markets.sessions import NEW_YORK, globex_session, trading_date
from strategies.models import StrategyConfig

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
MINUTE_UNIT = 2  # ProjectX bar unit for minutes (CachedBar.unit)
CHART_BAR_LIMIT = 2_000
SESSION_SHIFT = timedelta(
    hours=6
)  # 18:00 ET + 6 h = midnight of the trading date (markets.sessions)  # a Globex session has at most 1,380 one-minute bars


def today_session(now: datetime | None = None) -> date:
    """The trading date the dashboard shows: the Globex session that `now` belongs to."""
    return trading_date(now or timezone.now())


@dataclass(frozen=True)
class Gauge:
    """How much of a loss limit is used and how far the account is from breaching it."""

    label: str
    limit_usd: Decimal | None  # None: the limit is not enforced
    distance_usd: Decimal | None  # equity minus the floor; at or below zero means breached
    warning_share: Decimal

    @property
    def used_usd(self) -> Decimal | None:
        if self.limit_usd is None or self.distance_usd is None:
            return None
        return min(max(self.limit_usd - self.distance_usd, ZERO), self.limit_usd)

    @property
    def used_percent(self) -> int:
        """0-100, for the bar width."""
        used = self.used_usd
        if used is None or not self.limit_usd:
            return 0
        return int((used * 100 / self.limit_usd).to_integral_value())

    @property
    def state(self) -> str:
        if self.distance_usd is None:
            return "off"
        if self.distance_usd <= 0:
            return "breach"
        if self.used_usd >= self.warning_share * self.limit_usd:  # exact, not the rounded percent
            return "warn"
        return "ok"


@dataclass(frozen=True)
class AccountSnapshot:
    """An account's state for the dashboard: today's row if trading began, else the last known."""

    account: TradingAccount
    session_date: date
    day: AccountDay | None
    balance_usd: Decimal
    equity_usd: Decimal
    net_pnl_today_usd: Decimal
    daily: Gauge
    max_loss: Gauge
    is_locked: bool
    locked_reason: str
    open_positions: int = 0
    working_orders: int = 0
    strategies_enabled: int = 0
    strategies_total: int = 0


def _gauges(
    profile: RiskProfile,
    *,
    daily_limit: Decimal | None,
    equity: Decimal,
    daily_floor: Decimal | None,
    mll_floor: Decimal,
) -> tuple[Gauge, Gauge]:
    """`daily_limit`: the tighter of the plan's firm and the personal daily loss limit."""
    daily = Gauge(
        label="Daily loss limit",
        limit_usd=daily_limit,
        distance_usd=(equity - daily_floor)
        if daily_limit is not None and daily_floor is not None
        else None,
        warning_share=profile.warning_share,
    )
    max_loss = Gauge(
        label="Maximum loss limit",
        limit_usd=profile.max_loss_limit_usd,
        distance_usd=equity - mll_floor,
        warning_share=profile.warning_share,
    )
    return daily, max_loss


def _latest_days(
    *, tenant: Tenant | int, session_date: date, account: TradingAccount | None = None
) -> dict[int, AccountDay]:
    """Each account's latest ledger row up to `session_date`, in one query (portable: `make run`
    uses SQLite, so no DISTINCT ON)."""
    days = AccountDay.objects.for_tenant(tenant).filter(session_date__lte=session_date)
    if account is not None:
        days = days.filter(account=account)
    newest = (
        AccountDay.objects.for_tenant(tenant)
        .filter(account=OuterRef("account"), session_date__lte=session_date)
        .order_by("-session_date")
        .values("session_date")[:1]
    )
    return {day.account_id: day for day in days.filter(session_date=Subquery(newest))}


def account_snapshot(
    *, tenant: Tenant | int, account: TradingAccount, session_date: date
) -> AccountSnapshot:
    """Read-only: a page view never opens an AccountDay (execution does that when trading starts)."""
    latest = _latest_days(tenant=tenant, session_date=session_date, account=account)
    return _snapshot(account, session_date=session_date, latest=latest.get(account.pk))


def _snapshot(
    account: TradingAccount, *, session_date: date, latest: AccountDay | None
) -> AccountSnapshot:
    """Today's row if trading began; otherwise the last known balance and floors carried forward."""
    today = latest if latest is not None and latest.session_date == session_date else None
    profile = account.risk_profile
    daily_limit = risk_limits_for_account(account=account).daily_loss_in_force_usd
    if today is not None:
        balance = today.balance_usd
        equity = balance + today.unrealized_pnl_usd
        daily_floor, mll_floor = today.daily_loss_floor_usd, today.mll_floor_usd
        net_today = today.net_pnl_usd
    else:
        balance = latest.balance_usd if latest is not None else account.starting_balance_usd
        equity = balance
        mll_floor = (
            latest.mll_floor_usd if latest is not None else balance - profile.max_loss_limit_usd
        )
        daily_floor = None if daily_limit is None else balance - daily_limit
        net_today = ZERO
    daily, max_loss = _gauges(
        profile,
        daily_limit=daily_limit,
        equity=equity,
        daily_floor=daily_floor,
        mll_floor=mll_floor,
    )
    return AccountSnapshot(
        account=account,
        session_date=session_date,
        day=today,
        balance_usd=balance,
        equity_usd=equity,
        net_pnl_today_usd=net_today,
        daily=daily,
        max_loss=max_loss,
        is_locked=bool(today and today.is_locked),
        locked_reason=today.locked_reason if today else "",
    )


def account_snapshots(*, tenant: Tenant | int, session_date: date) -> list[AccountSnapshot]:
    """Every account of the tenant with its counts, in a fixed number of queries (many-account view)."""
    accounts = list(
        TradingAccount.objects.for_tenant(tenant)
        .select_related("connection", "plan", "risk_profile")
        .order_by("name")
    )
    positions = _counts(
        Position.objects.for_tenant(tenant).exclude(net_size=0).values("account_id")
    )
    orders = _counts(
        Order.objects.for_tenant(tenant).filter(status__in=OPEN_STATUSES).values("account_id")
    )
    strategies = {
        row["account_id"]: (row["enabled"], row["total"])
        for row in StrategyConfig.objects.for_tenant(tenant)
        .values("account_id")
        .annotate(total=Count("pk"), enabled=Count("pk", filter=Q(is_enabled=True)))
    }
    latest = _latest_days(tenant=tenant, session_date=session_date)
    result = []
    for account in accounts:
        snap = _snapshot(account, session_date=session_date, latest=latest.get(account.pk))
        enabled, total = strategies.get(account.pk, (0, 0))
        result.append(
            AccountSnapshot(
                **{
                    **snap.__dict__,
                    "open_positions": positions.get(account.pk, 0),
                    "working_orders": orders.get(account.pk, 0),
                    "strategies_enabled": enabled,
                    "strategies_total": total,
                }
            )
        )
    return result


def _counts(rows: QuerySet) -> dict[int, int]:
    return {row["account_id"]: row["n"] for row in rows.annotate(n=Count("pk"))}


def account_strategies(
    *, tenant: Tenant | int, account: TradingAccount
) -> QuerySet[StrategyConfig]:
    return (
        StrategyConfig.objects.for_tenant(tenant)
        .filter(account=account)
        .select_related("instrument", "account__connection")
        .order_by("name")
    )


def account_fills_between(
    *, tenant: Tenant | int, account: TradingAccount, start: datetime, end: datetime
) -> QuerySet[Fill]:
    return (
        Fill.objects.for_tenant(tenant)
        .filter(account=account, executed_at__gte=start, executed_at__lt=end)
        .select_related("instrument", "order", "strategy_config")
        .order_by("executed_at", "pk")
    )


def account_chart_instruments(
    *, tenant: Tenant | int, account: TradingAccount, session_date: date
) -> list[Instrument]:
    """Contracts worth charting today: the account's strategies', then today's fills' and positions'."""
    start, end = globex_session(session_date)
    ids: list[int] = []
    for source in (
        account_strategies(tenant=tenant, account=account).values_list("instrument_id", flat=True),
        account_fills_between(tenant=tenant, account=account, start=start, end=end).values_list(
            "instrument_id", flat=True
        ),
        Position.objects.for_tenant(tenant)
        .filter(account=account)
        .exclude(net_size=0)
        .values_list("instrument_id", flat=True),
    ):
        ids.extend(i for i in source if i not in ids)
    by_id = Instrument.objects.in_bulk(ids)
    return [by_id[i] for i in ids if i in by_id]


def minute_bars(
    *, source: str, instrument: Instrument, start: datetime, end: datetime
) -> QuerySet[CachedBar]:
    """Cached minute bars of one price source (the account's: a live chart never shows simulated
    bars of the same contract id)."""
    return CachedBar.objects.filter(
        source=source,
        contract_id=instrument.contract_id,
        unit=MINUTE_UNIT,
        unit_number=1,
        started_at__gte=start,
        started_at__lt=end,
    ).order_by("started_at")[:CHART_BAR_LIMIT]


def overnight_range_get(*, instrument: Instrument, session_date: date) -> OvernightRange | None:
    return OvernightRange.objects.filter(instrument=instrument, session_date=session_date).first()


def member_list(*, tenant: Tenant | int) -> QuerySet[Membership]:
    return Membership.objects.for_tenant(tenant).select_related("user").order_by("user__username")


@dataclass(frozen=True)
class StrategyStats:
    """Closed-trade statistics: a fill that carries realised P&L closes (part of) a trade."""

    name: str
    account: str = ""
    trades: int = 0
    wins: int = 0
    losses: int = 0
    gross_profit_usd: Decimal = ZERO
    gross_loss_usd: Decimal = ZERO  # positive number
    fees_usd: Decimal = ZERO

    @property
    def net_usd(self) -> Decimal:
        return self.gross_profit_usd - self.gross_loss_usd - self.fees_usd

    @property
    def win_rate_percent(self) -> Decimal | None:
        if not self.trades:
            return None
        return (Decimal(self.wins) * 100 / self.trades).quantize(Decimal("0.1"))

    @property
    def average_win_usd(self) -> Decimal | None:
        return (self.gross_profit_usd / self.wins).quantize(CENT) if self.wins else None

    @property
    def average_loss_usd(self) -> Decimal | None:
        return (self.gross_loss_usd / self.losses).quantize(CENT) if self.losses else None

    @property
    def expectancy_usd(self) -> Decimal | None:
        """Net per closed trade, fees included."""
        return (self.net_usd / self.trades).quantize(CENT) if self.trades else None

    @property
    def profit_factor(self) -> Decimal | None:
        """Gross profit over gross loss; None when nothing was lost (undefined, not infinite)."""
        if not self.gross_loss_usd:
            return None
        return (self.gross_profit_usd / self.gross_loss_usd).quantize(Decimal("0.01"))


def strategy_stats(*, tenant: Tenant | int, since: datetime | None = None) -> list[StrategyStats]:
    """Win rate, profit factor and net P&L per strategy (fills without a strategy: "Manual"),
    aggregated by the database in one query."""
    fills = Fill.objects.for_tenant(tenant)
    if since is not None:
        fills = fills.filter(executed_at__gte=since)
    pnl = F("realized_pnl_usd")
    rows = (
        fills.values(
            "strategy_config_id", "strategy_config__name", "strategy_config__account__name"
        )
        .annotate(
            trades=Count("pk", filter=Q(realized_pnl_usd__isnull=False)),
            wins=Count("pk", filter=Q(realized_pnl_usd__gt=0)),
            losses=Count("pk", filter=Q(realized_pnl_usd__lt=0)),
            gross_profit=Sum(pnl, filter=Q(realized_pnl_usd__gt=0), default=ZERO),
            gross_loss=Sum(-pnl, filter=Q(realized_pnl_usd__lt=0), default=ZERO),
            fees=Sum("fees_usd", default=ZERO),
        )
        .order_by()
    )
    return sorted(
        (
            StrategyStats(
                name=row["strategy_config__name"] or "Manual",
                account=row["strategy_config__account__name"] or "",
                trades=row["trades"],
                wins=row["wins"],
                losses=row["losses"],
                gross_profit_usd=row["gross_profit"],
                gross_loss_usd=row["gross_loss"],
                fees_usd=row["fees"],
            )
            for row in rows
        ),
        key=lambda s: (s.name, s.account),
    )


def daily_net_by_session(*, tenant: Tenant | int) -> list[tuple[date, Decimal]]:
    """Net P&L per session across the tenant's accounts (AccountDay is the ledger of record)."""
    rows = (
        AccountDay.objects.for_tenant(tenant)
        .values("session_date")
        .annotate(net=Sum(F("realized_pnl_usd") + F("unrealized_pnl_usd") - F("fees_usd")))
        .order_by("session_date")
    )
    return [(row["session_date"], row["net"]) for row in rows]


def max_drawdown(daily: list[tuple[date, Decimal]]) -> Decimal:
    """The largest fall of cumulative net P&L from a previous peak (0 when it never fell)."""
    peak = running = worst = ZERO
    for _, net in daily:
        running += net
        peak = max(peak, running)
        worst = max(worst, peak - running)
    return worst


def strategy_daily_net(
    *, tenant: Tenant | int, since: datetime | None = None
) -> dict[str, list[tuple[date, Decimal]]]:
    """Realised P&L net of fees per strategy per trading date, for the comparison chart.

    The trading date is the New York date six hours later (a session opens at 18:00 ET), computed by
    the database so the fills are never loaded."""
    fills = Fill.objects.for_tenant(tenant)
    if since is not None:
        fills = fills.filter(executed_at__gte=since)
    shifted = ExpressionWrapper(F("executed_at") + SESSION_SHIFT, output_field=DateTimeField())
    rows = (
        fills.annotate(session=TruncDate(shifted, tzinfo=NEW_YORK))
        .values("session", "strategy_config__name", "strategy_config__account__name")
        .annotate(net=Sum(Coalesce("realized_pnl_usd", Value(ZERO)) - F("fees_usd"), default=ZERO))
        .order_by("session")
    )
    series: dict[str, list[tuple[date, Decimal]]] = {}
    for row in rows:
        name = row["strategy_config__name"] or "Manual"
        if row["strategy_config__account__name"]:
            name = f"{name} · {row['strategy_config__account__name']}"
        series.setdefault(name, []).append((row["session"], row["net"]))
    return series


def trade_journal(*, tenant: Tenant | int) -> QuerySet[Fill]:
    """Fills newest first, for a paginated journal (the page slices it)."""
    return (
        Fill.objects.for_tenant(tenant)
        .select_related("account", "instrument", "order", "strategy_config")
        .only(
            "executed_at", "side", "size", "price", "fees_usd", "realized_pnl_usd",
            "account__name", "instrument__symbol", "order__role", "strategy_config__name",
        )
        .prefetch_related("notes__author")
        .order_by("-executed_at", "-pk")
    )  # fmt: skip


def instrument_list_active() -> QuerySet[Instrument]:
    """Contracts a strategy may trade (shared reference data)."""
    return Instrument.objects.filter(is_active=True).order_by("symbol", "name")
