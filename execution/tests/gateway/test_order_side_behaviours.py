"""The client against the gateway's order-side behaviours, each reproduced on the simulator by its
switch (projectx-gateway.md §11): the history cap, session tokens renewed around the 09:30 burst
and after a 401, the bracket-mode refusal, trailing stops priced absolutely, StopLimit never sent."""

from datetime import datetime, time, timedelta
from decimal import Decimal
from itertools import pairwise
from time import sleep as wall_sleep

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from execution.gateway.auth import BusyWindows
from execution.gateway.client import GatewayClient
from execution.gateway.config import Credentials
from execution.gateway.errors import BrokerRejected, InvalidRequest, OrderSubmissionUncertain
from execution.gateway.metrics import RedisMetrics
from execution.gateway.ratelimit import EndpointGroup, RateLimit, RedisRateLimiter
from execution.gateway.types import (
    BarUnit,
    Bracket,
    OrderSide,
    OrderType,
    PlaceOrderRequest,
)
from execution.tests.gateway.conftest import sim_config
from markets.sessions import NEW_YORK
from simulator.market import Unit
from simulator.testing import DEFAULT_START, running_simulator

# ------------------------------------------------------------------------------- history cap


def test_a_long_read_pages_past_a_cap_it_was_not_told_about(tmp_path, redis_client, key_prefix):
    """The gateway answers at most `cap` bars whatever the limit asked: the client sees a short
    page that stops far from `start`, looks once more, learns the cap and pages on: every bar of
    two days, in order, no gap, no duplicate, and never more bars requests than the budget."""
    budget = RateLimit(3, 2.0)  # well below the pages needed: the read must wait its turn
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        wall_sleep(seconds)

    limits = {EndpointGroup.BARS: budget, EndpointGroup.GENERAL: RateLimit(200, 60.0)}
    with running_simulator(tmp_path / "cap.sqlite3", bars_rate=(3, 2)) as sim:
        sim.control("POST", "/history/cap", {"bars": 500})
        metrics = RedisMetrics(redis_client, key_prefix=key_prefix)
        limiter = RedisRateLimiter(redis_client, key_prefix=key_prefix, limits=limits, sleep=sleep)
        config = sim_config(sim, rate_limit_wait_seconds=10.0)
        start, end = DEFAULT_START - timedelta(days=2), DEFAULT_START
        with GatewayClient(
            config, Credentials(sim.username, sim.api_key), rate_limiter=limiter, metrics=metrics
        ) as client:
            bars = client.retrieve_bars(
                sim.contract_id(), start=start, end=end, unit=BarUnit.MINUTE
            )
            learnt = client.bars_cap_learnt
        stats = metrics.snapshot()["History/retrieveBars"]

    times = [bar.opened_at for bar in bars]
    assert len(bars) == 2 * 1440
    assert times[0] == start
    assert times[-1] == end - timedelta(minutes=1)
    assert all(b - a == timedelta(minutes=1) for a, b in pairwise(times))
    assert learnt == 500
    assert stats.calls == 6  # ceil(2880 / 500): the look past the first short page is page 2
    assert stats.rate_limited == 0  # the simulator's 3 per 2 s never had to refuse one
    assert sum(waits) > 0  # the shared limiter held pages back instead


@pytest.fixture
def fast_sim(tmp_path):
    """A simulator whose bars budget never refuses (the examples below read many pages)."""
    with running_simulator(tmp_path / "fast.sqlite3", bars_rate=(10_000, 1)) as handle:
        yield handle


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cap=st.integers(150, 3_000),
    start_minute=st.integers(0, 2 * 1440 - 1),
    minutes=st.integers(1, 1440),
    seconds=st.integers(0, 59),
)
def test_any_read_under_any_cap_is_the_whole_range(fast_sim, cap, start_minute, minutes, seconds):
    """Whatever the gateway's cap and the range (bounds off the minute too), the pages joined are
    exactly the bars the simulator holds in [start, end], ascending, each once."""
    sim = fast_sim
    sim.control("POST", "/history/cap", {"bars": cap})
    origin = DEFAULT_START - timedelta(days=2)
    start = origin + timedelta(minutes=start_minute, seconds=seconds)
    end = min(start + timedelta(minutes=minutes), DEFAULT_START)
    engine = sim.server.engine
    truth = sim._sync(lambda: engine.history("EP", start, end, Unit(2, 1), 20_000, False))
    with GatewayClient(sim_config(sim), Credentials(sim.username, sim.api_key)) as client:
        bars = client.retrieve_bars(sim.contract_id(), start=start, end=end, unit=BarUnit.MINUTE)
    assert [b.opened_at for b in bars] == sorted(row["t"] for row in truth)
    assert [b.close_price for b in bars] == [row["c"] for row in reversed(truth)]


def test_a_short_page_that_reaches_start_costs_no_extra_request(client, sim, metrics):
    start, end = DEFAULT_START - timedelta(minutes=30), DEFAULT_START
    bars = client.retrieve_bars(sim.contract_id(), start=start, end=end, unit=BarUnit.MINUTE)
    assert len(bars) == 30
    assert metrics.snapshot()["History/retrieveBars"].calls == 1
    assert client.bars_cap_learnt is None


# ------------------------------------------------------------------------------------ tokens


def _at(hh: int, mm: int) -> datetime:
    return datetime(2026, 3, 10, hh, mm, tzinfo=NEW_YORK)


def _burst(client: GatewayClient, account_id: int, contract_id: str) -> None:
    for _ in range(3):
        client.place_order(
            PlaceOrderRequest(account_id, contract_id, OrderType.MARKET, OrderSide.BID, 1)
        )
        client.search_open_orders(account_id)


def test_a_token_due_during_the_0930_burst_is_renewed_before_it(
    sim, make_client, metrics, time_machine
):
    """One-hour tokens (the simulator's per-login switch) issued at 08:33 fall due at 09:28-09:33.
    With the burst window the client renews in the half hour before it and not at all during it;
    without, the renewal lands in the middle of the orders."""
    sim.control("POST", "/users/token-ttl", {"user": sim.username, "seconds": 3600})
    time_machine.move_to(_at(8, 33), tick=True)
    burst = BusyWindows(spans=((time(9, 29), time(9, 36)),))
    aware = make_client(config={"busy_windows": burst})
    naive = make_client()
    aware.search_accounts()
    naive.search_accounts()
    tokens = {"aware": aware.token(), "naive": naive.token()}

    time_machine.move_to(_at(9, 5), tick=True)
    aware.search_accounts()
    naive.search_accounts()
    assert aware.token() != tokens["aware"]  # renewed ahead of the burst
    assert naive.token() == tokens["naive"]  # not yet due by its lifetime alone
    renewed_until = aware.token_expires_at

    time_machine.move_to(_at(9, 30), tick=True)
    validations = metrics.snapshot()["Auth/validate"].calls
    _burst(aware, sim.account_id, sim.contract_id())
    assert metrics.snapshot()["Auth/validate"].calls == validations  # nothing mid-burst
    assert aware.token_expires_at == renewed_until
    _burst(naive, sim.account_id, sim.contract_id())
    assert metrics.snapshot()["Auth/validate"].calls == validations + 1  # the naive one did


def test_a_401_on_order_place_renews_the_session_and_never_resends(client, sim, metrics):
    client.search_accounts()
    sim.set_faults(expire_tokens=True)
    wall_sleep(1.05)  # the fault's cut-off is the next whole second
    request = PlaceOrderRequest(
        sim.account_id, sim.contract_id(), OrderType.MARKET, OrderSide.BID, 1, custom_tag="t-401"
    )
    with pytest.raises(OrderSubmissionUncertain) as uncertain:
        client.place_order(request)

    assert uncertain.value.custom_tag == "t-401"
    snapshot = metrics.snapshot()
    assert (snapshot["Order/place"].calls, snapshot["Order/place"].auth_failed) == (1, 1)
    assert snapshot["Order/search"].ok == 1  # looked up by its tag, with the renewed session
    assert client.find_order_by_custom_tag(sim.account_id, "t-401", since=DEFAULT_START) is None


# ------------------------------------------------------------------------ orders the gateway refuses


def test_a_position_brackets_refusal_carries_the_entry_it_placed(client, sim):
    sim.control(
        "POST",
        "/accounts/bracket-mode",
        {"accountId": sim.account_id, "mode": "position", "refusalPlacesEntry": True},
    )
    request = PlaceOrderRequest(
        sim.account_id,
        sim.contract_id(),
        OrderType.MARKET,
        OrderSide.BID,
        1,
        custom_tag="brk",
        stop_loss=Bracket(8, OrderType.STOP),
        take_profit=Bracket(12, OrderType.LIMIT),
    )
    with pytest.raises(BrokerRejected) as refused:
        client.place_order(request)
    assert (refused.value.error_code, refused.value.error_name) == (2, "OrderRejected")
    found = client.find_order_by_custom_tag(sim.account_id, "brk", since=DEFAULT_START)
    assert found is not None
    assert refused.value.order_id == found.id


def test_a_trailing_stop_is_sent_with_the_absolute_price_it_starts_at(client, sim):
    sim.step(1)
    last = client.retrieve_bars(
        sim.contract_id(),
        start=DEFAULT_START - timedelta(minutes=5),
        end=DEFAULT_START + timedelta(minutes=1),
        unit=BarUnit.MINUTE,
    )[-1].close_price
    start_at = last - Decimal("2.50")  # 10 ticks below the market
    placed = client.place_order(
        PlaceOrderRequest(
            sim.account_id,
            sim.contract_id(),
            OrderType.TRAILING_STOP,
            OrderSide.ASK,
            1,
            trail_price=start_at,
        )
    )
    order = client.order_by_id(sim.account_id, placed.order_id)
    assert (order.type, order.trail_price, order.stop_price) == (
        OrderType.TRAILING_STOP,
        start_at,
        start_at,
    )
    assert order.trail_distance_ticks == 10


def test_stop_limit_is_never_sent():
    with pytest.raises(InvalidRequest, match="cannot be placed"):
        PlaceOrderRequest(
            1, "CON.F.US.EP.H25", OrderType.STOP_LIMIT, OrderSide.BID, 1, stop_price=Decimal(5000)
        )
