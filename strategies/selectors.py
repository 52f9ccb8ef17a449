from django.db.models import QuerySet

from accounts.models import Tenant
from strategies.models import StrategyConfig


def strategy_config_list(*, tenant: Tenant | int) -> QuerySet[StrategyConfig]:
    return (
        StrategyConfig.objects.for_tenant(tenant)
        .select_related("account", "instrument")
        .order_by("name")
    )


def strategy_config_get(*, tenant: Tenant | int, config_id: int) -> StrategyConfig | None:
    return strategy_config_list(tenant=tenant).filter(pk=config_id).first()
