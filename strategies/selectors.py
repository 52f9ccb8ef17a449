import uuid
from collections.abc import Sequence
from datetime import date

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from accounts.models import Tenant, TradingAccount
from accounts.selectors import trading_date_bounds
from strategies.models import (
    BacktestRun,
    DecisionStatus,
    EvaluationRun,
    StrategyConfig,
    StrategyDecision,
    StrategyRuntime,
)


def strategy_config_list(*, tenant: Tenant | int) -> QuerySet[StrategyConfig]:
    return (
        StrategyConfig.objects.for_tenant(tenant)
        .select_related("account", "instrument")
        .order_by("name")
    )


def strategy_config_get(*, tenant: Tenant | int, config_id: int) -> StrategyConfig | None:
    return strategy_config_list(tenant=tenant).filter(pk=config_id).first()


def backtest_run_list(*, tenant: Tenant | int) -> QuerySet[BacktestRun]:
    """Runs without their (large) result payload; fetch that per run."""
    return BacktestRun.objects.for_tenant(tenant).defer("result").order_by("-created_at")


def backtest_run_get(*, tenant: Tenant | int, run_id: int) -> BacktestRun | None:
    return BacktestRun.objects.for_tenant(tenant).filter(pk=run_id).first()


def evaluation_run_list(*, tenant: Tenant | int) -> QuerySet[EvaluationRun]:
    """Runs without their (large) report; fetch that per run."""
    return EvaluationRun.objects.for_tenant(tenant).defer("report").order_by("-created_at")


def evaluation_run_get(*, tenant: Tenant | int, run_id: int) -> EvaluationRun | None:
    return EvaluationRun.objects.for_tenant(tenant).filter(pk=run_id).first()


def fleet_enabled_contracts() -> dict[int, list[str]]:
    """Contracts that enabled strategies trade, per broker login (across tenants on purpose: the hubs
    process picks one login per source to feed each, execution/price_feeds.py). Live logins come
    first ("live" sorts before "simulator"), so a fleet job that takes the first login of a contract
    reads the live gateway when one trades it."""
    rows = (
        StrategyConfig.all_tenants.filter(is_enabled=True, account__is_active=True)
        .order_by("account__connection__environment", "account__connection_id")
        .values_list("account__connection_id", "instrument__contract_id")
        .distinct()
    )
    contracts: dict[int, list[str]] = {}
    for connection_id, contract_id in rows:
        contracts.setdefault(connection_id, []).append(contract_id)
    return contracts


def fleet_desks() -> list[tuple[int, int, int]]:
    """(tenant, account, instrument) of every live desk: enabled strategies on active accounts, and
    runtimes with decisions still to carry out; across tenants on purpose (the beat fan-out)."""
    enabled = StrategyConfig.all_tenants.filter(is_enabled=True, account__is_active=True)
    pending = StrategyDecision.all_tenants.filter(status=DecisionStatus.PENDING)
    desks = set(enabled.values_list("tenant_id", "account_id", "instrument_id"))
    desks |= set(pending.values_list("tenant_id", "runtime__account_id", "runtime__instrument_id"))
    return sorted(desks)


def strategy_decision_list(
    *,
    tenant: Tenant | int,
    strategy_config: StrategyConfig | int | None = None,
    account: TradingAccount | int | None = None,
    strategy_public_id: uuid.UUID | None = None,
    account_public_id: uuid.UUID | None = None,
    statuses: Sequence[str] = (),
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[StrategyDecision]:
    """The live runtime's decisions, newest first, with their strategy, account and contract.

    The account is the one the decision was made on (its runtime's), which stays true after the
    strategy moves to another account. Dates are trading dates of ``decided_at``. The runtime's
    pickled desk is never loaded: it is large and no reader of decisions needs it.
    """
    queryset = (
        StrategyDecision.objects.for_tenant(tenant)
        .select_related("strategy_config", "runtime__account", "runtime__instrument")
        .defer("runtime__state")
        .order_by("-decided_at", "-pk")
    )
    if strategy_config is not None:
        queryset = queryset.filter(
            strategy_config_id=getattr(strategy_config, "pk", strategy_config)
        )
    if account is not None:
        queryset = queryset.filter(runtime__account_id=getattr(account, "pk", account))
    if strategy_public_id is not None:
        queryset = queryset.filter(strategy_config__public_id=strategy_public_id)
    if account_public_id is not None:
        queryset = queryset.filter(runtime__account__public_id=account_public_id)
    if statuses:
        queryset = queryset.filter(status__in=list(statuses))
    start, end = trading_date_bounds(date_from=date_from, date_to=date_to)
    if start is not None:
        queryset = queryset.filter(decided_at__gte=start)
    if end is not None:
        queryset = queryset.filter(decided_at__lt=end)
    return queryset


def strategy_runtime_list(*, tenant: Tenant | int) -> QuerySet[StrategyRuntime]:
    """The tenant's live desks without their pickled state, each annotated with ``pending_count``:
    its decisions still to carry out (counted through the (runtime, status) index)."""
    pending = (
        StrategyDecision.objects.for_tenant(tenant)
        .filter(runtime=OuterRef("pk"), status=DecisionStatus.PENDING)
        .order_by()
        .values("runtime")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        StrategyRuntime.objects.for_tenant(tenant)
        .defer("state")
        .annotate(pending_count=Coalesce(Subquery(pending, output_field=IntegerField()), Value(0)))
        .order_by("pk")
    )
