"""A bracket from placement to fill to flat through the real client and the real hubs process, against
the simulator: the platform's records (orders, fills, position, day P&L, balance) match the broker's."""

import asyncio
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest

from execution import broker
from execution.gateway.types import BarUnit, Bracket, OrderSide, OrderType, PlaceOrderRequest
from execution.hubs_process import serve
from execution.marketdata import BarCache
from execution.models import (
    AccountDay,
    BarCoverage,
    CachedBar,
    Fill,
    Order,
    OrderRole,
    OrderStatus,
    Position,
)
from execution.sources import market_source_for
from execution.tests.factories import InstrumentFactory
from execution.tests.simulated import platform_on, simulator_account, tasks_inline
from simulator.testing import running_simulator
from simulator.tests.conftest import BRACKET_BARS, BRACKET_START, write_bars
from strategies.tests.factories import StrategyConfigFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("hubs")]


@pytest.fixture
def sim(tmp_path, settings):
    data = write_bars(tmp_path / "ep.csv.gz", BRACKET_BARS, BRACKET_START)
    with (
        running_simulator(tmp_path / "sim.sqlite3", data={"EP": data}, history_minutes=2) as handle,
        platform_on(handle, settings),
    ):
        yield handle


@pytest.fixture
def eager_celery():
    """Resync tasks run inline in the hubs process, as a worker would run them."""
    with tasks_inline():
        yield


@pytest.fixture
def account(sim, tenant_a):
    return simulator_account(sim, tenant_a)


@pytest.fixture
def hubs_process(account, eager_celery):
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(
        target=loop.run_until_complete, args=(serve(stop, rescan_seconds=0.5),), daemon=True
    )
    thread.start()
    yield
    loop.call_soon_threadsafe(stop.set)
    thread.join(timeout=10)


def wait_until(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def hubs_listening(sim, contract_id: str | None = None) -> bool:
    """One user-hub connection subscribed to the account's orders and trades (and, with a contract,
    a market connection subscribed to its trades): events sent from now on reach the platform."""
    users = [c for c in sim.server.hubs.connections if c.hub == "user"]
    if len(users) != 1 or not all(
        sim.account_id in users[0].account_subs.get(kind, ()) for kind in ("orders", "trades")
    ):
        return False
    return contract_id is None or any(
        contract_id in c.market_subs.get("GatewayTrade", ())
        for c in sim.server.hubs.connections
        if c.hub == "market"
    )


def test_bracket_round_trip_matches_the_broker_to_the_cent(sim, account, hubs_process):
    client = broker.gateway_client_for(connection=account.connection)
    wait_until(lambda: hubs_listening(sim))
    placed = client.place_order(
        PlaceOrderRequest(
            account_id=sim.account_id,
            contract_id=sim.contract_id(),
            type=OrderType.MARKET,
            side=OrderSide.BID,
            size=1,
            custom_tag="e2e-1",
            stop_loss=Bracket(8, OrderType.STOP),
            take_profit=Bracket(12, OrderType.LIMIT),
        )
    )
    sim.step(1)  # entry fills at 5000.00
    tenant = account.tenant
    # The held contract joins the fleet: the hubs process rebuilds its listeners (user hub
    # included) to watch it. Events sent while it reconnects would only come back through the
    # REST resync, which reads the platform's trading day, not the simulator's 2025 one.
    wait_until(lambda: Position.objects.for_tenant(tenant).filter(net_size=1).exists())
    wait_until(lambda: hubs_listening(sim, sim.contract_id()))
    sim.step(1)  # take-profit at 5003.00, stop-loss cancelled

    wait_until(lambda: Fill.objects.for_tenant(tenant).count() == 2)
    wait_until(lambda: Position.objects.for_tenant(tenant).filter(net_size=0).exists())
    broker_balance = next(a.balance_usd for a in client.search_accounts() if a.id == sim.account_id)
    wait_until(lambda: AccountDay.objects.for_tenant(tenant).get().balance_usd == broker_balance)

    # The broker cancels the unused stop-loss after it reports the balance: wait for that too.
    wait_until(
        lambda: (
            Order.objects.for_tenant(tenant)
            .filter(role=OrderRole.STOP_LOSS, status=OrderStatus.CANCELLED)
            .exists()
        )
    )
    entry = Order.objects.for_tenant(tenant).get(broker_order_id=placed.order_id)
    assert entry.status == OrderStatus.FILLED
    assert entry.average_fill_price == Decimal("5000")
    children = {o.role: o for o in Order.objects.for_tenant(tenant).filter(parent=entry)}
    assert children[OrderRole.TAKE_PROFIT].status == OrderStatus.FILLED
    assert children[OrderRole.STOP_LOSS].status == OrderStatus.CANCELLED

    trades = client.search_trades(sim.account_id, start=BRACKET_START.replace(year=2020))
    fills = list(Fill.objects.for_tenant(tenant).order_by("executed_at"))
    assert [(f.broker_trade_id, f.price, f.fees_usd) for f in fills] == [
        (t.id, t.price, t.fees_usd) for t in sorted(trades, key=lambda t: t.created_at)
    ]
    day = AccountDay.objects.for_tenant(tenant).get()
    assert day.realized_pnl_usd == Decimal("150.00")  # 12 ticks x $12.50
    assert day.fees_usd == Decimal("2.80")
    assert broker_balance == Decimal("50000") + day.realized_pnl_usd - day.fees_usd


def test_resync_after_a_gap_takes_the_brokers_state(sim, account):
    """No hubs at all: the REST resync alone records what happened while we were away."""
    client = broker.gateway_client_for(connection=account.connection)
    client.place_order(
        PlaceOrderRequest(
            account_id=sim.account_id,
            contract_id=sim.contract_id(),
            type=OrderType.MARKET,
            side=OrderSide.ASK,
            size=2,
            custom_tag="gap-1",
        )
    )
    sim.step(1)
    broker.account_resync(account=account, since=BRACKET_START)
    broker.account_resync(account=account, since=BRACKET_START)  # twice: nothing doubles
    tenant = account.tenant
    assert Fill.objects.for_tenant(tenant).count() == 1
    position = Position.objects.for_tenant(tenant).get()
    assert position.net_size == -2
    order = Order.objects.for_tenant(tenant).get(custom_tag="gap-1")
    assert order.status == OrderStatus.FILLED
    client.close_position(sim.account_id, sim.contract_id())
    sim.step(1)
    broker.account_resync(account=account, since=BRACKET_START)
    assert Position.objects.for_tenant(tenant).get().net_size == 0


def test_market_hub_trades_become_cached_bars_that_need_no_rest_call(
    sim, account, tenant_a, eager_celery
):
    contract_id = sim.contract_id()
    StrategyConfigFactory(
        tenant=tenant_a,
        account=account,
        is_enabled=True,
        instrument=InstrumentFactory(contract_id=contract_id, name="EP"),
    )
    client = broker.gateway_client_for(connection=account.connection)
    calls = []

    def fetch(cid, *, start, end, unit, unit_number):
        calls.append((start, end))
        return client.retrieve_bars(cid, start=start, end=end, unit=unit, unit_number=unit_number)

    cache = BarCache(
        fetch=fetch,
        source=market_source_for(connection=account.connection).key,
        scope="t",
        clock=lambda: sim.state()["now"],
        key_prefix="t-live",
    )
    start = BRACKET_START
    cache.read(
        contract_id=contract_id,
        unit=BarUnit.MINUTE,
        unit_number=1,
        start=start - timedelta(minutes=2),
        end=start,
    )  # REST knows everything up to the clock
    assert len(calls) == 1

    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(
        target=loop.run_until_complete, args=(serve(stop, rescan_seconds=0.5),), daemon=True
    )
    thread.start()
    try:
        wait_until(lambda: hubs_listening(sim, contract_id))
        sim.step(3)
        end = start + timedelta(minutes=3)
        wait_until(
            lambda: (
                CachedBar.objects.filter(contract_id=contract_id, started_at__gte=start).count()
                == 3
            )
        )
        wait_until(lambda: BarCoverage.objects.filter(contract_id=contract_id, end_at=end).exists())
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)

    rest = client.retrieve_bars(
        contract_id, start=start, end=end - timedelta(seconds=1), unit=BarUnit.MINUTE
    )
    live = CachedBar.objects.filter(contract_id=contract_id, started_at__gte=start).order_by(
        "started_at"
    )
    assert [
        (b.started_at, b.open_price, b.high_price, b.low_price, b.close_price, b.volume)
        for b in live
    ] == [
        (b.opened_at, b.open_price, b.high_price, b.low_price, b.close_price, b.volume)
        for b in rest
    ]
    series = cache.read(
        contract_id=contract_id,
        unit=BarUnit.MINUTE,
        unit_number=1,
        start=start - timedelta(minutes=2),
        end=end,
    )
    assert len(series) == 5
    assert len(calls) == 1  # the newest minutes came from the hub, not from REST


def test_open_positions_are_marked_at_the_market_hubs_prints(sim, account, hubs_process):
    """A held contract is watched on the market hub; its prints give the open P&L the risk watch
    counts (the maximum loss limit includes open P&L)."""
    client = broker.gateway_client_for(connection=account.connection)
    wait_until(lambda: hubs_listening(sim))
    client.place_order(
        PlaceOrderRequest(
            account_id=sim.account_id,
            contract_id=sim.contract_id(),
            type=OrderType.MARKET,
            side=OrderSide.BID,
            size=2,
            custom_tag="mark-1",
        )
    )
    sim.step(1)  # long 2 at 5000.00
    tenant = account.tenant
    wait_until(lambda: Position.objects.for_tenant(tenant).filter(net_size=2).exists())
    wait_until(lambda: hubs_listening(sim, sim.contract_id()))  # the rescan watches the held one
    sim.step(1)  # prints up to 5003.00
    expected = sim.state()["accounts"][0]["unrealizedPnl"]
    wait_until(lambda: Position.objects.for_tenant(tenant).get().unrealized_pnl_usd == expected)
    wait_until(lambda: AccountDay.objects.for_tenant(tenant).get().unrealized_pnl_usd == expected)
    assert expected == Decimal("300.00")  # 2 contracts x 12 ticks (5000.00 -> 5003.00) x $12.50
