"""End to end on the simulator: the market hub freezes while its connection stays open (the
simulator's feed-freeze switch). The hubs process's watchdog must find the feed stale against the
gateway's REST bars, alert, reconnect the market hub, and the desk must refuse to step (saying so in
the journal, once) until the feed is fresh again; then it steps."""

import logging
import time
from datetime import datetime

import pytest

from accounts.models import GatewayEnvironment
from execution.price_feeds import feed_staleness
from execution.sources import market_source
from execution.tests.factories import InstrumentFactory
from execution.tests.simulated import platform_on, simulator_account
from execution.tests.test_live_prices_e2e import hubs_process, wait_until
from simulator.testing import running_simulator
from strategies.live.steps import desk_step
from strategies.models import StrategyDecision, StrategyRuntime
from strategies.tests.factories import StrategyConfigFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("hubs")]


def sim_now(sim) -> datetime:
    return datetime.fromisoformat(str(sim.state()["now"]).replace("Z", "+00:00"))


@pytest.fixture
def desk(tmp_path, settings, tenant_a):
    settings.MARKET_FEED_CHECK_SECONDS = 0.2
    settings.MARKET_FEED_STALE_SECONDS = 90
    with running_simulator(tmp_path / "sim.sqlite3") as sim, platform_on(sim, settings):
        account = simulator_account(sim, tenant_a)
        instrument = InstrumentFactory(contract_id=sim.contract_id(), name="EP")
        StrategyConfigFactory(
            tenant=tenant_a, account=account, instrument=instrument, is_enabled=True
        )
        yield sim, account, instrument


def refusals(account) -> list[str]:
    return list(
        StrategyDecision.objects.for_tenant(account.tenant)
        .filter(reason__startswith="not stepped: the market feed")
        .values_list("reason", flat=True)
    )


def market_connections(sim) -> list:
    return [c for c in sim.server.hubs.connections if c.hub == "market"]


def test_a_frozen_market_feed_pauses_the_desk_until_it_is_fresh(desk, caplog):
    sim, account, instrument = desk
    source = market_source(GatewayEnvironment.SIMULATOR).key
    contract_id = instrument.contract_id

    def stale():
        return feed_staleness(source=source, contract_id=contract_id)

    caplog.set_level(logging.WARNING)
    with hubs_process():
        wait_until(lambda: len(market_connections(sim)) == 1)
        first_connection = market_connections(sim)[0]
        sim.step(1)  # the hub prints the minute
        time.sleep(1.0)  # delivered, and checked fresh by the watchdog
        sim.set_market(freeze_seconds=3600)
        sim.step(1)  # one quiet minute is not yet a frozen feed (90 s)
        with pytest.raises(AssertionError):
            wait_until(lambda: stale() is not None, timeout=1.5)
        sim.step(2)  # REST has bars 135 s newer than the newest hub print
        wait_until(lambda: stale() is not None)
        wait_until(lambda: "market hub: reconnect requested" in caplog.text)
        wait_until(lambda: first_connection not in market_connections(sim))
        wait_until(lambda: len(market_connections(sim)) == 1)  # the new one, subscribed again
        time.sleep(1.0)  # a pile-up of reconnects would show by now
        connected = market_connections(sim)

        frozen_at = sim_now(sim)
        runtime = desk_step(account=account, instrument=instrument, now=frozen_at)
        sim.step(1)  # still frozen; the watchdog renews the record with the newer REST bar
        time.sleep(1.0)
        assert stale()["rest_bar_at"] > stale()["since"]
        desk_step(account=account, instrument=instrument, now=sim_now(sim))  # refused again

        sim.set_market(freeze_seconds=0)  # thaw
        sim.step(1)
        wait_until(lambda: stale() is None)
        fresh_at = sim_now(sim)
        resumed = desk_step(account=account, instrument=instrument, now=fresh_at)

    assert len(connected) == 1  # one market connection only (no pile-up)
    assert connected[0].market_subs["GatewayTrade"] == {contract_id}  # subscriptions replayed
    assert "is stale: newest hub event" in caplog.text  # the operator's alert
    assert "stale since" in runtime.last_error
    assert runtime.stepped_at is None  # it did not step on the stale tail
    assert len(refusals(account)) == 1, refusals(account)  # said once per episode
    assert contract_id in refusals(account)[0]
    resumed = StrategyRuntime.objects.for_tenant(account.tenant).get(pk=resumed.pk)
    assert resumed.last_error == ""
    assert resumed.stepped_at == fresh_at
    assert resumed.bars_through == fresh_at  # every closed minute, the frozen ones from REST
