"""Fixtures: a stepped simulator per test on a free port, and an authenticated httpx client."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from simulator.testing import SimulatorHandle, running_simulator

# Hand-made EP bars (points): two history bars, then the bars a test plays, one per step.
BRACKET_BARS = [
    ("5000.00", "5001.00", "4999.00", "5000.00"),
    ("5000.00", "5001.00", "4999.00", "5000.00"),
    # step 1: market entry fills at this open; SL 4998.00 / TP 5003.00 untouched
    ("5000.00", "5001.00", "4999.50", "5000.50"),
    # step 2: high 5003.25 reaches the take-profit at 5003.00
    ("5001.00", "5003.25", "5000.75", "5003.00"),
    ("5003.00", "5004.00", "5002.00", "5003.50"),
    # step 4: touches both 4999.00 and 5006.00 (for the stop-loss-first test)
    ("5003.00", "5007.00", "4995.00", "5004.00"),
    ("5004.00", "5005.00", "5003.00", "5004.00"),
]
BRACKET_START = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)


def write_bars(path: Path, bars: list[tuple[str, str, str, str]], first: datetime) -> Path:
    """A gz CSV in the shared data format, one bar per minute from `first`."""
    lines = ["ts_utc,open,high,low,close,volume"]
    for i, (o, h, low, c) in enumerate(bars):
        t = (first + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append(f"{t},{o},{h},{low},{c},{100 + i}")
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimulatorHandle]:
    with running_simulator(tmp_path / "sim.sqlite3") as handle:
        yield handle


@pytest.fixture
def bracket_sim(tmp_path: Path) -> Iterator[SimulatorHandle]:
    """EP replays BRACKET_BARS (two bars of history); other products random-walk."""
    data = write_bars(tmp_path / "ep.csv.gz", BRACKET_BARS, BRACKET_START)
    with running_simulator(
        tmp_path / "sim.sqlite3", data={"EP": data}, start=BRACKET_START, history_minutes=2
    ) as handle:
        yield handle


def login(handle: SimulatorHandle) -> httpx.Client:
    token = httpx.post(
        f"{handle.base_url}/Auth/loginKey",
        json={"userName": handle.username, "apiKey": handle.api_key},
    ).json()["token"]
    return httpx.Client(
        base_url=handle.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


@pytest.fixture
def api(sim: SimulatorHandle) -> Iterator[httpx.Client]:
    with login(sim) as client:
        yield client


@pytest.fixture
def bracket_api(bracket_sim: SimulatorHandle) -> Iterator[httpx.Client]:
    with login(bracket_sim) as client:
        yield client
