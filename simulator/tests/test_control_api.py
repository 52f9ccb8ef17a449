"""Who may use the control API (/_sim: clock, users, faults): a caller with the secret, or,
when none is configured, a loopback caller in development only. Everyone else gets 403."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp.test_utils import make_mocked_request

from simulator.records import CONTROL_AUTH_HEADER, SimConfig
from simulator.server import SimServer
from simulator.testing import DEFAULT_START, SimulatorHandle, running_simulator


def test_with_a_secret_only_the_right_header_is_let_in(sim: SimulatorHandle) -> None:
    url = f"{sim.root_url}/_sim/state"
    assert sim.control_headers  # the harness configured a secret and sends it
    assert httpx.get(url).status_code == 403  # from loopback, but without the secret
    wrong = httpx.get(url, headers={CONTROL_AUTH_HEADER: "not-the-secret"})
    assert wrong.status_code == 403
    assert "X-Simulator-Secret" in wrong.json()["error"]
    refused_step = httpx.post(f"{sim.root_url}/_sim/step", json={"bars": 5})
    assert refused_step.status_code == 403
    assert sim.state()["pointsEmitted"] == 0  # the refused step did not move the clock
    right = httpx.get(url, headers=sim.control_headers)
    assert right.status_code == 200
    assert right.json()["now"] == "2025-03-03T14:30:00.000000+00:00"
    assert sim.control("POST", "/step", {"bars": 1})["played"] == 1


def test_the_secret_is_checked_whatever_the_peer(make_server: Callable[..., SimServer]) -> None:
    server = make_server(control_secret="s3cret", control_on_loopback=True)
    for peer in ("127.0.0.1", "203.0.113.7"):
        assert _status(server, peer, {CONTROL_AUTH_HEADER: "s3cret"}) == 200
        assert _status(server, peer, {CONTROL_AUTH_HEADER: "s3cret-"}) == 403
        assert _status(server, peer, {}) == 403


@pytest.mark.parametrize(
    ("peer", "development", "status"),
    [
        ("127.0.0.1", True, 200),
        ("::1", True, 200),
        ("::ffff:127.0.0.1", True, 200),
        ("203.0.113.7", True, 403),  # another machine, even in development
        ("10.0.0.5", True, 403),
        (None, True, 403),  # no peer address known: not loopback
        ("127.0.0.1", False, 403),  # not development: refused even from loopback
    ],
)
def test_without_a_secret_only_loopback_in_development(
    make_server: Callable[..., SimServer], peer: str | None, development: bool, status: int
) -> None:
    server = make_server(control_secret=None, control_on_loopback=development)
    assert _status(server, peer, {}) == status


def test_the_harness_without_a_secret_answers_loopback(tmp_path: Path) -> None:
    with running_simulator(tmp_path / "s.db", control_secret=None) as sim:
        assert sim.control_headers == {}
        assert httpx.get(f"{sim.root_url}/_sim/state").status_code == 200


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., SimServer]]:
    """An unstarted server (its dispatcher is called directly) with the given control config."""
    made: list[SimServer] = []

    def make(**config: Any) -> SimServer:
        cfg = SimConfig(
            store_path=str(tmp_path / f"s{len(made)}.db"),
            speed=None,
            start=DEFAULT_START,
            history_minutes=5,
            **config,
        )
        made.append(SimServer(cfg))
        return made[-1]

    yield make
    for server in made:
        server.engine.store.close()


def _status(server: SimServer, peer: str | None, headers: dict[str, str]) -> int:
    """Dispatch GET /_sim/state as if it came from `peer` (the aiohttp request's remote)."""
    request = make_mocked_request("GET", "/_sim/state", headers=headers).clone(remote=peer)
    return asyncio.run(server._dispatch(request)).status
