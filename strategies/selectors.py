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
