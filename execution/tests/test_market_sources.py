"""Market data kept per source: a simulator's bars and prints never reach a live account's reads."""

import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.models import BrokerConnection, GatewayEnvironment
from accounts.tests.factories import TradingAccountFactory
from execution import selectors
from execution.gateway.types import BarUnit
from execution.marketdata import BarCache, LiveBar, bars_append_live
from execution.models import BarCoverage, CachedBar, Position
from execution.price_feeds import contracts_fed_by, price_feeds_assign
from execution.sources import market_source, source_key
from execution.tests.factories import InstrumentFactory

CONTRACT = "CON.F.US.EP.H25"
DAY = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday
NOW = DAY + timedelta(days=2)


def test_a_source_is_its_environment_and_gateway_url():
    live = source_key(environment="live", api_url="https://api.topstepx.test/api")
    assert live == source_key(environment="live", api_url="https://API.topstepx.test/api/")
    assert live != source_key(environment="simulator", api_url="https://api.topstepx.test/api")
    assert live != source_key(environment="live", api_url="https://other-firm.test/api")
    assert live.startswith("live-")
    assert len(live) <= 24


def test_the_settings_give_live_and_simulator_logins_different_sources(settings):
    settings.PROJECTX_LIVE_API_URL = "http://127.0.0.1:8701/api"
    settings.PROJECTX_SIM_API_URL = "http://127.0.0.1:8701/api"  # even on one host: never shared
    live, sim = market_source(GatewayEnvironment.LIVE), market_source(GatewayEnvironment.SIMULATOR)
    assert live.is_live
    assert not sim.is_live
    assert live.key != sim.key


class Gateway:
    """A fetch that serves one flat price per minute and writes down what it was asked."""

    def __init__(self, price: str) -> None:
        self.price, self.calls = Decimal(price), []

    def __call__(self, contract_id, *, start, end, unit, unit_number):
        self.calls.append((contract_id, start, end))
        minutes = int((end - start).total_seconds() // 60)
        return [
            LiveBar(contract_id, start + timedelta(minutes=i), *[self.price] * 4, 10)
            for i in range(minutes)
        ]


@pytest.fixture
def hot_layer(settings):
    client = redis.Redis.from_url(settings.REDIS_URL)
    prefix = f"test-src-{secrets.token_hex(4)}"
    yield client, prefix
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)


def cache_for(source, gateway, hot_layer):
    client, prefix = hot_layer
    return BarCache(
        fetch=gateway, source=source, scope=source, redis_client=client,
        clock=lambda: NOW, key_prefix=prefix,
    )  # fmt: skip


def closes(cache, start, end):
    series = cache.read(
        contract_id=CONTRACT, unit=BarUnit.MINUTE, unit_number=1, start=start, end=end
    )
    return set(series.prices("close"))


@pytest.mark.django_db
def test_one_contract_id_keeps_each_sources_bars_apart(hot_layer):
    live_gw, sim_gw = Gateway("5000.25"), Gateway("4000.75")
    live = cache_for("live-aaaa", live_gw, hot_layer)
    sim = cache_for("simulator-bbbb", sim_gw, hot_layer)
    start, end = DAY + timedelta(hours=14), DAY + timedelta(hours=15)

    assert closes(sim, start, end) == {Decimal("4000.75")}  # the simulator is read first
    assert closes(live, start, end) == {Decimal("5000.25")}
    assert len(live_gw.calls) == 1  # the simulator's coverage did not stand in for the live gateway
    # whole days are kept hot: the hot layer keeps them apart too
    assert closes(sim, DAY, DAY + timedelta(days=1)) == {Decimal("4000.75")}
    assert closes(live, DAY, DAY + timedelta(days=1)) == {Decimal("5000.25")}
    assert closes(live, DAY, DAY + timedelta(days=1)) == {Decimal("5000.25")}  # from Redis
    assert set(CachedBar.objects.values_list("source", flat=True)) == {
        "live-aaaa",
        "simulator-bbbb",
    }
    assert BarCoverage.objects.filter(source="live-aaaa").count() == 1


@pytest.mark.django_db
def test_hub_bars_go_to_their_own_source_only():
    minute = DAY + timedelta(hours=14)
    bar = LiveBar(CONTRACT, minute, *[Decimal("4000.00")] * 4, 5)
    assert bars_append_live(source="simulator-bbbb", bars=[bar]) == 1
    assert not CachedBar.objects.filter(source="live-aaaa").exists()
    assert CachedBar.objects.get(source="simulator-bbbb").close_price == Decimal("4000.00")


# --- price feeds ------------------------------------------------------------------------------


def login(pk: int, environment: str) -> BrokerConnection:
    return BrokerConnection(pk=pk, environment=environment, username=f"u{pk}", name=f"L{pk}")


ENVIRONMENTS = st.sampled_from([GatewayEnvironment.LIVE, GatewayEnvironment.SIMULATOR])
CONTRACTS = st.sets(st.sampled_from(["CON.F.US.EP.H25", "CON.F.US.ENQ.H25", "CON.F.US.MES.H25"]))


@settings(max_examples=200, deadline=None)
@given(
    fleet=st.dictionaries(st.integers(1, 20), st.tuples(ENVIRONMENTS, CONTRACTS), min_size=1),
    down=st.sets(st.integers(1, 20)),
)
def test_each_contract_is_fed_once_per_source_by_a_login_of_that_source(fleet, down):
    logins = {pk: login(pk, env) for pk, (env, _) in fleet.items()}
    wanted = {pk: contracts for pk, (_, contracts) in fleet.items()}
    feeds = price_feeds_assign(logins=logins, wanted=wanted, down=down)

    source_of = {pk: market_source(conn.environment).key for pk, conn in logins.items()}
    expected = {(source_of[pk], c) for pk, contracts in wanted.items() for c in contracts}
    assert sorted((f.source, f.contract_id) for f in feeds) == sorted(expected)
    for feed in feeds:
        assert source_of[feed.connection_id] == feed.source  # never across sources
        assert feed.is_live == (logins[feed.connection_id].environment == GatewayEnvironment.LIVE)
        same_source_up = [pk for pk in logins if source_of[pk] == feed.source and pk not in down]
        if same_source_up:  # failover: a login whose market hub is up, of the same source
            assert feed.connection_id not in down
    fed = contracts_fed_by(feeds)
    assert sum(len(ids) for ids in fed.values()) == len(feeds)


def test_a_live_contract_fails_over_to_another_live_login_never_to_a_simulator():
    logins = {1: login(1, "live"), 2: login(2, "simulator"), 3: login(3, "live")}
    wanted = {1: {CONTRACT}, 2: {CONTRACT}}
    feeds = {(f.source, f.contract_id): f.connection_id for f in price_feeds_assign(
        logins=logins, wanted=wanted, down=set())}  # fmt: skip
    live, sim = market_source("live").key, market_source("simulator").key
    assert feeds == {(live, CONTRACT): 1, (sim, CONTRACT): 2}
    moved = price_feeds_assign(logins=logins, wanted=wanted, down={1})
    assert {(f.source, f.connection_id) for f in moved} == {(live, 3), (sim, 2)}
    all_live_down = price_feeds_assign(logins=logins, wanted=wanted, down={1, 3})
    assert {(f.source, f.connection_id) for f in all_live_down} == {(live, 1), (sim, 2)}


@pytest.mark.django_db
def test_marks_of_a_source_reach_only_the_accounts_of_its_environment(tenant_a, tenant_b):
    instrument = InstrumentFactory(contract_id=CONTRACT)
    live = TradingAccountFactory(tenant=tenant_a, connection__environment="live")
    paper = TradingAccountFactory(tenant=tenant_b, connection__environment="simulator")
    for account in (live, paper):
        Position.all_tenants.create(
            tenant=account.tenant, account=account, instrument=instrument, net_size=1,
            average_price=Decimal("5000"),
        )  # fmt: skip
    holding = selectors.fleet_accounts_holding
    assert holding(environment="live", contract_ids=[CONTRACT]) == [live]
    assert holding(environment="simulator", contract_ids=[CONTRACT]) == [paper]


@pytest.mark.django_db
def test_the_hubs_process_moves_a_live_feed_off_a_login_whose_market_hub_dropped(
    tenant_a, tenant_b
):
    """The wiring of execution/hubs_process.py: hub states recorded by ingest steer the feeds, a
    live contract moves to the other live login, and the paper login keeps its own feed."""
    from analytics.health import hub_state_record
    from execution.hubs_process import _fleet

    instrument = InstrumentFactory(contract_id=CONTRACT)
    paper = TradingAccountFactory(tenant=tenant_b, connection__environment="simulator")
    first = TradingAccountFactory(tenant=tenant_a, connection__environment="live")
    second = TradingAccountFactory(tenant=tenant_a, connection__environment="live")
    for account in (paper, first):
        Position.all_tenants.create(
            tenant=account.tenant, account=account, instrument=instrument, net_size=1,
            average_price=Decimal("5000"),
        )  # fmt: skip
    live_key = market_source(GatewayEnvironment.LIVE).key
    logins = (paper.connection_id, first.connection_id, second.connection_id)
    for pk in logins:
        hub_state_record(connection_id=pk, hub="market", connected=True, reason=None)

    def feeding():
        _, feeds = _fleet()
        return {(f.source == live_key, f.connection_id) for f in feeds}

    assert feeding() == {(True, first.connection_id), (False, paper.connection_id)}
    hub_state_record(connection_id=first.connection_id, hub="market", connected=False, reason="x")
    assert feeding() == {(True, second.connection_id), (False, paper.connection_id)}
    # a rebuild stops every listener cleanly: that is no failure, the feed stays where it is
    hub_state_record(
        connection_id=second.connection_id, hub="market", connected=False, reason="stop"
    )
    assert feeding() == {(True, second.connection_id), (False, paper.connection_id)}
    hub_state_record(connection_id=second.connection_id, hub="market", connected=False, reason="x")
    # every live login down: the contract stays on a live login (never on the simulator's)
    assert feeding() == {(True, first.connection_id), (False, paper.connection_id)}


@pytest.mark.django_db
def test_the_health_page_says_which_login_feeds_each_contract(client, django_user_model, account_a):
    from django.urls import reverse

    from analytics.health import price_feeds_record

    account_a.connection.environment = GatewayEnvironment.LIVE
    account_a.connection.save()
    price_feeds_record(
        [{"source": "live-x", "contract_id": CONTRACT, "connection_id": account_a.connection_id,
          "is_live": True}]
    )  # fmt: skip
    # Which login feeds the fleet is the platform's health: superusers only (analytics/health.py).
    staff = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    client.force_login(staff)
    assert f"{CONTRACT} · live" not in client.get(reverse("ops_health")).content.decode()
    operator = django_user_model.objects.create_superuser("ops", password="x")
    client.force_login(operator)
    html = client.get(reverse("ops_health")).content.decode()
    assert f"{CONTRACT} · live" in html
    assert f"Desk A · {account_a.connection.name}" in html
