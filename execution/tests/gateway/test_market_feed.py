"""The market hub as it behaves (docs/gateway-behaviours.md): partial quotes are merged, a frozen
feed keeps its connection open, and a requested reconnect happens once however often it is asked."""

import asyncio
import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from execution.gateway import hubs
from execution.gateway.hubs import (
    MARKET_HUB,
    HubStateEvent,
    MarketTradeEvent,
    QuoteEvent,
    quote_merge,
)
from execution.gateway.types import Quote
from execution.tests.gateway.test_contract_hubs import eventually, listener_for

CONTRACT = "CON.F.US.EP.H25"
QUOTE_FIELDS = [f.name for f in dataclasses.fields(Quote) if f.name != "contract_id"]
prices = st.decimals(min_value=1, max_value=10_000, places=2).map(Decimal)
values = {
    "symbol_id": st.sampled_from(["F.US.EP"]),
    "symbol_name": st.sampled_from(["/ES"]),
    "volume": st.integers(0, 10**6),
    "last_updated_at": st.datetimes(timezones=st.just(UTC)),
    "at": st.datetimes(timezones=st.just(UTC)),
}
partial_quote = st.fixed_dictionaries(
    {},
    optional={name: values.get(name, prices) for name in QUOTE_FIELDS},
).map(lambda fields: Quote(contract_id=CONTRACT, **fields))


@given(st.lists(partial_quote, min_size=1, max_size=30))
def test_the_merged_quote_holds_the_last_value_seen_for_each_field(updates):
    merged = None
    for update in updates:
        merged = quote_merge(merged, update)
    for name in QUOTE_FIELDS:
        seen = [getattr(u, name) for u in updates if getattr(u, name) is not None]
        assert getattr(merged, name) == (seen[-1] if seen else None), name
    assert merged.contract_id == CONTRACT


async def test_partial_quotes_from_the_simulator_arrive_merged(client, sim, monkeypatch):
    raw: list = []
    parse = hubs.parse_market_event

    def spy(target, arguments):  # what the hub sent, before the merge
        if target == "GatewayQuote":
            raw.append(dict(arguments[1]))
        return parse(target, arguments)

    monkeypatch.setattr(hubs, "parse_market_event", spy)
    await sim.aset_market(partial_quotes=True)
    events: list = []
    listener = listener_for(client, sim, events, subscribe_market_trades=False)
    stop = asyncio.Event()
    running = asyncio.create_task(listener.run(stop))
    try:
        await listener.wait_connected(10)
        await sim.astep(3)
        await eventually(lambda: len(raw) >= 12)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)

    assert "bestBid" in raw[0]  # the first quote of a connection is whole...
    assert any("open" not in quote for quote in raw[1:])  # ...the others carry what changed
    quotes = [e.quote for e in events if isinstance(e, QuoteEvent)]
    assert len(quotes) == len(raw)
    assert all(getattr(q, name) is not None for q in quotes for name in QUOTE_FIELDS)
    last = sim.state()["lastPrices"]["EP"]
    assert quotes[-1].last_price == last
    assert listener.quotes[sim.contract_id()] == quotes[-1]


async def test_a_frozen_feed_sends_nothing_while_the_connection_stays_open(client, sim):
    events: list = []
    listener = listener_for(client, sim, events)
    stop = asyncio.Event()
    running = asyncio.create_task(listener.run(stop))
    contract_id = sim.contract_id()
    try:
        await listener.wait_connected(10)
        await sim.astep(1)
        await eventually(lambda: contract_id in listener.market_seen_at)
        seen = listener.market_seen_at[contract_id]
        await sim.aset_market(freeze_seconds=600)
        before = len(events)
        await sim.astep(5)
        await asyncio.sleep(0.5)
        frozen, drops = events[before:], listener.market.stats.drops
        await sim.aset_market(freeze_seconds=0)  # thaw
        await sim.astep(1)
        await eventually(lambda: listener.market_seen_at[contract_id] > seen)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)

    assert not [e for e in frozen if isinstance(e, QuoteEvent | MarketTradeEvent)]
    assert not [e for e in frozen if isinstance(e, HubStateEvent)]  # no drop: it looked healthy
    assert drops == 0
    thawed_at = listener.market_seen_at[contract_id]
    assert (thawed_at - seen).total_seconds() >= 5 * 60  # the freeze's minutes were never sent
    assert thawed_at <= datetime.fromisoformat(str(sim.state()["now"]).replace("Z", "+00:00"))


async def test_a_requested_reconnect_happens_once_and_replays_the_subscriptions(client, sim):
    events: list = []
    listener = listener_for(client, sim, events)
    stop = asyncio.Event()
    running = asyncio.create_task(listener.run(stop))
    try:
        await listener.wait_connected(10)
        answers = [listener.request_reconnect(MARKET_HUB, "test") for _ in range(5)]
        await eventually(lambda: listener.market.stats.connects == 2)
        await asyncio.sleep(0.5)  # a pile-up would show as more connects by now
        seen_before = len([e for e in events if isinstance(e, QuoteEvent)])
        await sim.astep(1)
        await eventually(
            lambda: len([e for e in events if isinstance(e, QuoteEvent)]) > seen_before
        )
        before_stop = list(events)  # stopping drops both hubs too
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)

    assert answers == [True, False, False, False, False]
    assert listener.market.stats.connects == 2
    assert listener.user.stats.connects == 1  # the user hub was left alone
    states = [(e.hub, e.connected) for e in before_stop if isinstance(e, HubStateEvent)]
    assert sorted(states) == [
        (MARKET_HUB, False),
        (MARKET_HUB, True),
        (MARKET_HUB, True),
        ("user", True),
    ]
    drop = next(e for e in before_stop if isinstance(e, HubStateEvent) and not e.connected)
    assert drop.reason == "reconnect requested: test"
