"""strategy_move_account: the per-strategy paper/live switch (moving a configuration to another
account of the desk), each refusal, the success path and its audit row."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from accounts.models import AuditEntry, GatewayEnvironment, Tenant, TradingAccount
from accounts.tests.factories import TradingAccountFactory
from execution.models import OrderStatus
from execution.tests.factories import InstrumentFactory, OrderFactory
from strategies.models import DecisionStatus, StrategyConfig, StrategyDecision, StrategyRuntime
from strategies.services import strategy_move_account
from strategies.tests.factories import StrategyConfigFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_a(tenant_a: Tenant) -> TradingAccount:
    return TradingAccountFactory(
        tenant=tenant_a, name="Live of A", connection__environment=GatewayEnvironment.LIVE
    )


@pytest.fixture
def strategy(tenant_a: Tenant, account_a: TradingAccount) -> StrategyConfig:
    return StrategyConfigFactory(
        tenant=tenant_a, account=account_a, instrument=InstrumentFactory(), name="ORB ES"
    )


def _moves(tenant: Tenant) -> list[AuditEntry]:
    return list(AuditEntry.objects.for_tenant(tenant).filter(action="strategy.move_account"))


def test_move_to_a_live_account_changes_the_account_and_is_audited(
    tenant_a: Tenant, alice: Any, account_a: TradingAccount, live_a: TradingAccount, strategy: Any
) -> None:
    assert account_a.is_simulated  # precondition: from paper ...

    moved = strategy_move_account(tenant=tenant_a, config=strategy, account=live_a, actor=alice)

    stored = StrategyConfig.objects.for_tenant(tenant_a).get(pk=strategy.pk)
    assert (moved.account_id, stored.account_id) == (live_a.pk, live_a.pk)
    assert stored.account.is_simulated is False  # ... to live
    assert (stored.name, stored.params, stored.is_enabled) == ("ORB ES", {}, False)
    [entry] = _moves(tenant_a)
    assert (entry.actor, entry.object_type, entry.object_id) == (
        alice,
        "StrategyConfig",
        str(strategy.pk),
    )
    assert (entry.before["account"], entry.after["account"]) == (account_a.pk, live_a.pk)


def test_move_back_to_paper_works_the_same_way(
    tenant_a: Tenant, alice: Any, account_a: TradingAccount, live_a: TradingAccount
) -> None:
    config = StrategyConfigFactory(tenant=tenant_a, account=live_a, instrument=InstrumentFactory())

    strategy_move_account(tenant=tenant_a, config=config, account=account_a, actor=alice)

    config.refresh_from_db()
    assert config.account_id == account_a.pk
    assert config.account.is_simulated is True


def _enabled(w: dict[str, Any]) -> None:
    StrategyConfig.all_tenants.filter(pk=w["strategy"].pk).update(is_enabled=True)


def _open_order(status: str) -> Callable[[dict[str, Any]], None]:
    def make(w: dict[str, Any]) -> None:
        OrderFactory(
            tenant=w["tenant"],
            account=w["account"],
            instrument=w["strategy"].instrument,
            strategy_config=w["strategy"],
            status=status,
        )

    return make


def _pending_decision(w: dict[str, Any]) -> None:
    runtime = StrategyRuntime.all_tenants.create(
        tenant=w["tenant"], account=w["account"], instrument=w["strategy"].instrument
    )
    StrategyDecision.all_tenants.create(
        tenant=w["tenant"],
        runtime=runtime,
        strategy_config=w["strategy"],
        decided_at=datetime(2026, 3, 2, 15, 0, tzinfo=UTC),
        action="place",
        tag=f"c{w['strategy'].pk}/2026-03-02#1:buy",
        reason="breakout above the range",
        status=DecisionStatus.PENDING,
    )


def _name_taken(w: dict[str, Any]) -> None:
    StrategyConfigFactory(tenant=w["tenant"], account=w["target"], name=w["strategy"].name)


def _inactive_target(w: dict[str, Any]) -> None:
    TradingAccount.all_tenants.filter(pk=w["target"].pk).update(is_active=False)


REFUSALS = [
    ("enabled_case", _enabled, "is_enabled", "Disable ORB ES before moving it"),
    ("working_order_case", _open_order(OrderStatus.WORKING), "open_orders", "1 open order(s)"),
    ("new_order_case", _open_order(OrderStatus.NEW), "open_orders", "cancel them"),
    (
        "partial_fill_case",
        _open_order(OrderStatus.PARTIALLY_FILLED),
        "open_orders",
        "on Account of A",
    ),
    ("pending_decision_case", _pending_decision, "pending_decisions", "try again in a minute"),
    ("name_clash_case", _name_taken, "name", "already has a strategy named ORB ES"),
    ("inactive_target_case", _inactive_target, "account", "is not active"),
]


@pytest.mark.parametrize(
    ("label", "given", "field", "message"), REFUSALS, ids=[r[0] for r in REFUSALS]
)
def test_move_is_refused_and_nothing_changes(
    tenant_a: Tenant,
    alice: Any,
    account_a: TradingAccount,
    live_a: TradingAccount,
    strategy: StrategyConfig,
    label: str,
    given: Callable[[dict[str, Any]], None],
    field: str,
    message: str,
) -> None:
    given({"tenant": tenant_a, "account": account_a, "target": live_a, "strategy": strategy})
    before = StrategyConfig.all_tenants.filter(pk=strategy.pk).values().get()

    with pytest.raises(ValidationError) as refused:
        strategy_move_account(tenant=tenant_a, config=strategy, account=live_a, actor=alice)

    assert list(refused.value.message_dict) == [field]
    assert message in refused.value.message_dict[field][0]
    assert StrategyConfig.all_tenants.filter(pk=strategy.pk).values().get() == before
    assert _moves(tenant_a) == []


@pytest.mark.parametrize(
    "status", [OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED]
)
def test_finished_orders_of_the_strategy_do_not_block_a_move(
    tenant_a: Tenant,
    alice: Any,
    account_a: TradingAccount,
    live_a: TradingAccount,
    strategy: StrategyConfig,
    status: str,
) -> None:
    _open_order(status)({"tenant": tenant_a, "account": account_a, "strategy": strategy})

    strategy_move_account(tenant=tenant_a, config=strategy, account=live_a, actor=alice)

    strategy.refresh_from_db()
    assert strategy.account_id == live_a.pk


def test_open_orders_of_other_strategies_or_manual_ones_do_not_block_a_move(
    tenant_a: Tenant,
    alice: Any,
    account_a: TradingAccount,
    live_a: TradingAccount,
    strategy: StrategyConfig,
) -> None:
    other = StrategyConfigFactory(tenant=tenant_a, account=account_a, name="Other")
    OrderFactory(tenant=tenant_a, account=account_a, status=OrderStatus.WORKING)  # manual
    OrderFactory(
        tenant=tenant_a, account=account_a, status=OrderStatus.WORKING, strategy_config=other
    )

    strategy_move_account(tenant=tenant_a, config=strategy, account=live_a, actor=alice)

    strategy.refresh_from_db()
    assert strategy.account_id == live_a.pk


def test_done_and_noted_decisions_do_not_block_a_move(
    tenant_a: Tenant,
    alice: Any,
    account_a: TradingAccount,
    live_a: TradingAccount,
    strategy: StrategyConfig,
) -> None:
    _pending_decision({"tenant": tenant_a, "account": account_a, "strategy": strategy})
    StrategyDecision.all_tenants.filter(strategy_config=strategy).update(status=DecisionStatus.DONE)

    strategy_move_account(tenant=tenant_a, config=strategy, account=live_a, actor=alice)

    strategy.refresh_from_db()
    assert strategy.account_id == live_a.pk


def test_moving_to_the_account_it_is_on_is_refused(
    tenant_a: Tenant, alice: Any, account_a: TradingAccount, strategy: StrategyConfig
) -> None:
    with pytest.raises(ValidationError, match="already runs on Account of A"):
        strategy_move_account(tenant=tenant_a, config=strategy, account=account_a, actor=alice)

    assert _moves(tenant_a) == []


def test_another_tenants_account_is_refused_and_nothing_changes(
    tenant_a: Tenant,
    tenant_b: Tenant,
    alice: Any,
    account_a: TradingAccount,
    account_b: TradingAccount,
    strategy: StrategyConfig,
) -> None:
    with pytest.raises(PermissionError):
        strategy_move_account(tenant=tenant_a, config=strategy, account=account_b, actor=alice)

    strategy.refresh_from_db()
    assert strategy.account_id == account_a.pk
    assert _moves(tenant_a) == []
    assert _moves(tenant_b) == []


def test_another_tenants_strategy_is_refused_and_nothing_changes(
    tenant_b: Tenant, bob: Any, account_a: TradingAccount, account_b: TradingAccount, strategy: Any
) -> None:
    with pytest.raises(PermissionError):
        strategy_move_account(tenant=tenant_b, config=strategy, account=account_b, actor=bob)

    strategy.refresh_from_db()
    assert strategy.account_id == account_a.pk
    assert _moves(tenant_b) == []
