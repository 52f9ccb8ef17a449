"""Conformance client: a second third-party ProjectX client, built on signalrcore (sync, threads).

Not collected by pytest (no `test_` prefix): `test_conformance.py` runs it in a subprocess with
this venv's Python against a simulator on the wall clock. It uses only the standard library for
REST and signalrcore, unchanged, for both hubs: the user hub through negotiate (signalrcore then
sends the negotiate version, 0, as its hub protocol version) and the market hub with
`skip_negotiation` (as tsxapi4py connects).

Usage: python conformance_signalrcore.py ROOT_URL. Prints one `OK <step>` line per step that
worked and exits non-zero on the first failure; every wait is bounded.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from signalrcore.hub_connection_builder import HubConnectionBuilder

WAIT = 5.0  # seconds for anything the gateway does at once
FIRST_PRINT_WAIT = 20.0  # the demo market prints at least every 15 s


class Rest:
    def __init__(self, root: str) -> None:
        self.api, self.token = f"{root}/api", ""

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 (the simulator's http URL)
            f"{self.api}{path}",
            data=json.dumps(body, default=float).encode(),  # prices as JSON numbers
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=WAIT) as response:  # noqa: S310
            reply = json.loads(response.read(), parse_float=Decimal)
        if not reply.get("success"):
            raise AssertionError(f"{path} failed: {reply}")
        return reply


class Events:
    """Hub events gathered from signalrcore's threads; `wait` blocks until one matches."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, list[Any]]] = []
        self._changed = threading.Condition()

    def handler(self, target: str) -> Callable[[list[Any]], None]:
        def record(args: list[Any]) -> None:
            with self._changed:
                self.seen.append((target, args))
                self._changed.notify_all()

        return record

    def wait(
        self, target: str, match: Callable[[list[Any]], bool], timeout: float = WAIT
    ) -> list[Any]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for name, args in self.seen:
                    if name == target and match(args):
                        return args
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {target} matching in {timeout} s; saw {self.seen}")
                self._changed.wait(left)


def connect(url: str, events: Events, targets: list[str], **options: Any) -> Any:
    hub = (
        HubConnectionBuilder()
        .with_url(url, options=options)
        .configure_logging(logging.WARNING)
        .build()
    )
    opened = threading.Event()
    hub.on_open(opened.set)
    hub.on_error(lambda message: events.handler("error")([message.error]))
    for target in targets:
        hub.on(target, events.handler(target))
    hub.start()
    if not opened.wait(WAIT):
        raise AssertionError(f"the hub at {url} did not open")
    return hub


def main(root: str) -> None:
    rest, events = Rest(root), Events()
    rest.token = rest.post("/Auth/loginKey", {"userName": "demo", "apiKey": "demo-api-key"})[
        "token"
    ]
    print("OK login", flush=True)
    account = rest.post("/Account/search", {"onlyActiveAccounts": True})["accounts"][0]
    acc = account["id"]
    print("OK accounts", acc, account["balance"], flush=True)
    contracts = rest.post("/Contract/search", {"searchText": "MNQ", "live": False})["contracts"]
    contract = next(c for c in contracts if c["activeContract"])
    cid, tick = contract["id"], Decimal(contract["tickSize"])
    assert rest.post("/Contract/searchById", {"contractId": cid})["contract"]["id"] == cid
    print("OK contracts", cid, flush=True)
    now = datetime.now(UTC)  # clients ask relative to the wall clock
    bars = rest.post(
        "/History/retrieveBars",
        {
            "contractId": cid,
            "live": False,
            "startTime": (now - timedelta(hours=2)).isoformat(),
            "endTime": now.isoformat(),
            "unit": 2,
            "unitNumber": 1,
            "limit": 500,
            "includePartialBar": False,
        },
    )["bars"]
    assert len(bars) >= 100, len(bars)
    assert bars[0]["t"] > bars[-1]["t"]  # newest first
    last_close = Decimal(bars[0]["c"])
    print("OK bars", len(bars), flush=True)

    user_targets = [
        "GatewayUserAccount",
        "GatewayUserOrder",
        "GatewayUserPosition",
        "GatewayUserTrade",
    ]
    token_query = f"?access_token={rest.token}"
    user = connect(f"{root}/hubs/user{token_query}", events, user_targets)
    user.send("SubscribeAccounts", [])
    for method in ("SubscribeOrders", "SubscribePositions", "SubscribeTrades"):
        user.send(method, [acc])
    ws_root = root.replace("http", "ws", 1)
    market = connect(
        f"{ws_root}/hubs/market{token_query}",
        events,
        ["GatewayQuote", "GatewayTrade"],
        skip_negotiation=True,
    )
    market.send("SubscribeContractQuotes", [cid])
    market.send("SubscribeContractTrades", [cid])
    print("OK hubs", flush=True)

    def order_event(order_id: int, **fields: Any) -> Callable[[list[Any]], bool]:
        def matches(args: list[Any]) -> bool:
            order = args[0].get("data", args[0])  # some gateways wrap it as {action, data}
            return order["id"] == order_id and all(order.get(k) == v for k, v in fields.items())

        return matches

    # Working order: place, modify, cancel; each shows up on the user hub.
    limit = (last_close - 200 * tick).quantize(tick)
    order_id = rest.post(
        "/Order/place",
        {"accountId": acc, "contractId": cid, "type": 1, "side": 0, "size": 1, "limitPrice": limit},
    )["orderId"]
    events.wait("GatewayUserOrder", order_event(order_id, status=1))
    print("OK place", order_id, flush=True)
    moved = limit - tick
    rest.post(
        "/Order/modify", {"accountId": acc, "orderId": order_id, "size": 2, "limitPrice": moved}
    )
    events.wait("GatewayUserOrder", order_event(order_id, size=2, limitPrice=float(moved)))
    working = rest.post("/Order/searchOpen", {"accountId": acc})["orders"]
    assert [(o["id"], o["size"], Decimal(o["limitPrice"])) for o in working] == [
        (order_id, 2, moved)
    ], working
    print("OK modify", flush=True)
    rest.post("/Order/cancel", {"accountId": acc, "orderId": order_id})
    events.wait("GatewayUserOrder", order_event(order_id, status=3))
    assert rest.post("/Order/searchOpen", {"accountId": acc})["orders"] == []
    print("OK cancel", flush=True)

    # A market order and its flatten fill at once, as on the gateway: filled by the time the
    # place/close reply is back (the filed client gave up on a flatten that took 13.6 s).
    started = time.monotonic()
    entry = rest.post(
        "/Order/place", {"accountId": acc, "contractId": cid, "type": 2, "side": 0, "size": 1}
    )["orderId"]
    order = rest.post("/Order/searchById", {"accountId": acc, "orderId": entry})["order"]
    assert order["status"] == 2, order
    assert order["updateTimestamp"] == order["creationTimestamp"], order
    events.wait("GatewayUserOrder", order_event(entry, status=2))
    fill_seconds = time.monotonic() - started
    events.wait("GatewayUserTrade", lambda args: args[0]["orderId"] == entry)
    events.wait(
        "GatewayUserPosition", lambda args: args[0]["contractId"] == cid and args[0]["size"] == 1
    )
    print(f"OK market-fill {fill_seconds:.3f}s at {order['filledPrice']}", flush=True)
    started = time.monotonic()
    rest.post("/Position/closeContract", {"accountId": acc, "contractId": cid})
    assert rest.post("/Position/searchOpen", {"accountId": acc})["positions"] == []
    events.wait(
        "GatewayUserPosition",
        lambda args: args[0]["contractId"] == cid and args[0]["size"] == 0,
    )
    flat_seconds = time.monotonic() - started
    trades = rest.post(
        "/Trade/search", {"accountId": acc, "startTimestamp": (now - timedelta(days=1)).isoformat()}
    )["trades"]
    assert [(t["side"], t["size"]) for t in trades] == [(0, 1), (1, 1)], trades
    events.wait("GatewayUserAccount", lambda args: args[0]["id"] == acc)
    print(f"OK flatten {flat_seconds:.3f}s", flush=True)

    quote = events.wait("GatewayQuote", lambda args: args[0] == cid, FIRST_PRINT_WAIT)
    trade = events.wait("GatewayTrade", lambda args: args[0] == cid, FIRST_PRINT_WAIT)
    assert quote[1]["symbol"] == contract["symbolId"], quote
    assert quote[1]["lastPrice"] > 0, quote
    assert isinstance(trade[1], list), trade
    assert trade[1][0]["price"] > 0, trade
    assert not [args for name, args in events.seen if name == "error"], events.seen
    print("OK market-hub", flush=True)
    user.stop()
    market.stop()


if __name__ == "__main__":
    main(sys.argv[1])
