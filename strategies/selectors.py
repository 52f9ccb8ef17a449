from django.db.models import QuerySet

from accounts.models import Tenant
from strategies.models import BacktestRun, StrategyConfig


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


def fleet_enabled_contracts() -> dict[int, list[str]]:
    """Contracts that enabled strategies trade, per broker login, each contract under one login only
    (the hubs process subscribes its market data once): across tenants on purpose."""
    rows = (
        StrategyConfig.all_tenants.filter(is_enabled=True, account__is_active=True)
        .order_by("account__connection_id")
        .values_list("account__connection_id", "instrument__contract_id")
    )
    contracts: dict[int, list[str]] = {}
    seen: set[str] = set()
    for connection_id, contract_id in rows:
        if contract_id not in seen:
            seen.add(contract_id)
            contracts.setdefault(connection_id, []).append(contract_id)
    return contracts
