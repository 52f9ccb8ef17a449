"""The hubs through pysignalr against the real simulator: subscriptions, event order, reconnects."""

import asyncio
import logging
from collections.abc import Callable

from execution.gateway.hubs import (
    AccountEvent,
    HubListener,
    HubStateEvent,
    OrderEvent,
    PositionEvent,
    QuoteEvent,
    TradeEvent,
)
from execution.gateway.types import OrderSide, OrderType, PlaceOrderRequest


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def listener_for(client, sim, events: list, **kwargs) -> HubListener:
    return HubListener(
        client,
        user_hub_url=sim.user_hub_url,
        market_hub_url=sim.market_hub_url,
        account_ids=[sim.account_id],
        contract_ids=[sim.contract_id()],
        on_event=events.append,
        reconnect_base_seconds=0.05,
        reconnect_max_seconds=0.5,
        **kwargs,
    )


def user_events(events: list) -> list:
    return [
        e for e in events if isinstance(e, OrderEvent | TradeEvent | PositionEvent | AccountEvent)
    ]


def describe(event) -> str:
    match event:
        case OrderEvent(order=order):
            return f"order:{order.status.name}"
        case TradeEvent():
            return "trade"
        case PositionEvent(position=position):
            return f"position:{position.size}"
        case AccountEvent():
            return "account"
    return type(event).__name__


async def test_hubs_deliver_quotes_and_an_order_update_and_fill_in_order(client, sim):
    events: list = []
    listener = listener_for(client, sim, events)
    stop = asyncio.Event()
    running = asyncio.create_task(listener.run(stop))
    try:
        await listener.wait_connected(10)
        placed = await asyncio.to_thread(
            client.place_order,
            PlaceOrderRequest(
                sim.account_id, sim.contract_id(), OrderType.MARKET, OrderSide.BID, 1
            ),
        )
        await sim.astep(1)
        await eventually(lambda: any(isinstance(e, AccountEvent) for e in events))
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)

    lifecycle = [describe(e) for e in user_events(events)]
    # the order of arrival the reference doc gives for a market entry (§6.3)
    assert lifecycle == ["order:OPEN", "trade", "order:FILLED", "position:1", "account"]
    filled = next(e.order for e in events if isinstance(e, OrderEvent) and e.order.is_filled)
    assert filled.id == placed.order_id
    assert filled.custom_tag == placed.custom_tag
    quotes = [e.quote for e in events if isinstance(e, QuoteEvent)]
    assert quotes
    assert {q.contract_id for q in quotes} == {sim.contract_id()}
    assert any(q.last_price is not None for q in quotes)
    states = [(e.hub, e.connected) for e in events if isinstance(e, HubStateEvent)]
    assert sorted(states[:2]) == [("market", True), ("user", True)]
    assert listener.user.stats.malformed == 0


async def test_hubs_reconnect_and_resubscribe_after_a_server_restart(client, sim):
    events: list = []
    listener = listener_for(client, sim, events)
    stop = asyncio.Event()
    running = asyncio.create_task(listener.run(stop))
    try:
        await listener.wait_connected(10)
        await asyncio.to_thread(sim.restart)
        await eventually(
            lambda: listener.user.stats.connects >= 2 and listener.market.stats.connects >= 2
        )
        await listener.wait_connected(10)
        seen = len(events)
        await asyncio.to_thread(
            client.place_order,
            PlaceOrderRequest(
                sim.account_id, sim.contract_id(), OrderType.MARKET, OrderSide.ASK, 1
            ),
        )
        await sim.astep(1)
        await eventually(
            lambda: (
                any(isinstance(e, TradeEvent) for e in events[seen:])
                and any(isinstance(e, QuoteEvent) for e in events[seen:])
            )
        )
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)

    drops = [e for e in events if isinstance(e, HubStateEvent) and not e.connected]
    assert {e.hub for e in drops} == {"user", "market"}
    assert listener.user.stats.drops >= 1


async def test_a_renewed_token_makes_both_hubs_reconnect_with_it(client, sim):
    events: list = []
    listener = listener_for(client, sim, events, token_check_seconds=0.1)
    stop = asyncio.Event()
    running = asyncio.create_task(listener.run(stop))
    try:
        await listener.wait_connected(10)
        old = await asyncio.to_thread(client.token)
        await asyncio.sleep(1.0)  # the simulator's JWTs have whole-second iat
        await asyncio.to_thread(client.invalidate_token, old)
        await eventually(
            lambda: listener.user.stats.connects == 2 and listener.market.stats.connects == 2
        )
        await listener.wait_connected(10)
        seen = len(events)
        await asyncio.to_thread(
            client.place_order,
            PlaceOrderRequest(
                sim.account_id, sim.contract_id(), OrderType.MARKET, OrderSide.BID, 1
            ),
        )
        await sim.astep(1)
        await eventually(lambda: any(isinstance(e, PositionEvent) for e in events[seen:]))
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)

    assert (await asyncio.to_thread(client.token)) != old


async def test_a_hub_that_refuses_the_token_gets_a_fresh_login(client, sim, metrics):
    events: list = []
    listener = listener_for(client, sim, events)
    stop = asyncio.Event()
    running = asyncio.create_task(listener.run(stop))
    try:
        await listener.wait_connected(10)
        await sim.aset_faults(expire_tokens=True)
        await asyncio.sleep(1.05)  # the simulator expires tokens issued before the next second
        await asyncio.to_thread(sim.restart)  # sockets drop; the old token is refused on return
        await eventually(
            lambda: listener.user.stats.connects >= 2 and listener.market.stats.connects >= 2
        )
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)

    assert metrics.snapshot()["Auth/loginKey"].ok >= 2


async def test_hub_logs_never_contain_the_token(client, sim, caplog):
    events: list = []
    listener = listener_for(client, sim, events)
    stop = asyncio.Event()
    for name in ("pysignalr", "pysignalr.transport", "pysignalr.client", "websockets"):
        caplog.set_level(logging.DEBUG, logger=name)  # websockets logs the upgrade URL at DEBUG
    with caplog.at_level(logging.DEBUG):
        running = asyncio.create_task(listener.run(stop))
        await listener.wait_connected(10)
        await asyncio.to_thread(sim.restart)
        await eventually(lambda: listener.user.stats.connects >= 2)
        stop.set()
        await asyncio.wait_for(running, 10)
        token = await asyncio.to_thread(client.token)

    assert "negotiat" in caplog.text.lower()
    assert "access_token=" in caplog.text  # the URL was logged, redacted
    assert token not in caplog.text
    assert sim.api_key not in caplog.text


async def test_a_contract_added_while_connected_is_subscribed_at_once(client, sim):
    events: list = []
    listener = HubListener.for_client(client, account_ids=[sim.account_id], on_event=events.append)
    stop = asyncio.Event()
    running = asyncio.create_task(listener.run(stop))
    try:
        await listener.wait_connected(10)
        nq = sim.contract_id("ENQ")
        await listener.subscribe_contract(nq)
        await asyncio.sleep(0.2)
        await sim.astep(1)
        await eventually(lambda: any(isinstance(e, QuoteEvent) for e in events))
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)

    assert {e.quote.contract_id for e in events if isinstance(e, QuoteEvent)} == {nq}


async def test_a_failing_on_event_is_counted_and_does_not_stop_the_stream(client, sim):
    seen: list = []

    def on_event(event) -> None:
        seen.append(event)
        raise RuntimeError("consumer bug")

    listener = HubListener.for_client(
        client, account_ids=[sim.account_id], contract_ids=[sim.contract_id()], on_event=on_event
    )
    stop = asyncio.Event()
    running = asyncio.create_task(listener.run(stop))
    try:
        await listener.wait_connected(10)
        await sim.astep(2)
        await eventually(lambda: sum(isinstance(e, QuoteEvent) for e in seen) >= 2)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)

    assert listener.market.stats.handler_errors == listener.market.stats.events
    assert listener.market.stats.connects == 1


async def test_an_unreachable_hub_is_retried_with_back_off_and_stops_cleanly(client, sim):
    events: list = []
    listener = HubListener(
        client,
        user_hub_url="http://127.0.0.1:9/hubs/user",  # discard port: nothing listens
        market_hub_url="http://127.0.0.1:9/hubs/market",
        account_ids=[sim.account_id],
        on_event=events.append,
        reconnect_base_seconds=0.05,
        reconnect_max_seconds=0.2,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(listener.run(stop))
    await asyncio.sleep(0.8)
    stop.set()
    await asyncio.wait_for(running, 5)

    assert events == []
    assert listener.user.stats.connects == 0
    assert running.exception() is None


async def test_a_refused_subscription_is_logged_and_the_others_still_work(client, sim, caplog):
    events: list = []
    listener = HubListener.for_client(
        client,
        account_ids=[999, sim.account_id],  # 999 is not this user's account
        contract_ids=[sim.contract_id()],
        on_event=events.append,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(listener.run(stop))
    try:
        await listener.wait_connected(10)
        await asyncio.to_thread(
            client.place_order,
            PlaceOrderRequest(
                sim.account_id, sim.contract_id(), OrderType.MARKET, OrderSide.BID, 1
            ),
        )
        await sim.astep(1)
        await eventually(lambda: any(isinstance(e, PositionEvent) for e in events))
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)

    assert "SubscribeOrders[999] refused: Account 999 not found" in caplog.text
    assert listener.user.stats.connects == 1
