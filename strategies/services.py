"""Writes for strategy configurations; parameters are validated by the engine's schema per kind."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from accounts.models import Tenant
from accounts.services import audit_record, snapshot
from strategies.models import StrategyConfig


@transaction.atomic
def strategy_set_enabled(
    *, tenant: Tenant, config: StrategyConfig, is_enabled: bool, actor: AbstractBaseUser | None
) -> StrategyConfig:
    if config.tenant_id != tenant.pk:
        raise PermissionError("strategy belongs to another tenant")
    config = StrategyConfig.objects.for_tenant(tenant).select_for_update().get(pk=config.pk)
    before = snapshot(config)
    if config.is_enabled != is_enabled:
        config.is_enabled = is_enabled
        config.save(update_fields=["is_enabled", "updated_at"])
    audit_record(
        tenant=tenant,
        actor=actor,
        action="strategy.enable" if is_enabled else "strategy.disable",
        target=config,
        before=before,
        after=snapshot(config),
    )
    return config
