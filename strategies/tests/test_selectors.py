"""Reads of the live runtime for people: decisions (the journal, the API) and runtime status."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from accounts.models import Tenant, TradingAccount
from execution.tests.factories import InstrumentFactory
from strategies import selectors
from strategies.models import DecisionStatus, StrategyConfig, StrategyDecision, StrategyRuntime
from strategies.tests.factories import StrategyConfigFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 3, 14, 30, tzinfo=UTC)  # 09:30 ET, trading date 2026-03-03


def _runtime(account: TradingAccount, contract_id: str = "CON.F.US.EP.Z26") -> StrategyRuntime:
    instrument = InstrumentFactory(contract_id=contract_id)
    runtime, _ = StrategyRuntime.all_tenants.get_or_create(
        tenant_id=account.tenant_id,
        account=account,
        instrument=instrument,
        defaults={"state": b"x" * 1000},
    )
    return runtime


def _decision(
    runtime: StrategyRuntime,
    config: StrategyConfig | None,
    *,
    at: datetime = T0,
    status: str = DecisionStatus.NOTED,
    reason: str = "range too wide, skipped",
) -> StrategyDecision:
    return StrategyDecision.all_tenants.create(
        tenant_id=runtime.tenant_id,
        runtime=runtime,
        strategy_config=config,
        decided_at=at,
        action="note" if status == DecisionStatus.NOTED else "place",
        reason=reason,
        status=status,
    )


@pytest.fixture
def two_desks(tenant_a: Tenant, account_a: TradingAccount, account_b: TradingAccount) -> Any:
    runtime_a, runtime_b = _runtime(account_a), _runtime(account_b)
    orb = StrategyConfigFactory(
        tenant=tenant_a, account=account_a, instrument=runtime_a.instrument, name="ORB"
    )
    trend = StrategyConfigFactory(
        tenant=tenant_a, account=account_a, instrument=runtime_a.instrument, name="Trend"
    )
    orb_b = StrategyConfigFactory(
        tenant=account_b.tenant, account=account_b, instrument=runtime_b.instrument
    )
    return runtime_a, runtime_b, orb, trend, orb_b


def test_decisions_are_the_tenants_only_newest_first(two_desks: Any, tenant_a: Tenant) -> None:
    runtime_a, runtime_b, orb, trend, orb_b = two_desks
    first = _decision(runtime_a, orb, at=T0)
    desk_note = _decision(runtime_a, None, at=T0 + timedelta(minutes=1))
    tie_1 = _decision(runtime_a, trend, at=T0 + timedelta(minutes=2))
    tie_2 = _decision(runtime_a, orb, at=T0 + timedelta(minutes=2))
    _decision(runtime_b, orb_b, at=T0 + timedelta(minutes=3), reason="tenant B's secret")

    rows = list(selectors.strategy_decision_list(tenant=tenant_a))

    assert rows == [tie_2, tie_1, desk_note, first]


def test_decisions_filter_by_strategy_account_status_and_trading_date(
    two_desks: Any, tenant_a: Tenant, account_a: TradingAccount
) -> None:
    runtime_a, _, orb, trend, _ = two_desks
    other_desk = _runtime(account_a, contract_id="CON.F.US.ENQ.Z26")  # same account, NQ
    orb_note = _decision(runtime_a, orb)
    orb_placed = _decision(runtime_a, orb, status=DecisionStatus.DONE, at=T0 + timedelta(hours=1))
    trend_note = _decision(runtime_a, trend, at=T0 + timedelta(days=1))
    nq_note = _decision(other_desk, None, at=T0 + timedelta(minutes=5))

    def pks(**filters: Any) -> set[int]:
        return {d.pk for d in selectors.strategy_decision_list(tenant=tenant_a, **filters)}

    assert pks(strategy_config=orb) == {orb_note.pk, orb_placed.pk}
    assert pks(strategy_config=trend.pk) == {trend_note.pk}
    assert pks(strategy_public_id=trend.public_id) == {trend_note.pk}
    assert pks(account=account_a) == {orb_note.pk, orb_placed.pk, trend_note.pk, nq_note.pk}
    assert pks(account_public_id=account_a.public_id, statuses=["done"]) == {orb_placed.pk}
    assert pks(date_from=date(2026, 3, 4)) == {trend_note.pk}
    assert pks(date_to=date(2026, 3, 3)) == {orb_note.pk, orb_placed.pk, nq_note.pk}


def test_decisions_stay_with_the_account_they_were_made_on_after_a_move(
    two_desks: Any, tenant_a: Tenant, account_a: TradingAccount
) -> None:
    from accounts.tests.factories import TradingAccountFactory

    runtime_a, _, orb, _, _ = two_desks
    note = _decision(runtime_a, orb)
    elsewhere = TradingAccountFactory(tenant=tenant_a)
    StrategyConfig.all_tenants.filter(pk=orb.pk).update(account=elsewhere)

    assert list(selectors.strategy_decision_list(tenant=tenant_a, account=account_a)) == [note]
    assert list(selectors.strategy_decision_list(tenant=tenant_a, account=elsewhere)) == []
    assert list(selectors.strategy_decision_list(tenant=tenant_a, strategy_config=orb)) == [note]


def test_another_tenants_strategy_or_account_filters_to_nothing(
    two_desks: Any, tenant_a: Tenant, account_b: TradingAccount
) -> None:
    runtime_a, runtime_b, orb, _, orb_b = two_desks
    _decision(runtime_a, orb)
    _decision(runtime_b, orb_b)

    assert not selectors.strategy_decision_list(tenant=tenant_a, strategy_config=orb_b).exists()
    assert not selectors.strategy_decision_list(tenant=tenant_a, account=account_b).exists()


def test_decision_rows_load_in_one_query_without_the_desks_state(
    two_desks: Any, tenant_a: Tenant, django_assert_num_queries: Any
) -> None:
    runtime_a, _, orb, trend, _ = two_desks
    for config in (orb, trend, None, orb):
        _decision(runtime_a, config)

    with django_assert_num_queries(1):
        rows = [
            (
                d.strategy_config.name if d.strategy_config else "desk",
                d.runtime.account.name,
                d.runtime.instrument.symbol,
            )
            for d in selectors.strategy_decision_list(tenant=tenant_a)
        ]

    assert len(rows) == 4
    first = selectors.strategy_decision_list(tenant=tenant_a).first()
    assert "state" in first.runtime.get_deferred_fields()


def test_runtime_list_counts_pending_decisions_per_desk(
    two_desks: Any, tenant_a: Tenant, account_a: TradingAccount
) -> None:
    runtime_a, runtime_b, orb, trend, orb_b = two_desks
    idle = _runtime(account_a, contract_id="CON.F.US.ENQ.Z26")
    _decision(runtime_a, orb, status=DecisionStatus.PENDING)
    _decision(runtime_a, None, status=DecisionStatus.PENDING)
    _decision(runtime_a, trend, status=DecisionStatus.DONE)
    _decision(runtime_a, trend, status=DecisionStatus.NOTED)
    _decision(runtime_b, orb_b, status=DecisionStatus.PENDING)

    runtimes = list(selectors.strategy_runtime_list(tenant=tenant_a))

    assert [(r.pk, r.pending_count) for r in runtimes] == [(runtime_a.pk, 2), (idle.pk, 0)]
    assert all("state" in r.get_deferred_fields() for r in runtimes)
