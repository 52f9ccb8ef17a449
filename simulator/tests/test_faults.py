"""Rate limits, injected faults, calendar-true replay of real data, clock modes."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import httpx
import pytest

from simulator.hubs import RS
from simulator.testing import SimulatorHandle, market_data_dir, running_simulator
from simulator.tests.conftest import login

NQ_FILE = market_data_dir() / "nq_1min_sample_2023-11.csv.gz"


def test_retrieve_bars_budget_gives_429_after_the_limit(tmp_path: Path) -> None:
    with running_simulator(tmp_path / "s.db", bars_rate=(5, 30)) as sim, login(sim) as api:
        body = {
            "contractId": sim.contract_id("EP"),
            "startTime": "2025-03-03T14:00:00Z",
            "endTime": "2025-03-03T14:30:00Z",
            "unit": 2,
            "unitNumber": 1,
            "limit": 10,
        }
        codes = [api.post("/History/retrieveBars", json=body).status_code for _ in range(7)]
        assert codes == [200] * 5 + [429] * 2
        assert api.post("/History/retrieveBars", json=body).content == b""
        # the general budget is separate
        assert api.post("/Account/search", json={}).status_code == 200


def test_general_budget_is_per_token_and_slides(tmp_path: Path) -> None:
    with (
        running_simulator(tmp_path / "s.db", general_rate=(3, 1)) as sim,
        login(sim) as first,
        login(sim) as second,
    ):
        codes = [first.post("/Account/search", json={}).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert second.post("/Account/search", json={}).status_code == 200
        time.sleep(1.05)
        assert first.post("/Account/search", json={}).status_code == 200


def test_http_error_hang_latency_and_429_faults(sim: SimulatorHandle, api: httpx.Client) -> None:
    sim.set_faults(error_status=503, error_count=2)
    assert [api.post("/Account/search", json={}).status_code for _ in range(3)] == [503, 503, 200]
    sim.set_faults(rate_limit_count=1)
    assert [api.post("/Account/search", json={}).status_code for _ in range(2)] == [429, 200]
    sim.set_faults(hang_count=1, hang_seconds=1)
    with pytest.raises(httpx.ReadTimeout):
        api.post("/Account/search", json={}, timeout=0.3)
    sim.set_faults(latency_ms=250, paths=["/api/order"])
    started = time.perf_counter()
    assert api.post("/Account/search", json={}).status_code == 200
    fast = time.perf_counter() - started
    started = time.perf_counter()
    api.post("/Order/searchOpen", json={"accountId": sim.account_id})
    slow = time.perf_counter() - started
    assert fast < 0.2 < 0.25 <= slow
    sim.clear_faults()
    assert sim.server.faults.latency_ms == 0


def test_expired_token_fault_gives_401_until_relogin(
    sim: SimulatorHandle, api: httpx.Client
) -> None:
    sim.set_faults(expire_tokens=True)
    assert api.post("/Account/search", json={}).status_code == 401
    time.sleep(1.01)  # tokens issued in the same second as the fault count as expired
    with login(sim) as fresh:
        assert fresh.post("/Account/search", json={}).status_code == 200


def test_faults_over_the_control_api(sim: SimulatorHandle, api: httpx.Client) -> None:
    set_ = sim.control("POST", "/faults", {"error_status": 500, "error_count": 1})
    assert set_["error_count"] == 1
    assert api.post("/Account/search", json={}).status_code == 500
    bad = httpx.post(
        f"{sim.root_url}/_sim/faults", json={"no_such_fault": 1}, headers=sim.control_headers
    )
    assert bad.status_code == 400
    assert sim.control("DELETE", "/faults")["error_count"] == 0
    step = sim.control("POST", "/step", {"bars": 2})
    assert (step["played"], step["now"]) == (2, "2025-03-03T14:32:00.000000+00:00")


async def _user_hub(
    sim: SimulatorHandle, session: aiohttp.ClientSession, token: str
) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(
        f"{sim.user_hub_url.replace('http', 'ws')}", params={"access_token": token}
    )
    await ws.send_str('{"protocol":"json","version":1}' + RS)
    await ws.receive()
    await ws.send_str(
        json.dumps({"type": 1, "target": "SubscribeAccounts", "arguments": [], "invocationId": "a"})
        + RS
    )
    await ws.receive()
    return ws


async def _texts(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> list[dict]:
    out: list[dict] = []
    try:
        while True:
            msg = await asyncio.wait_for(ws.receive(), seconds)
            if msg.type != aiohttp.WSMsgType.TEXT:
                return out
            out.extend(json.loads(r) for r in msg.data.split(RS) if r)
    except TimeoutError:
        return out


async def test_hub_messages_dropped_and_duplicated_on_demand(sim: SimulatorHandle) -> None:
    token = login(sim).headers["Authorization"].split()[1]
    async with aiohttp.ClientSession() as session:
        ws = await _user_hub(sim, session, token)
        async with httpx.AsyncClient(
            base_url=sim.base_url, headers={"Authorization": f"Bearer {token}"}
        ) as api:
            body = {
                "accountId": sim.account_id,
                "contractId": sim.contract_id("EP"),
                "type": 2,
                "side": 0,
                "size": 1,
            }
            await api.post("/Order/place", json=body)
            await sim.aset_faults(hub_drop=1)
            await sim.astep(1)  # the fill's account event is dropped
            dropped = await _texts(ws, 0.3)
            await api.post(
                "/Position/closeContract",
                json={"accountId": sim.account_id, "contractId": sim.contract_id("EP")},
            )
            await sim.aset_faults(hub_duplicate=1)
            await sim.astep(1)
            duplicated = await _texts(ws, 0.3)
        await ws.close()
    assert dropped == []
    assert [m["target"] for m in duplicated] == ["GatewayUserAccount"] * 2
    assert duplicated[0] == duplicated[1]


def test_restart_over_the_control_api_drops_hub_sockets_and_comes_back(
    sim: SimulatorHandle, api: httpx.Client
) -> None:
    async def scenario() -> list[aiohttp.WSMsgType]:
        token = api.headers["Authorization"].split()[1]
        async with aiohttp.ClientSession() as session:
            ws = await _user_hub(sim, session, token)
            sim.control("POST", "/restart")
            kinds = []
            while len(kinds) < 3:
                msg = await asyncio.wait_for(ws.receive(), 5)
                kinds.append(msg.type)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
            return kinds

    kinds = asyncio.run(scenario())
    assert kinds[0] == aiohttp.WSMsgType.TEXT  # the Close message {"type":7,...}
    deadline = time.time() + 5
    while time.time() < deadline:
        try:
            if api.post("/Account/search", json={}).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    assert api.post("/Account/search", json={}).status_code == 200


@pytest.mark.skipif(not NQ_FILE.is_file(), reason="shared market data not available")
def test_calendar_replay_of_real_nq_bars_is_closed_at_the_weekend(tmp_path: Path) -> None:
    start = datetime(2023, 11, 24, 17, 0, tzinfo=UTC)  # Friday (half day) 12:00 ET
    with (
        running_simulator(
            tmp_path / "s.db", data={"ENQ": NQ_FILE}, replay_mode="calendar", start=start
        ) as sim,
        login(sim) as api,
    ):
        cid = "CON.F.US.ENQ.Z23"
        available = api.post("/Contract/available", json={"live": False}).json()["contracts"]
        assert [c["id"] for c in available] == [cid]  # calendar mode: only products with data
        bars = api.post(
            "/History/retrieveBars",
            json={
                "contractId": cid,
                "startTime": "2023-11-24T16:55:00Z",
                "endTime": start.isoformat(),
                "unit": 2,
                "unitNumber": 1,
                "limit": 3,
            },
        ).json()["bars"]
        assert [b["t"][:16] for b in bars] == [
            "2023-11-24T16:59",
            "2023-11-24T16:58",
            "2023-11-24T16:57",
        ]
        assert bars[0]["c"] > 15000  # real NQ prices, unadjusted
        order = {"accountId": sim.account_id, "contractId": cid, "type": 2, "side": 0, "size": 1}
        assert api.post("/Order/place", json=order).json()["success"] is True
        sim.step(1)
        sim.step_until(datetime(2023, 11, 25, 12, 0, tzinfo=UTC))  # Saturday
        closed = api.post("/Order/place", json=order).json()
        assert (closed["success"], closed["errorCode"]) == (False, 5)
        assert sim.step(1) == 1  # the next bar is Sunday's 18:00 ET open
        assert sim.state()["now"] == datetime(2023, 11, 26, 23, 1, tzinfo=UTC)


def test_accelerated_clock_moves_by_itself(tmp_path: Path) -> None:
    with running_simulator(tmp_path / "s.db", speed=600.0) as sim:
        before = sim.state()["now"]
        time.sleep(0.5)
        after = sim.state()["now"]
    assert (after - before).total_seconds() >= 120  # 0.5 s x 600 = 5 sim minutes, minus slack


async def test_disconnect_hubs_fault_closes_sockets_with_a_close_message(
    sim: SimulatorHandle,
) -> None:
    token = login(sim).headers["Authorization"].split()[1]
    async with aiohttp.ClientSession() as session:
        ws = await _user_hub(sim, session, token)
        await sim.aset_faults(disconnect_hubs=True)
        messages = await _texts(ws, 2)
        assert messages == [{"type": 7, "allowReconnect": True, "error": "Simulated disconnect"}]
        assert ws.closed or (await ws.receive()).type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
        )
        again = await _user_hub(sim, session, token)  # reconnecting works
        assert not again.closed
        await again.close()
