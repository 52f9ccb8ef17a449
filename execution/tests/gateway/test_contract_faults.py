"""The client under the simulator's fault injection: token expiry and 401s, 5xx and 429 retries,
and mutations that fail in transit (never doubled, reconciled by customTag / state)."""

import logging
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from execution.gateway.client import GatewayClient
from execution.gateway.config import Credentials
from execution.gateway.errors import (
    BrokerUnavailable,
    OrderStateConflict,
    OrderSubmissionUncertain,
    OutcomeUncertain,
    RateLimited,
)
from execution.gateway.metrics import RedisMetrics
from execution.gateway.ratelimit import EndpointGroup, RateLimit, RedisRateLimiter
from execution.gateway.types import (
    BarUnit,
    ModifyOrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    PlaceOrderRequest,
    encode_json,
)
from execution.tests.gateway.conftest import sim_config
from simulator.testing import DEFAULT_START, running_simulator

EPOCH = DEFAULT_START - timedelta(days=1)


def resting_buy(client, sim, *, tag: str | None = None) -> PlaceOrderRequest:
    bars = client.retrieve_bars(
        sim.contract_id(),
        start=DEFAULT_START - timedelta(minutes=5),
        end=DEFAULT_START,
        unit=BarUnit.MINUTE,
    )
    return PlaceOrderRequest(
        account_id=sim.account_id,
        contract_id=sim.contract_id(),
        type=OrderType.LIMIT,
        side=OrderSide.BID,
        size=1,
        limit_price=bars[-1].close_price - Decimal(50),
        custom_tag=tag,
    )


def orders_tagged(client, sim, tag: str) -> list:
    return [o for o in client.search_orders(sim.account_id, start=EPOCH) if o.custom_tag == tag]


def raw_post(sim, endpoint: str, body: dict) -> dict:
    """Call the simulator directly (another process acting on the same account)."""
    response = httpx.post(
        f"{sim.base_url}/{endpoint}",
        content=encode_json(body),
        headers={"Authorization": f"Bearer {sim.login()}", "Content-Type": "application/json"},
        timeout=5,
    )
    payload = response.json()
    assert payload["success"] is True, payload
    return payload


def expire_all_tokens(sim) -> None:
    """The simulator's fault; its cut-off is the next whole second, so wait past it."""
    sim.set_faults(expire_tokens=True)
    time.sleep(1.05)


# ------------------------------------------------------------------------------------ tokens


def test_an_expired_token_gets_one_fresh_login_on_401_and_the_call_succeeds(client, sim, metrics):
    client.search_accounts()
    first = client.token()
    expire_all_tokens(sim)

    accounts = client.search_accounts()

    assert [a.id for a in accounts] == [sim.account_id]
    assert client.token() != first
    snapshot = metrics.snapshot()
    assert snapshot["Account/search"].auth_failed == 1
    assert snapshot["Account/search"].ok == 2
    assert snapshot["Auth/loginKey"].ok == 2


def test_token_is_validated_before_exp_and_the_new_token_used(tmp_path, redis_client, key_prefix):
    # 5 s tokens (whole-second iat/exp: 4-5 s of real life) and a 2.5 s margin: renewal falls due
    # 2-2.5 s after login, while the token is still valid.
    with running_simulator(tmp_path / "ttl.sqlite3", token_ttl_seconds=5) as short_sim:
        metrics = RedisMetrics(redis_client, key_prefix=key_prefix)
        config = sim_config(short_sim, token_refresh_margin=timedelta(seconds=2.5))
        with GatewayClient(
            config, Credentials(short_sim.username, short_sim.api_key), metrics=metrics
        ) as client:
            client.search_accounts()
            first, first_exp = client.token(), client.token_expires_at
            time.sleep(2.6)

            client.search_accounts()

            assert client.token() != first
            assert client.token_expires_at > first_exp
    assert metrics.snapshot()["Auth/validate"].ok == 1
    assert metrics.snapshot()["Auth/loginKey"].ok == 1


def test_refused_validate_falls_back_to_a_fresh_login(make_client, sim, metrics):
    offset = timedelta()
    client = make_client(clock=lambda: datetime.now(UTC) + offset)
    client.search_accounts()
    expire_all_tokens(sim)

    offset = timedelta(hours=13)  # past the 12-hour validate interval
    client.search_accounts()

    snapshot = metrics.snapshot()
    assert snapshot["Auth/validate"].rejected == 1  # ExpiredToken
    assert snapshot["Auth/loginKey"].ok == 2
    assert snapshot["Account/search"].auth_failed == 0


def test_logs_never_contain_the_api_key_or_a_token(client, sim, caplog):
    for name in ("httpx", "httpcore", "execution.gateway"):  # settings quiet httpx; open it up
        caplog.set_level(logging.DEBUG, logger=name)
    with caplog.at_level(logging.DEBUG):
        client.search_accounts()
        first = client.token()
        expire_all_tokens(sim)
        client.search_accounts()
        sim.set_faults(error_count=1, paths=["account/search"])
        client.search_accounts()
        second = client.token()

    text = caplog.text + repr(client) + repr(client._token)
    assert "gateway login ok" in caplog.text
    assert "HTTP Request: POST" in caplog.text  # httpx's own lines were captured too
    assert sim.api_key not in text
    assert first not in text
    assert second not in text


# ------------------------------------------------------------------------ transient failures


def test_a_429_on_login_waits_for_the_back_off_then_logs_in(client, sim, metrics):
    sim.set_faults(rate_limit_count=1, paths=["auth/loginkey"])
    started = time.monotonic()

    client.search_accounts()

    assert time.monotonic() - started >= 0.15
    stats = metrics.snapshot()["Auth/loginKey"]
    assert (stats.rate_limited, stats.ok) == (1, 1)


def test_reads_are_retried_through_5xx(client, sim, metrics):
    sim.set_faults(error_count=2, error_status=503, paths=["account/search"])

    accounts = client.search_accounts()

    assert len(accounts) == 1
    stats = metrics.snapshot()["Account/search"]
    assert (stats.calls, stats.unavailable, stats.ok) == (3, 2, 1)


def test_reads_give_up_after_max_attempts_with_broker_unavailable(client, sim):
    sim.set_faults(error_count=-1, error_status=502, paths=["account/search"])

    with pytest.raises(BrokerUnavailable) as failed:
        client.search_accounts()

    assert failed.value.status_code == 502
    assert failed.value.endpoint == "Account/search"


def test_a_read_that_times_out_is_retried(make_client, sim, metrics):
    client = make_client(config={"timeout_seconds": 0.3})
    client.search_accounts()
    sim.set_faults(hang_count=1, hang_seconds=1.0, paths=["order/searchopen"])

    assert client.search_open_orders(sim.account_id) == []
    assert metrics.snapshot()["Order/searchOpen"].unavailable == 1


def test_a_broker_429_backs_off_the_group_is_counted_and_the_read_succeeds(
    client, sim, metrics, redis_client, key_prefix
):
    client.search_accounts()
    sim.set_faults(rate_limit_count=1, paths=["position/searchopen"])
    started = time.monotonic()

    positions = client.search_open_positions(sim.account_id)

    assert positions == []
    assert time.monotonic() - started >= 0.15  # default_retry_after_seconds = 0.2 (+ jitter)
    limiter = RedisRateLimiter(redis_client, key_prefix=key_prefix)
    assert limiter.throttled_count(client.scope, EndpointGroup.GENERAL) == 1
    assert metrics.snapshot()["Position/searchOpen"].rate_limited == 1


def test_a_429_longer_than_we_may_wait_raises_rate_limited(make_client, sim):
    client = make_client(config={"default_retry_after_seconds": 30.0})
    client.search_accounts()
    sim.set_faults(rate_limit_count=1, paths=["account/search"])

    with pytest.raises(RateLimited) as limited:
        client.search_accounts()

    assert 29 < limited.value.retry_after_seconds <= 30


def test_the_shared_budget_refuses_reads_first_and_keeps_room_for_orders(
    make_client, sim, redis_client, key_prefix
):
    limiter = RedisRateLimiter(
        redis_client,
        key_prefix=key_prefix,
        limits={EndpointGroup.GENERAL: RateLimit(10, 60), EndpointGroup.BARS: RateLimit(30, 30)},
    )
    client = make_client(config={"rate_limit_wait_seconds": 0.1})
    client._limiter = limiter  # same client, tighter shared budget
    request = resting_buy(client, sim)  # login + one bars call (bars group)

    for _ in range(8):
        client.search_accounts()  # the login + 8 reads fill the 9 slots reads may use
    with pytest.raises(RateLimited) as refused:
        client.search_accounts()
    placed = client.place_order(request)  # the reserved slot

    assert 59 < refused.value.retry_after_seconds <= 60
    assert placed.recovered is False
    assert limiter.in_window(client.scope, EndpointGroup.GENERAL) == 10


# --------------------------------------------------------------------- place, never doubled


def test_place_that_timed_out_after_landing_is_found_by_custom_tag_not_doubled(
    make_client, sim, metrics
):
    # The simulator has no "process, then lose the response" fault (its latency fault runs before
    # the body is read, so a timed-out request is never processed). We model the landed attempt by
    # placing the tagged order through the raw API, then make the client's place time out: it
    # must find the order by its tag instead of placing a second one.
    client = make_client(config={"timeout_seconds": 0.3})
    request = resting_buy(client, sim, tag="lost-response")
    landed = raw_post(sim, "Order/place", request.to_json())["orderId"]
    sim.set_faults(hang_count=1, hang_seconds=0.5, paths=["order/place"])

    placed = client.place_order(request)

    assert placed.recovered is True
    assert placed.order_id == landed
    assert [o.id for o in orders_tagged(client, sim, "lost-response")] == [landed]
    stats = metrics.snapshot()["Order/place"]
    assert (stats.calls, stats.unavailable) == (1, 1)


def test_place_that_never_reached_the_broker_is_placed_again_once(make_client, sim, metrics):
    client = make_client(config={"timeout_seconds": 0.3})
    request = resting_buy(client, sim, tag="never-arrived")
    sim.set_faults(hang_count=1, hang_seconds=0.5, paths=["order/place"])

    placed = client.place_order(request)

    tagged = orders_tagged(client, sim, "never-arrived")
    assert placed.recovered is False
    assert [o.id for o in tagged] == [placed.order_id]
    assert metrics.snapshot()["Order/place"].calls == 2
    assert metrics.snapshot()["Order/search"].calls >= 1


def test_place_after_a_broker_429_looks_up_then_places_once(client, sim, metrics):
    request = resting_buy(client, sim, tag="after-429")
    sim.set_faults(rate_limit_count=1, paths=["order/place"])

    placed = client.place_order(request)

    assert [o.id for o in orders_tagged(client, sim, "after-429")] == [placed.order_id]
    stats = metrics.snapshot()["Order/place"]
    assert (stats.rate_limited, stats.ok) == (1, 1)


def test_place_is_uncertain_when_the_lookup_fails_too(make_client, sim):
    client = make_client(config={"timeout_seconds": 0.3})
    request = resting_buy(client, sim, tag="uncertain")
    sim.set_faults(hang_count=1, hang_seconds=0.5, error_count=-1, paths=["/api/order/"])

    with pytest.raises(OrderSubmissionUncertain) as uncertain:
        client.place_order(request)

    sim.clear_faults()
    assert uncertain.value.custom_tag == "uncertain"
    assert uncertain.value.account_id == sim.account_id
    assert isinstance(uncertain.value.cause, BrokerUnavailable)
    assert orders_tagged(client, sim, "uncertain") == []


def test_place_that_keeps_timing_out_is_uncertain_never_blindly_repeated(make_client, sim, metrics):
    client = make_client(config={"timeout_seconds": 0.3, "place_max_attempts": 2})
    request = resting_buy(client, sim, tag="always-times-out")
    sim.set_faults(hang_count=-1, hang_seconds=0.4, paths=["order/place"])

    with pytest.raises(OrderSubmissionUncertain) as uncertain:
        client.place_order(request)

    sim.clear_faults()
    assert uncertain.value.custom_tag == "always-times-out"
    assert metrics.snapshot()["Order/place"].calls == 2  # place_max_attempts, each after a lookup
    assert metrics.snapshot()["Order/search"].calls == 2
    assert orders_tagged(client, sim, "always-times-out") == []


def test_place_rejected_by_the_broker_is_final_and_not_retried(client, sim, metrics):
    request = resting_buy(client, sim, tag="off-tick")
    bad = PlaceOrderRequest(
        **{**request.__dict__, "limit_price": request.limit_price + Decimal("0.1")}
    )

    with pytest.raises(Exception, match="OrderRejected"):
        client.place_order(bad)

    assert metrics.snapshot()["Order/place"].calls == 1


# ------------------------------------------------------------- cancel / modify reconciliation


def test_cancel_that_already_took_effect_is_confirmed_by_reading_the_order(client, sim, metrics):
    placed = client.place_order(resting_buy(client, sim))
    raw_post(sim, "Order/cancel", {"accountId": sim.account_id, "orderId": placed.order_id})
    sim.set_faults(error_count=1, paths=["order/cancel"])

    client.cancel_order(sim.account_id, placed.order_id)

    assert client.order_by_id(sim.account_id, placed.order_id).status is OrderStatus.CANCELLED
    stats = metrics.snapshot()["Order/cancel"]
    assert (stats.calls, stats.unavailable) == (1, 1)  # confirmed by a read, not re-sent


def test_cancel_that_failed_before_the_broker_is_sent_again(client, sim, metrics):
    placed = client.place_order(resting_buy(client, sim))
    sim.set_faults(error_count=1, paths=["order/cancel"])

    client.cancel_order(sim.account_id, placed.order_id)

    assert client.order_by_id(sim.account_id, placed.order_id).status is OrderStatus.CANCELLED
    stats = metrics.snapshot()["Order/cancel"]
    assert (stats.unavailable, stats.ok) == (1, 1)


def test_cancel_of_an_order_that_filled_meanwhile_is_a_state_conflict(client, sim):
    placed = client.place_order(
        PlaceOrderRequest(sim.account_id, sim.contract_id(), OrderType.MARKET, OrderSide.BID, 1)
    )
    sim.step(1)
    sim.set_faults(error_count=1, paths=["order/cancel"])

    with pytest.raises(OrderStateConflict) as conflict:
        client.cancel_order(sim.account_id, placed.order_id)

    assert conflict.value.order.status is OrderStatus.FILLED


def test_modify_that_already_took_effect_is_confirmed_not_resent(client, sim, metrics):
    request = resting_buy(client, sim)
    placed = client.place_order(request)
    new_price = request.limit_price - Decimal("1.25")
    modify = ModifyOrderRequest(sim.account_id, placed.order_id, limit_price=new_price)
    raw_post(sim, "Order/modify", modify.to_json())
    sim.set_faults(error_count=1, paths=["order/modify"])

    client.modify_order(modify)

    assert client.order_by_id(sim.account_id, placed.order_id).limit_price == new_price
    assert metrics.snapshot()["Order/modify"].calls == 1


def test_modify_that_failed_before_the_broker_is_sent_again(client, sim, metrics):
    request = resting_buy(client, sim)
    placed = client.place_order(request)
    sim.set_faults(error_count=1, paths=["order/modify"])

    client.modify_order(ModifyOrderRequest(sim.account_id, placed.order_id, size=3))

    assert client.order_by_id(sim.account_id, placed.order_id).size == 3
    assert metrics.snapshot()["Order/modify"].calls == 2


def test_partial_close_failing_in_transit_is_uncertain_and_not_retried(client, sim, metrics):
    client.place_order(
        PlaceOrderRequest(sim.account_id, sim.contract_id(), OrderType.MARKET, OrderSide.BID, 2)
    )
    sim.step(1)
    sim.set_faults(error_count=1, paths=["position/partialclose"])

    with pytest.raises(OutcomeUncertain):
        client.partial_close_position(sim.account_id, sim.contract_id(), 1)

    assert metrics.snapshot()["Position/partialCloseContract"].calls == 1


def test_close_that_failed_in_transit_checks_the_position_then_closes(client, sim, metrics):
    client.place_order(
        PlaceOrderRequest(sim.account_id, sim.contract_id(), OrderType.MARKET, OrderSide.ASK, 1)
    )
    sim.step(1)
    sim.set_faults(error_count=1, paths=["position/closecontract"])

    client.close_position(sim.account_id, sim.contract_id())
    sim.step(1)

    assert client.search_open_positions(sim.account_id) == []
    assert metrics.snapshot()["Position/closeContract"].calls == 2


def test_close_that_already_took_effect_is_not_sent_twice(client, sim, metrics):
    # A landed close leaves a working market order until the next price; a second close would
    # reverse the position.
    client.place_order(
        PlaceOrderRequest(sim.account_id, sim.contract_id(), OrderType.MARKET, OrderSide.BID, 2)
    )
    sim.step(1)
    raw_post(
        sim,
        "Position/closeContract",
        {"accountId": sim.account_id, "contractId": sim.contract_id()},
    )
    sim.set_faults(error_count=1, paths=["position/closecontract"])

    client.close_position(sim.account_id, sim.contract_id())
    sim.step(1)

    assert client.search_open_positions(sim.account_id) == []
    assert metrics.snapshot()["Position/closeContract"].calls == 1
