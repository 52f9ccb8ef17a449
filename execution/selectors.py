"""Reads of orders, fills, positions and account days; every one starts from for_tenant()."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import QuerySet

from accounts.models import AccountPlan, Program, Tenant, TradingAccount
from accounts.selectors import trading_date_bounds
from execution import risk
from execution.models import OPEN_STATUSES, AccountDay, Fill, Instrument, Order, Position
from markets.sessions import trading_date


def instrument_get(*, contract_id: str) -> Instrument | None:
    return Instrument.objects.filter(contract_id=contract_id).first()


def order_list(*, tenant: Tenant | int, account: TradingAccount | None = None) -> QuerySet[Order]:
    queryset = Order.objects.for_tenant(tenant).select_related("instrument", "account")
    if account is not None:
        queryset = queryset.filter(account=account)
    return queryset.order_by("-created_at")


def order_list_open(*, tenant: Tenant | int, account: TradingAccount) -> QuerySet[Order]:
    return order_list(tenant=tenant, account=account).filter(status__in=OPEN_STATUSES)


def fill_list(*, tenant: Tenant | int, account: TradingAccount | None = None) -> QuerySet[Fill]:
    queryset = Fill.objects.for_tenant(tenant).select_related("instrument", "order")
    if account is not None:
        queryset = queryset.filter(account=account)
    return queryset.order_by("-executed_at")


def position_list_open(*, tenant: Tenant | int, account: TradingAccount) -> QuerySet[Position]:
    return (
        Position.objects.for_tenant(tenant)
        .filter(account=account)
        .exclude(net_size=0)
        .select_related("instrument")
    )


# --- Added for the REST API (execution/api, analytics/api) --------------------------------------


def instrument_list_active() -> QuerySet[Instrument]:
    """Reference data shared by every tenant (not tenant-owned)."""
    return Instrument.objects.filter(is_active=True).order_by("symbol", "contract_id")


def _in_trading_dates(
    queryset: QuerySet, *, field: str, date_from: date | None, date_to: date | None
) -> QuerySet:
    start, end = trading_date_bounds(date_from=date_from, date_to=date_to)
    if start is not None:
        queryset = queryset.filter(**{f"{field}__gte": start})
    if end is not None:
        queryset = queryset.filter(**{f"{field}__lt": end})
    return queryset


def order_list_filtered(
    *,
    tenant: Tenant | int,
    account_public_id: uuid.UUID | None = None,
    statuses: Sequence[str] = (),
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[Order]:
    """Orders newest first; dates are trading dates of `created_at` (18:00 ET to 18:00 ET)."""
    queryset = (
        Order.objects.for_tenant(tenant)
        .select_related("instrument", "account", "strategy_config")
        .order_by("-created_at", "-pk")
    )
    if account_public_id is not None:
        queryset = queryset.filter(account__public_id=account_public_id)
    if statuses:
        queryset = queryset.filter(status__in=list(statuses))
    return _in_trading_dates(queryset, field="created_at", date_from=date_from, date_to=date_to)


def fill_list_filtered(
    *,
    tenant: Tenant | int,
    account_public_id: uuid.UUID | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[Fill]:
    queryset = (
        Fill.objects.for_tenant(tenant)
        .select_related("instrument", "account", "order", "strategy_config")
        .order_by("-executed_at", "-pk")
    )
    if account_public_id is not None:
        queryset = queryset.filter(account__public_id=account_public_id)
    return _in_trading_dates(queryset, field="executed_at", date_from=date_from, date_to=date_to)


def position_list_filtered(
    *,
    tenant: Tenant | int,
    account_public_id: uuid.UUID | None = None,
    is_open: bool | None = None,
) -> QuerySet[Position]:
    queryset = (
        Position.objects.for_tenant(tenant)
        .select_related("instrument", "account")
        .order_by("account__name", "instrument__symbol", "pk")
    )
    if account_public_id is not None:
        queryset = queryset.filter(account__public_id=account_public_id)
    if is_open is True:
        queryset = queryset.exclude(net_size=0)
    elif is_open is False:
        queryset = queryset.filter(net_size=0)
    return queryset


def account_day_list_filtered(
    *,
    tenant: Tenant | int,
    account_public_id: uuid.UUID | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[AccountDay]:
    queryset = (
        AccountDay.objects.for_tenant(tenant)
        .select_related("account")
        .order_by("-session_date", "account__name")
    )
    if account_public_id is not None:
        queryset = queryset.filter(account__public_id=account_public_id)
    if date_from is not None:
        queryset = queryset.filter(session_date__gte=date_from)
    if date_to is not None:
        queryset = queryset.filter(session_date__lte=date_to)
    return queryset


@dataclass(frozen=True)
class DayPnl:
    """One trading date of an account: the day's stored state (if any) and its fills."""

    session_date: date
    day: AccountDay | None
    fill_count: int
    fills_realized_pnl_usd: Decimal
    fills_fees_usd: Decimal

    @property
    def net_pnl_usd(self) -> Decimal:
        """The day's stored net P&L when the day was opened; else what its fills realised."""
        if self.day is not None:
            return self.day.net_pnl_usd
        return self.fills_realized_pnl_usd - self.fills_fees_usd


def account_pnl_by_day(
    *, tenant: Tenant | int, account: TradingAccount, date_from: date, date_to: date
) -> list[DayPnl]:
    """P&L per trading date, oldest first, from AccountDay rows and the fills of those dates.

    Fills are bucketed by markets.sessions.trading_date (the one rule for the session clock), so a
    fill at 18:30 ET counts for the next date, as the broker's daily P&L does. Two queries.
    """
    account.require_tenant(tenant)
    days = {
        day.session_date: day
        for day in AccountDay.objects.for_tenant(tenant).filter(
            account=account, session_date__gte=date_from, session_date__lte=date_to
        )
    }
    zero = Decimal("0.00")
    fills: dict[date, list] = {}
    rows = _in_trading_dates(
        Fill.objects.for_tenant(tenant).filter(account=account),
        field="executed_at",
        date_from=date_from,
        date_to=date_to,
    ).values_list("executed_at", "realized_pnl_usd", "fees_usd")
    for executed_at, realized, fees in rows:
        bucket = fills.setdefault(trading_date(executed_at), [0, zero, zero])
        bucket[0] += 1
        bucket[1] += realized or zero
        bucket[2] += fees
    return [
        DayPnl(
            session_date=session_date,
            day=days.get(session_date),
            fill_count=fills.get(session_date, [0])[0],
            fills_realized_pnl_usd=fills.get(session_date, [0, zero])[1],
            fills_fees_usd=fills.get(session_date, [0, zero, zero])[2],
        )
        for session_date in sorted(set(days) | set(fills))
    ]


@dataclass(frozen=True)
class PnlTotals:
    net_pnl_usd: Decimal
    fill_count: int
    trading_days: int
    winning_days: int
    losing_days: int
    best_day_usd: Decimal | None
    worst_day_usd: Decimal | None
    best_day_share: Decimal | None


def pnl_totals(days: Sequence[DayPnl]) -> PnlTotals:
    """Totals over days; `best_day_share` is the best day over the total profit (TopStep consistency).

    The share is None unless the range made a profit (a share of a loss means nothing).
    """
    nets = [day.net_pnl_usd for day in days]
    total = sum(nets, Decimal("0.00"))
    best = max(nets, default=None)
    share = None
    if best is not None and total > 0 and best > 0:
        share = (best / total).quantize(Decimal("0.0001"))
    return PnlTotals(
        net_pnl_usd=total,
        fill_count=sum(day.fill_count for day in days),
        trading_days=len(days),
        winning_days=sum(1 for net in nets if net > 0),
        losing_days=sum(1 for net in nets if net < 0),
        best_day_usd=best,
        worst_day_usd=min(nets, default=None),
        best_day_share=share,
    )


def risk_limits_for_plan(*, plan: AccountPlan) -> risk.RiskLimits:
    """The rules engine's view of a plan (the table is the source of truth for the numbers)."""
    is_express = plan.program == Program.EXPRESS
    return risk.RiskLimits(
        starting_balance_usd=Decimal(0) if is_express else plan.size_usd,
        max_loss_limit_usd=plan.max_loss_limit_usd,
        max_contracts=plan.max_contracts,
        daily_loss_limit_usd=plan.daily_loss_limit_usd,
        mll_mode=risk.MllMode(plan.mll_mode),
        micro_ratio=plan.micro_ratio,
        scaling=tuple((Decimal(str(above)), int(cap)) for above, cap in plan.scaling or ()),
    )


def risk_limits_for_account(*, account: TradingAccount) -> risk.RiskLimits:
    """The account's own limits (its risk profile, edited by the owner), for the pre-trade check."""
    profile = account.risk_profile
    return risk.RiskLimits(
        starting_balance_usd=account.starting_balance_usd,
        max_loss_limit_usd=profile.max_loss_limit_usd,
        max_contracts=profile.max_contracts,
        daily_loss_limit_usd=profile.daily_loss_limit_usd
        if profile.is_daily_loss_enforced
        else None,
        mll_mode=risk.MllMode(profile.mll_mode),
        mll_lock_balance_usd=profile.mll_lock_balance_usd,
        micro_ratio=profile.micro_ratio,
        warning_share=profile.warning_share,
    )


def fleet_position_contracts() -> dict[int, list[str]]:
    """Contracts in which an active account holds a position, per broker login (across tenants on
    purpose: the hubs process marks the whole fleet's open P&L)."""
    rows = (
        Position.all_tenants.filter(account__is_active=True)
        .exclude(net_size=0)
        .values_list("account__connection_id", "instrument__contract_id")
        .distinct()
    )
    contracts: dict[int, list[str]] = {}
    for connection_id, contract_id in rows:
        contracts.setdefault(connection_id, []).append(contract_id)
    return contracts


def fleet_accounts_holding(*, environment: str, contract_ids: list[str]) -> list[TradingAccount]:
    """Active accounts of one environment's logins (one price source) with an open position in any
    of `contract_ids` (fleet job: the hubs process marks them at that source's prints only)."""
    account_ids = (
        Position.all_tenants.filter(
            instrument__contract_id__in=contract_ids,
            account__is_active=True,
            account__connection__environment=environment,
        )
        .exclude(net_size=0)
        .values_list("account_id", flat=True)
    )
    return list(
        TradingAccount.all_tenants.filter(pk__in=account_ids).select_related(
            "risk_profile", "tenant"
        )
    )
