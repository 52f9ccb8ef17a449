"""Writes for strategy configurations; parameters are validated by the engine's schema per kind."""

from collections.abc import Mapping

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Tenant, TradingAccount
from accounts.services import audit_record, snapshot
from execution.models import OPEN_STATUSES, Instrument, Order
from strategies.models import DecisionStatus, StrategyConfig, StrategyDecision


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


@transaction.atomic
def strategy_move_account(
    *,
    tenant: Tenant,
    config: StrategyConfig,
    account: TradingAccount,
    actor: AbstractBaseUser | None,
) -> StrategyConfig:
    """Move a configuration to another account of the tenant: the per-strategy paper/live switch
    (a simulator account trades paper money, a live one real money).

    Refused, with a message a person can act on, while the strategy could still act on its current
    account: while it is enabled (the simplest safe rule: disable, move, enable again), while orders
    it placed there are open (they would be left without an owner), and while the live runtime still
    has decisions of it to carry out (they would be placed on the old account after the move). Also
    refused: the account it is already on, an inactive account, and a name the target account
    already uses (names are unique per account).
    """
    config.require_tenant(tenant)
    account.require_tenant(tenant)
    config = (
        StrategyConfig.objects.for_tenant(tenant)
        .select_for_update(of=("self",))  # the strategy's row only, not its account's
        .select_related("account")
        .get(pk=config.pk)
    )
    target = TradingAccount.objects.for_tenant(tenant).filter(pk=account.pk).first()
    if target is None:
        raise ValidationError({"account": "No such account."})
    current = config.account
    if target.pk == current.pk:
        raise ValidationError({"account": f"{config.name} already runs on {target.name}."})
    if not target.is_active:
        raise ValidationError(
            {"account": f"{target.name} is not active; choose an active account."}
        )
    if config.is_enabled:
        raise ValidationError(
            {
                "is_enabled": f"Disable {config.name} before moving it to another account: a "
                "strategy is only moved while it is off, so it cannot be trading during the move. "
                "Enable it again once it is on the new account."
            }
        )
    open_orders = (
        Order.objects.for_tenant(tenant)
        .filter(strategy_config=config, account=current, status__in=OPEN_STATUSES)
        .count()
    )
    if open_orders:
        raise ValidationError(
            {
                "open_orders": f"{config.name} still has {open_orders} open order(s) on "
                f"{current.name}; cancel them (or flatten the account) before moving it."
            }
        )
    pending = (
        StrategyDecision.objects.for_tenant(tenant)
        .filter(strategy_config=config, status=DecisionStatus.PENDING)
        .count()
    )
    if pending:
        raise ValidationError(
            {
                "pending_decisions": f"The live runtime is still carrying out {pending} "
                f"decision(s) of {config.name} on {current.name}; try again in a minute."
            }
        )
    clash = (
        StrategyConfig.objects.for_tenant(tenant)
        .filter(account=target, name=config.name)
        .exclude(pk=config.pk)
    )
    if clash.exists():
        raise ValidationError(
            {
                "name": f"{target.name} already has a strategy named {config.name}; rename one of "
                "them first."
            }
        )
    before = snapshot(config)
    config.account = target
    config.save(update_fields=["account", "updated_at"])
    audit_record(
        tenant=tenant,
        actor=actor,
        action="strategy.move_account",
        target=config,
        before=before,
        after=snapshot(config),
    )
    return config
