"""The live runtime's outbox against the real simulator: a decision is carried out once whatever
dies or fails in the middle (strategies/live/outbox.py)."""

# ruff: noqa: F811 - the simulator fixtures of execution/tests/test_trading.py are imported

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from execution import ingest, trading
from execution.models import Order, OrderStatus
from execution.tests.simulated import tasks_inline
from execution.tests.test_trading import (  # noqa: F401
    account,
    broker_orders,
    install_client,
    session_now,
    sim,
)
from markets.fills import OrderKind, Side
from strategies.engine.intents import Flatten, PlaceBracket
from strategies.live.outbox import TAG_PREFIX, decision_rows, decisions_carry_out
from strategies.models import DecisionStatus, StrategyDecision, StrategyRuntime

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("trading_sim")]

TAG = "c1/2025-03-03#1:buy"


@pytest.fixture
def runtime(sim, account):
    instrument = ingest.instrument_for_contract(sim.contract_id("EP"))
    return StrategyRuntime.all_tenants.create(
        tenant_id=account.tenant_id, account=account, instrument=instrument
    )


def pending(runtime, intent, now) -> StrategyDecision:
    """A decision as a step stores it, before a worker carries it out."""
    (row,) = decision_rows(runtime, [], [intent], now, Decimal("5000.00"))
    row.save()
    return row


def market_entry() -> PlaceBracket:
    return PlaceBracket(TAG, Side.BUY, 1, OrderKind.MARKET, None, 8, 12, "test entry")


def test_a_placement_carried_out_again_after_a_killed_worker_places_one_order(sim, runtime):
    now = session_now()
    decision = pending(runtime, market_entry(), now)
    with tasks_inline():  # the send runs inline, as a worker would
        assert decisions_carry_out(runtime=runtime, now=now) == 1
        # The worker died after placing and before recording DONE: the decision is pending again.
        StrategyDecision.all_tenants.filter(pk=decision.pk).update(status=DecisionStatus.PENDING)
        assert decisions_carry_out(runtime=runtime, now=now) == 1
    assert len(broker_orders(sim, TAG_PREFIX + TAG)) == 1
    order = Order.objects.for_tenant(runtime.tenant_id).get(custom_tag=TAG_PREFIX + TAG)
    assert order.status == OrderStatus.WORKING
    assert (order.stop_loss_ticks, order.take_profit_ticks) == (-8, 12)
    decision.refresh_from_db()
    assert decision.status == DecisionStatus.DONE
    assert decision.outcome == f"order {order.pk} working"


def test_a_broker_outage_keeps_the_flatten_pending_until_the_broker_answers(sim, account, runtime):
    install_client(sim, account)  # short back-offs: the outage outlasts the client's retries
    now = session_now()
    entry = trading.order_submit(
        tenant=account.tenant,
        account=account,
        proposal=trading.OrderProposal(instrument=runtime.instrument, side=Side.BUY, size=1),
        now=now,
    )
    trading.order_send(order=entry, now=now)
    sim.step(1)  # filled: long 1
    decision = pending(runtime, Flatten("flatten time"), now)
    sim.set_faults(error_status=503, error_count=-1)
    assert decisions_carry_out(runtime=runtime, now=now) == 0
    decision.refresh_from_db()
    assert decision.status == DecisionStatus.PENDING
    assert decision.outcome.startswith("will retry:")
    sim.clear_faults()
    assert decisions_carry_out(runtime=runtime, now=now + timedelta(minutes=1)) == 1
    decision.refresh_from_db()
    assert decision.status == DecisionStatus.DONE
    sim.step(1)  # the close is a market order: it fills at the next open
    client = install_client(sim, account)
    assert client.search_open_positions(sim.account_id) == []


def test_a_placement_not_carried_out_within_two_minutes_is_given_up(sim, runtime):
    decided = session_now()
    decision = pending(runtime, market_entry(), decided)
    assert decisions_carry_out(runtime=runtime, now=decided + timedelta(minutes=3)) == 1
    decision.refresh_from_db()
    assert decision.status == DecisionStatus.FAILED
    assert "given up" in decision.outcome
    assert broker_orders(sim, TAG_PREFIX + TAG) == []
    assert not Order.objects.for_tenant(runtime.tenant_id).exists()


def test_a_step_that_cannot_read_bars_says_why_and_the_next_one_recovers(sim, account, runtime):
    from execution.gateway.errors import GatewayError
    from strategies.live.steps import desk_step
    from strategies.models import StrategyConfig

    install_client(sim, account)
    StrategyConfig.objects.for_tenant(account.tenant).create(
        tenant=account.tenant,
        name="ORB",
        kind="overnight_range_breakout",
        account=account,
        instrument=runtime.instrument,
        is_enabled=True,
    )
    sim.set_faults(error_status=503, error_count=-1)
    with pytest.raises(GatewayError):
        desk_step(account=account, instrument=runtime.instrument)
    runtime.refresh_from_db()
    assert "503" in runtime.last_error
    assert runtime.state is None  # nothing half-stepped was kept
    sim.clear_faults()
    desk_step(account=account, instrument=runtime.instrument)
    runtime.refresh_from_db()
    assert runtime.last_error == ""
    assert runtime.state is not None


class _Payload:
    """A pickle that runs code when loaded: what a forged desk state would carry."""

    ran: list[str] = []

    def __reduce__(self):
        return (_Payload.ran.append, ("code ran while loading the desk state",))


def test_a_forged_desk_state_is_never_unpickled_and_the_desk_is_rebuilt(sim, account, runtime):
    import pickle

    from strategies.live.state import desk_load
    from strategies.live.steps import _enabled_configs, _signature, desk_step
    from strategies.models import StrategyConfig

    install_client(sim, account)
    StrategyConfig.objects.for_tenant(account.tenant).create(
        tenant=account.tenant,
        name="ORB",
        kind="overnight_range_breakout",
        account=account,
        instrument=runtime.instrument,
        is_enabled=True,
    )
    signature = _signature(_enabled_configs(account, runtime.instrument))
    forged = pickle.dumps(_Payload())
    StrategyRuntime.all_tenants.filter(pk=runtime.pk).update(state=forged, signature=signature)
    _Payload.ran.clear()

    desk_step(account=account, instrument=runtime.instrument)

    assert _Payload.ran == []  # refused before unpickling
    runtime.refresh_from_db()
    assert runtime.last_error == ""
    assert desk_load(bytes(runtime.state)).signature == signature  # rebuilt, and signed
    journal = StrategyDecision.objects.for_tenant(account.tenant).filter(runtime=runtime)
    (rebuilt,) = [d for d in journal if "saved state unreadable" in d.reason]
    assert rebuilt.status == DecisionStatus.NOTED
    assert "not signed by this platform" in rebuilt.reason
