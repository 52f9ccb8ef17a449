"""The hubs: a real SignalR client library (pysignalr) and a raw WebSocket for the framing."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest
from pysignalr.client import SignalRClient

from simulator.hubs import RS
from simulator.testing import SimulatorHandle, running_simulator


def _token(sim: SimulatorHandle) -> str:
    return httpx.post(
        f"{sim.base_url}/Auth/loginKey", json={"userName": sim.username, "apiKey": sim.api_key}
    ).json()["token"]


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def _client(
    url: str, events: list[tuple[str, list[Any]]], targets: list[str]
) -> AsyncIterator[SignalRClient]:
    client = SignalRClient(url)
    opened = asyncio.Event()

    async def on_open() -> None:
        opened.set()

    client.on_open(on_open)
    for target in targets:

        async def handler(args: list[Any], target: str = target) -> None:
            events.append((target, args))

        client.on(target, handler)
    task = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(opened.wait(), 5)
        yield client
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def test_pysignalr_receives_quotes_trades_depth_on_the_market_hub(
    sim: SimulatorHandle,
) -> None:
    token = _token(sim)
    cid = sim.contract_id("EP")
    events: list[tuple[str, list[Any]]] = []
    url = f"{sim.market_hub_url}?access_token={token}"
    async with _client(url, events, ["GatewayQuote", "GatewayTrade", "GatewayDepth"]) as client:
        for method in (
            "SubscribeContractQuotes",
            "SubscribeContractTrades",
            "SubscribeContractMarketDepth",
        ):
            await client.send(method, [cid])
        await client.send("Heartbeat", [{"timestamp": 1.5}])  # project-x-py's; ignored
        await asyncio.sleep(0.2)
        await sim.astep(1)
        await _until(lambda: len(events) >= 12)
    quotes = [args for target, args in events if target == "GatewayQuote"]
    trades = [args for target, args in events if target == "GatewayTrade"]
    depth = [args for target, args in events if target == "GatewayDepth"]
    assert len(quotes) == len(trades) == len(depth) == 4  # the bar's four path points
    contract_id, quote = quotes[0]
    assert contract_id == cid
    assert quote["symbol"] == "F.US.EP"
    assert {"lastPrice", "bestBid", "bestAsk", "open", "high", "low", "volume", "timestamp"} <= set(
        quote
    )
    assert isinstance(trades[0][1], list)
    assert trades[0][1][0]["symbolId"] == "F.US.EP"
    assert {e["type"] for e in depth[0][1]} >= {3, 4, 5}
    state = sim.state()
    assert float(quotes[-1][1]["lastPrice"]) == float(state["lastPrices"]["EP"])


async def test_pysignalr_gets_order_trade_fill_position_account_in_order(
    sim: SimulatorHandle,
) -> None:
    token = _token(sim)
    acc = sim.account_id
    events: list[tuple[str, list[Any]]] = []
    targets = ["GatewayUserOrder", "GatewayUserTrade", "GatewayUserPosition", "GatewayUserAccount"]
    async with _client(f"{sim.user_hub_url}?access_token={token}", events, targets) as client:
        await client.send("SubscribeAccounts", [])
        for method in ("SubscribeOrders", "SubscribePositions", "SubscribeTrades"):
            await client.send(method, [acc])
        await asyncio.sleep(0.2)
        async with httpx.AsyncClient(
            base_url=sim.base_url, headers={"Authorization": f"Bearer {token}"}
        ) as api:
            placed = (
                await api.post(
                    "/Order/place",
                    json={
                        "accountId": acc,
                        "contractId": sim.contract_id("EP"),
                        "type": 2,
                        "side": 0,
                        "size": 1,
                    },
                )
            ).json()
        await _until(lambda: len(events) >= 1)
        await sim.astep(1)
        await _until(lambda: len(events) >= 5)
    assert [target for target, _ in events] == [
        "GatewayUserOrder",
        "GatewayUserTrade",
        "GatewayUserOrder",
        "GatewayUserPosition",
        "GatewayUserAccount",
    ]
    assert all(len(args) == 1 for _, args in events)  # user-hub events carry one argument
    first, fill = events[0][1][0], events[2][1][0]
    assert (first["id"], first["status"]) == (placed["orderId"], 1)
    assert (fill["status"], fill["fillVolume"]) == (2, 1)
    assert fill["filledPrice"] == events[1][1][0]["price"]
    assert events[3][1][0]["size"] == 1
    assert float(events[4][1][0]["balance"]) == 50000 - 1.40


async def test_pysignalr_with_negotiate_and_authorization_header(sim: SimulatorHandle) -> None:
    token = _token(sim)
    # pysignalr's access_token_factory only applies after the upgrade; static headers reach
    # both the negotiate POST and the WebSocket upgrade.
    client = SignalRClient(sim.user_hub_url, headers={"Authorization": f"Bearer {token}"})
    opened = asyncio.Event()

    async def on_open() -> None:
        opened.set()

    client.on_open(on_open)
    task = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(opened.wait(), 5)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def _raw(
    sim: SimulatorHandle, session: aiohttp.ClientSession, hub: str = "user", **query: str
) -> aiohttp.ClientWebSocketResponse:
    token = _token(sim)
    url = f"{sim.root_url.replace('http', 'ws')}/hubs/{hub}"
    return await session.ws_connect(url, params={"access_token": token, **query})


async def _records(
    ws: aiohttp.ClientWebSocketResponse, n: int, timeout: float = 5.0
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    buffer = ""
    while len(out) < n:
        msg = await asyncio.wait_for(ws.receive(), timeout)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        buffer += msg.data
        *records, buffer = buffer.split(RS)
        out.extend(json.loads(r) for r in records)
    return out


async def test_raw_negotiate_versions_and_401(sim: SimulatorHandle) -> None:
    token = _token(sim)
    async with httpx.AsyncClient() as http:
        v1 = (
            await http.post(
                f"{sim.user_hub_url}/negotiate?negotiateVersion=1",
                headers={"Authorization": f"Bearer {token}"},
            )
        ).json()
        v0 = (
            await http.post(f"{sim.market_hub_url}/negotiate", params={"access_token": token})
        ).json()
        denied = await http.post(f"{sim.user_hub_url}/negotiate")
    assert v1["negotiateVersion"] == 1
    assert v1["connectionId"] == v1["connectionToken"]
    assert v1["availableTransports"] == [
        {"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}
    ]
    assert v0["negotiateVersion"] == 0  # ASP.NET Core always writes it (signalrcore needs it)
    assert "connectionToken" not in v0  # version 0: the client uses connectionId
    assert v0["connectionId"]
    assert denied.status_code == 401


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("negotiateVersion=0", {"negotiateVersion": 0, "token": False}),
        ("NEGOTIATEVERSION=1", {"negotiateVersion": 1, "token": True}),  # keys: any case
        ("negotiateVersion=7", {"negotiateVersion": 1, "token": True}),  # the server's highest
        ("negotiateVersion=abc", {"error": "The client requested a non-integer protocol version."}),
        (
            "negotiateVersion=-1",
            {
                "error": "The client requested version '-1', but the server does not support "
                "this version."
            },
        ),
    ],
)
async def test_negotiate_answers_each_requested_version_as_aspnet_core(
    sim: SimulatorHandle, query: str, expected: dict[str, Any]
) -> None:
    async with httpx.AsyncClient() as http:
        reply = await http.post(
            f"{sim.user_hub_url}/negotiate?{query}",
            headers={"Authorization": f"Bearer {_token(sim)}"},
        )
    assert reply.status_code == 200
    body = reply.json()
    if "error" in expected:
        assert body == expected  # an error answer carries nothing else
        return
    assert body["negotiateVersion"] == expected["negotiateVersion"]
    assert ("connectionToken" in body) is expected["token"]
    assert body["connectionId"]


@pytest.mark.parametrize("version", [0, 1, 2])
async def test_handshake_accepts_the_json_protocol_versions_aspnet_core_accepts(
    sim: SimulatorHandle, version: int
) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await _raw(sim, session)
        await ws.send_str(json.dumps({"protocol": "json", "version": version}) + RS)
        assert await _records(ws, 1) == [{}]
        await ws.send_str(
            json.dumps(
                {"type": 1, "target": "SubscribeAccounts", "arguments": [], "invocationId": "1"}
            )
            + RS
        )
        assert await _records(ws, 1) == [{"type": 3, "invocationId": "1", "result": None}]
        await ws.close()


@pytest.mark.parametrize(
    ("handshake", "error"),
    [
        (
            {"protocol": "json", "version": 3},
            "The server does not support version 3 of the 'json' protocol.",
        ),
        ({"protocol": "json"}, "Missing required property 'version'."),
        ({"protocol": "json", "version": "1"}, "Expected 'version' to be of type Number."),
        ({"version": 1}, "Missing required property 'protocol'."),
    ],
)
async def test_handshake_refuses_other_versions_with_an_error_handshake_and_close(
    sim: SimulatorHandle, handshake: dict[str, Any], error: str
) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await _raw(sim, session)
        await ws.send_str(json.dumps(handshake) + RS)
        reply = await _records(ws, 1)
        assert list(reply[0]) == ["error"]
        assert reply[0]["error"].endswith(error)
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_raw_handshake_framing_completions_and_unknown_targets(
    sim: SimulatorHandle,
) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await _raw(sim, session, id="not-negotiated")
        await ws.send_str('{"protocol":"json","version":1}' + RS)
        assert await _records(ws, 1) == [{}]
        acc = sim.account_id
        # Two invocations in one frame, with ids -> two completions; one without id -> silence.
        await ws.send_str(
            json.dumps(
                {
                    "type": 1,
                    "target": "SubscribeOrders",
                    "arguments": [acc],
                    "invocationId": "1",
                    "headers": {},
                }
            )
            + RS
            + json.dumps(
                {"type": 1, "target": "NoSuchMethod", "arguments": [], "invocationId": "2"}
            )
            + RS
            + json.dumps({"type": 1, "target": "NoSuchMethod", "arguments": []})
            + RS
            + json.dumps(
                {"type": 1, "target": "SubscribeTrades", "arguments": [999], "invocationId": "3"}
            )
            + RS
            + '{"type":6}'
            + RS
        )
        replies = await _records(ws, 3)
        assert replies[0] == {"type": 3, "invocationId": "1", "result": None}
        assert replies[1]["invocationId"] == "2"
        assert "Unknown hub method" in replies[1]["error"]
        assert replies[2]["invocationId"] == "3"
        assert "not found" in replies[2]["error"]
        await ws.send_str(json.dumps({"type": 7}) + RS)
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSING,
        )


async def test_raw_bad_handshake_gets_an_error_and_close(sim: SimulatorHandle) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await _raw(sim, session)
        await ws.send_str('{"protocol":"messagepack","version":1}' + RS)
        reply = await _records(ws, 1)
        assert reply[0]["error"] == "The protocol 'messagepack' is not supported."
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_raw_websocket_without_token_is_refused_before_upgrade(sim: SimulatorHandle) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(f"{sim.root_url.replace('http', 'ws')}/hubs/user")
    assert info.value.status == 401


async def test_raw_pings_arrive_on_the_keepalive_interval(tmp_path: Any) -> None:
    with running_simulator(tmp_path / "s.db", ping_interval=0.2) as sim:
        async with aiohttp.ClientSession() as session:
            ws = await _raw(sim, session, hub="market")
            await ws.send_str('{"protocol":"json","version":1}' + RS)
            assert await _records(ws, 1) == [{}]
            pings = await _records(ws, 2, timeout=2)
            assert pings == [{"type": 6}, {"type": 6}]
            await ws.close()


async def test_garbage_after_handshake_closes_with_an_error_and_server_lives_on(
    sim: SimulatorHandle,
) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await _raw(sim, session)
        await ws.send_str('{"protocol":"json","version":1}' + RS)
        await _records(ws, 1)
        await ws.send_str("this is not json" + RS)
        reply = await _records(ws, 1)
        assert reply[0]["type"] == 7
        assert "invalid JSON" in reply[0]["error"]
    assert httpx.get(f"{sim.base_url}/Status/ping").text == "pong"


async def test_raw_unsubscribe_stops_market_events(sim: SimulatorHandle) -> None:
    cid = sim.contract_id("ENQ")
    async with aiohttp.ClientSession() as session:
        ws = await _raw(sim, session, hub="market")
        await ws.send_str('{"protocol":"json","version":1}' + RS)
        await _records(ws, 1)
        await ws.send_str(
            json.dumps(
                {
                    "type": 1,
                    "target": "SubscribeContractQuotes",
                    "arguments": [cid],
                    "invocationId": "s",
                }
            )
            + RS
        )
        assert (await _records(ws, 1))[0]["invocationId"] == "s"
        await sim.astep(1)
        quotes = await _records(ws, 4)
        assert [(q["target"], q["arguments"][0]) for q in quotes] == [("GatewayQuote", cid)] * 4
        await ws.send_str(
            json.dumps(
                {
                    "type": 1,
                    "target": "UnsubscribeContractQuotes",
                    "arguments": [cid],
                    "invocationId": "u",
                }
            )
            + RS
        )
        assert (await _records(ws, 1))[0] == {"type": 3, "invocationId": "u", "result": None}
        await sim.astep(1)
        with pytest.raises(TimeoutError):
            await _records(ws, 1, timeout=0.3)
        await ws.close()


async def test_logout_sends_gateway_logout_and_closes_that_sessions_sockets(
    sim: SimulatorHandle,
) -> None:
    token = _token(sim)
    async with aiohttp.ClientSession() as session:
        url = f"{sim.root_url.replace('http', 'ws')}/hubs/user"
        ws = await session.ws_connect(url, params={"access_token": token})
        await ws.send_str('{"protocol":"json","version":1}' + RS)
        assert await _records(ws, 1) == [{}]
        other = await _raw(sim, session)  # another session: unaffected
        await other.send_str('{"protocol":"json","version":1}' + RS)
        await _records(other, 1)
        async with httpx.AsyncClient() as http:
            reply = await http.post(
                f"{sim.base_url}/Auth/logout", headers={"Authorization": f"Bearer {token}"}
            )
        assert reply.json()["success"] is True
        messages = await _records(ws, 2)
        assert messages == [
            {"type": 1, "target": "GatewayLogout", "arguments": []},
            {"type": 7, "error": "Logged out", "allowReconnect": False},
        ]
        assert not other.closed
        await other.close()
