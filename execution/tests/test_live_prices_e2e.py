"""End to end on two real simulators, one standing in for the live gateway: a paper account and a live
account hold the same contract id at different prices. The hubs process (execution/hubs_process.py)
must value and risk-check the live account at the live gateway's prints only, and keep the paper
simulator's bars out of the live source's cache reads.

The paper login is created first, so a process that fed each contract once for the whole fleet would
take the paper simulator's prints for both accounts (the filed bug: a fake 1000-point loss that locks
and flattens the funded account)."""

import asyncio
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest

from accounts.crypto import encrypt_secret
from accounts.models import GatewayEnvironment
from accounts.tests.factories import TradingAccountFactory
from analytics.health import price_feed_states
from execution import broker
from execution.gateway.types import BarUnit, OrderSide, OrderType, PlaceOrderRequest
from execution.hubs_process import serve
from execution.marketdata import BarCache
from execution.models import AccountDay, CachedBar, Position
from execution.sources import market_source
from execution.tests.factories import InstrumentFactory
from execution.tests.simulated import tasks_inline
from simulator.testing import running_simulator
from simulator.tests.conftest import BRACKET_BARS, BRACKET_START, write_bars
from strategies.tests.factories import StrategyConfigFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("hubs")]

PAPER_DISCOUNT = Decimal("1000.00")  # the paper market trades 1000 points below the live one


def shifted(bars, by: Decimal):
    return [tuple(str(Decimal(p) - by) for p in bar) for bar in bars]


@pytest.fixture
def markets(tmp_path, settings):
    live_bars = write_bars(tmp_path / "live.csv.gz", BRACKET_BARS, BRACKET_START)
    paper_bars = write_bars(
        tmp_path / "paper.csv.gz", shifted(BRACKET_BARS, PAPER_DISCOUNT), BRACKET_START
    )
    with (
        running_simulator(tmp_path / "live.sqlite3", data={"EP": live_bars}, history_minutes=2)
        as live,
        running_simulator(tmp_path / "paper.sqlite3", data={"EP": paper_bars}, history_minutes=2)
        as paper,
    ):  # fmt: skip
        settings.PROJECTX_LIVE_API_URL = live.base_url
        settings.PROJECTX_LIVE_USER_HUB_URL = live.user_hub_url
        settings.PROJECTX_LIVE_MARKET_HUB_URL = live.market_hub_url
        settings.PROJECTX_SIM_API_URL = paper.base_url
        settings.PROJECTX_SIM_USER_HUB_URL = paper.user_hub_url
        settings.PROJECTX_SIM_MARKET_HUB_URL = paper.market_hub_url
        broker._clients.clear()
        try:
            yield live, paper
        finally:
            broker._clients.clear()


def account_on(handle, tenant, environment):
    account = TradingAccountFactory(
        tenant=tenant,
        projectx_account_id=handle.account_id,
        connection__tenant=tenant,
        connection__environment=environment,
        connection__username=handle.username,
        connection__api_key_encrypted=encrypt_secret(handle.api_key),
    )
    instrument = InstrumentFactory(contract_id=handle.contract_id(), name="EP")
    StrategyConfigFactory(tenant=tenant, account=account, instrument=instrument, is_enabled=True)
    return account


@contextmanager
def hubs_process():
    loop, stop = asyncio.new_event_loop(), asyncio.Event()
    thread = threading.Thread(
        target=loop.run_until_complete, args=(serve(stop, rescan_seconds=0.5),), daemon=True
    )
    with tasks_inline():
        thread.start()
        try:
            yield
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(timeout=10)


def wait_until(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def buy_one(handle, account) -> None:
    broker.gateway_client_for(connection=account.connection).place_order(
        PlaceOrderRequest(
            account_id=handle.account_id,
            contract_id=handle.contract_id(),
            type=OrderType.MARKET,
            side=OrderSide.BID,
            size=1,
            custom_tag=f"e2e-{account.pk}",
        )
    )


def test_a_live_account_is_marked_and_risk_checked_on_live_prices_only(markets, tenant_a, tenant_b):
    live, paper = markets
    paper_account = account_on(paper, tenant_b, GatewayEnvironment.SIMULATOR)  # the older login
    live_account = account_on(live, tenant_a, GatewayEnvironment.LIVE)
    contract_id = live.contract_id()
    assert paper.contract_id() == contract_id  # the simulator uses TopStepX's contract ids

    with hubs_process():
        time.sleep(1.5)  # connected and subscribed
        buy_one(live, live_account)
        buy_one(paper, paper_account)
        live.step(1)  # long 1 at 5000.00
        paper.step(1)  # long 1 at 4000.00
        for account in (live_account, paper_account):
            wait_until(
                lambda a=account: Position.objects.for_tenant(a.tenant).filter(net_size=1).exists()
            )
        time.sleep(1.0)  # the fleet rescan subscribes the held contract on both sources
        live.step(1)  # prints up to 5003.00
        paper.step(1)  # prints up to 4003.00
        live_pnl = live.state()["accounts"][0]["unrealizedPnl"]
        paper_pnl = paper.state()["accounts"][0]["unrealizedPnl"]

        def marked(account, pnl):
            position = Position.objects.for_tenant(account.tenant).get()
            return position.unrealized_pnl_usd == pnl

        wait_until(lambda: marked(live_account, live_pnl))
        wait_until(lambda: marked(paper_account, paper_pnl))
        time.sleep(2 * 2.0)  # two more mark rounds: a crossed print would show by now
        feeds = price_feed_states()

    live_day = AccountDay.objects.for_tenant(tenant_a).get()
    assert not live_day.is_locked, live_day.locked_reason  # no fake 1000-point loss reached it
    assert live_pnl == Decimal("150.00")  # 12 ticks x $12.50 above the live fill
    assert marked(live_account, live_pnl)
    assert live_day.unrealized_pnl_usd == live_pnl
    assert Position.objects.for_tenant(tenant_a).get().average_price == Decimal("5000.00")

    live_key = market_source(GatewayEnvironment.LIVE).key
    paper_key = market_source(GatewayEnvironment.SIMULATOR).key
    fed = {(f["source"], f["contract_id"]): (f["connection_id"], f["is_live"]) for f in feeds}
    assert fed == {
        (live_key, contract_id): (live_account.connection_id, True),
        (paper_key, contract_id): (paper_account.connection_id, False),
    }

    # The hub-built bars of each source hold that source's prices only...
    live_closes = set(
        CachedBar.objects.filter(source=live_key, contract_id=contract_id).values_list(
            "close_price", flat=True
        )
    )
    paper_closes = set(
        CachedBar.objects.filter(source=paper_key, contract_id=contract_id).values_list(
            "close_price", flat=True
        )
    )
    assert live_closes
    assert paper_closes
    assert all(Decimal("4990") < p < Decimal("5010") for p in live_closes)
    assert all(Decimal("3990") < p < Decimal("4010") for p in paper_closes)

    # ...and a live desk's cache read (what strategies/live/steps.py does) sees live bars only.
    client = broker.gateway_client_for(connection=live_account.connection)
    cache = BarCache(
        fetch=lambda cid, **kw: client.retrieve_bars(cid, **kw),
        source=live_key,
        scope="e2e",
        clock=lambda: live.state()["now"],
    )
    series = cache.read(
        contract_id=contract_id,
        unit=BarUnit.MINUTE,
        unit_number=1,
        start=BRACKET_START - timedelta(minutes=2),
        end=BRACKET_START + timedelta(minutes=2),
    )
    assert len(series) == 4
    assert all(Decimal("4990") < p < Decimal("5010") for p in series.prices("close"))
