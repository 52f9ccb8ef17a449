"""The simulator on the wall clock, as the demo runs it: market orders fill at once, as on the
gateway (the stepped clock's next-price rule is in test_engine_clock.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from simulator.testing import SimulatorHandle, running_simulator
from simulator.tests.conftest import login


@pytest.fixture
def realtime_sim(tmp_path: Path) -> Iterator[SimulatorHandle]:
    with running_simulator(tmp_path / "rt.sqlite3", speed=1.0, start=None) as handle:
        yield handle


def _json(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    return json.loads(response.text, parse_float=Decimal)


def test_a_market_order_and_a_flatten_fill_at_once_at_the_market_price(
    realtime_sim: SimulatorHandle,
) -> None:
    sim = realtime_sim
    cid, acc = sim.contract_id("MNQ"), sim.account_id
    with login(sim) as api:
        before = Decimal(str(sim.state()["lastPrices"]["MNQ"]))
        started = time.monotonic()
        placed = _json(
            api.post(
                "/Order/place",
                json={"accountId": acc, "contractId": cid, "type": 2, "side": 1, "size": 2},
            )
        )
        order = _json(
            api.post("/Order/searchById", json={"accountId": acc, "orderId": placed["orderId"]})
        )["order"]
        elapsed = time.monotonic() - started
        after = Decimal(str(sim.state()["lastPrices"]["MNQ"]))
        assert (order["status"], order["fillVolume"]) == (2, 2)
        # filled at the instant it was placed (the simulator's clock did not move in between)
        assert order["updateTimestamp"] == order["creationTimestamp"]
        assert elapsed < 5.0  # two local requests; generous for a loaded machine
        # the price printed when it was placed (a new print may land between the reads)
        assert order["filledPrice"] in {before, after}
        positions = _json(api.post("/Position/searchOpen", json={"accountId": acc}))["positions"]
        assert [(p["type"], p["size"]) for p in positions] == [(2, 2)]

        flatten = _json(
            api.post("/Position/closeContract", json={"accountId": acc, "contractId": cid})
        )
        assert flatten["success"]
        assert _json(api.post("/Position/searchOpen", json={"accountId": acc}))["positions"] == []
        trades = _json(
            api.post(
                "/Trade/search",
                json={"accountId": acc, "startTimestamp": "2000-01-01T00:00:00Z"},
            )
        )["trades"]
    assert [(t["side"], t["size"]) for t in trades] == [(1, 2), (0, 2)]
    assert trades[0]["profitAndLoss"] is None
    assert trades[1]["profitAndLoss"] is not None  # the flatten closed it
