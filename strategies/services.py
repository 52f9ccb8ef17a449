"""Writes for strategy configurations; parameters are validated by the engine's schema per kind."""

from collections.abc import Mapping

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Tenant, TradingAccount
from accounts.services import audit_record, snapshot
from execution.models import Instrument
from strategies.models import StrategyConfig


@transaction.atomic
def strategy_set_enabled(
    *, tenant: Tenant, config: StrategyConfig, is_enabled: bool, actor: AbstractBaseUser | None
) -> StrategyConfig:
    config.require_tenant(tenant)
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


# --- Added for the REST API (strategies/api) ---------------------------------------------------


def strategy_params_clean(*, kind: str, params: Mapping[str, object] | None) -> dict[str, object]:
    """The kind's defaults overlaid with `params`, validated, in the JSON form stored in the row.

    Raises strategies.engine.params.ParameterError with a {field: message} mapping (every bad field at
    once). The engine's schema is the one authority, so a value it would refuse is never stored.
    """
    from strategies.engine.params import ParameterError, validate_params
    from strategies.engine.registry import STRATEGY_KINDS

    values = validate_params(kind, params)  # unknown kind raises ParameterError({"kind": ...})
    if kind not in STRATEGY_KINDS:  # validate_params knows it, so this means the registry changed
        raise ParameterError({"kind": f"unknown strategy kind {kind!r}"})
    return STRATEGY_KINDS[kind].schema.to_json(values)


@transaction.atomic
def strategy_config_create(
    *,
    tenant: Tenant,
    actor: AbstractBaseUser | None,
    account: TradingAccount,
    instrument: Instrument,
    name: str,
    kind: str,
    params: Mapping[str, object] | None = None,
) -> StrategyConfig:
    """A new configuration, always created disabled: enabling is its own audited step."""
    config = StrategyConfig(
        tenant=tenant,
        account=account,
        instrument=instrument,
        name=name,
        kind=kind,
        params=strategy_params_clean(kind=kind, params=params),
        is_enabled=False,
    )
    config.assert_same_tenant(account)
    # Parameters were checked by the kind's schema above, the one authority (an empty set is valid).
    config.full_clean(exclude=["tenant", "params"])
    config.save()
    audit_record(
        tenant=tenant, actor=actor, action="strategy.create", target=config, after=snapshot(config)
    )
    return config


@transaction.atomic
def strategy_config_update(
    *,
    tenant: Tenant,
    config: StrategyConfig,
    actor: AbstractBaseUser | None,
    name: str | None = None,
    params: Mapping[str, object] | None = None,
) -> StrategyConfig:
    """Rename and/or replace parameters (validated as a whole; omitted ones take their defaults).

    Account, kind and instrument are fixed at creation: changing them under a running strategy would
    orphan its working orders; create a new configuration instead.
    """
    config.require_tenant(tenant)
    config = StrategyConfig.objects.for_tenant(tenant).select_for_update().get(pk=config.pk)
    before = snapshot(config)
    if name is not None:
        config.name = name
    if params is not None:
        config.params = strategy_params_clean(kind=config.kind, params=params)
    config.full_clean(exclude=["tenant", "params"])  # params: the kind's schema checked them
    config.save(update_fields=["name", "params", "updated_at"])
    audit_record(
        tenant=tenant,
        actor=actor,
        action="strategy.update",
        target=config,
        before=before,
        after=snapshot(config),
    )
    return config


@transaction.atomic
def strategy_config_delete(
    *, tenant: Tenant, config: StrategyConfig, actor: AbstractBaseUser | None
) -> None:
    """Delete a disabled configuration; an enabled one may be trading, so it must be disabled first."""
    config.require_tenant(tenant)
    config = StrategyConfig.objects.for_tenant(tenant).select_for_update().get(pk=config.pk)
    if config.is_enabled:
        raise ValidationError({"is_enabled": "disable the strategy before deleting it"})
    audit_record(
        tenant=tenant, actor=actor, action="strategy.delete", target=config, before=snapshot(config)
    )
    config.delete()
