"""Prices the gateway refuses: zero, negative or off the tick grid, in Order/place (errorCode 2
OrderRejected) and Order/modify (errorCode 3 Rejected), over real HTTP; nothing changes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from simulator.testing import SimulatorHandle

# EP: tick 0.25; the stepped demo market trades around 4000-6000.
PLACE_CASES = [
    pytest.param({"type": 1, "limitPrice": 0}, "limitPrice 0", id="limit-zero"),
    pytest.param({"type": 1, "limitPrice": -4000}, "limitPrice -4000", id="limit-negative"),
    pytest.param({"type": 1, "limitPrice": 4000.1}, "tick size 0.25", id="limit-off-tick"),
    pytest.param({"type": 4, "stopPrice": 0}, "stopPrice 0", id="stop-zero"),
    pytest.param({"type": 4, "stopPrice": -1.25}, "stopPrice -1.25", id="stop-negative"),
    pytest.param({"type": 4, "stopPrice": 6000.3}, "tick size 0.25", id="stop-off-tick"),
    pytest.param({"type": 5, "trailPrice": 0}, "trailPrice 0", id="trail-zero"),
    pytest.param({"type": 5, "trailPrice": -10}, "trailPrice -10", id="trail-negative"),
    pytest.param({"type": 5, "trailPrice": 3000.05}, "tick size 0.25", id="trail-off-tick"),
    # a price the order type does not use is still checked, as the gateway binds every field
    pytest.param({"type": 2, "limitPrice": -1}, "limitPrice -1", id="market-with-negative-limit"),
]


def _json(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return json.loads(response.text, parse_float=Decimal)


def _order_fields(sim: SimulatorHandle, **fields: Any) -> dict[str, Any]:
    return {
        "accountId": sim.account_id,
        "contractId": sim.contract_id("EP"),
        "type": 2,
        "side": 0,
        "size": 1,
        **fields,
    }


@pytest.mark.parametrize(("fields", "words"), PLACE_CASES)
def test_order_place_refuses_a_zero_negative_or_off_tick_price(
    sim: SimulatorHandle, api: httpx.Client, fields: dict[str, Any], words: str
) -> None:
    body = _json(api.post("/Order/place", json=_order_fields(sim, **fields)))
    assert (body["success"], body["errorCode"], body["orderId"]) == (False, 2, None)
    assert words in body["errorMessage"]
    assert "Invalid" in body["errorMessage"]
    orders = _json(
        api.post(
            "/Order/search",
            json={"accountId": sim.account_id, "startTimestamp": "2000-01-01T00:00:00Z"},
        )
    )["orders"]
    assert orders == []  # nothing was created


@pytest.mark.parametrize(
    ("order", "change", "words"),
    [
        pytest.param({"type": 1, "limitPrice": 4000}, {"limitPrice": 0}, "limitPrice 0", id="lz"),
        pytest.param(
            {"type": 1, "limitPrice": 4000}, {"limitPrice": -4000}, "limitPrice -4000", id="ln"
        ),
        pytest.param(
            {"type": 1, "limitPrice": 4000}, {"limitPrice": 4000.1}, "tick size 0.25", id="lt"
        ),
        pytest.param({"type": 4, "stopPrice": 6000}, {"stopPrice": 0}, "stopPrice 0", id="sz"),
        pytest.param(
            {"type": 4, "stopPrice": 6000}, {"stopPrice": -6000}, "stopPrice -6000", id="sn"
        ),
        pytest.param(
            {"type": 4, "stopPrice": 6000}, {"stopPrice": 6000.2}, "tick size 0.25", id="st"
        ),
        pytest.param(
            {"type": 5, "side": 1, "trailDistance": 40}, {"trailPrice": 0}, "trailPrice 0", id="tz"
        ),
        pytest.param(
            {"type": 5, "side": 1, "trailDistance": 40},
            {"trailPrice": -3},
            "trailPrice -3",
            id="tn",
        ),
        pytest.param(
            {"type": 5, "side": 1, "trailDistance": 40},
            {"trailPrice": 3000.01},
            "tick size 0.25",
            id="tt",
        ),
    ],
)
def test_order_modify_refuses_a_zero_negative_or_off_tick_price_and_keeps_the_order(
    sim: SimulatorHandle,
    api: httpx.Client,
    order: dict[str, Any],
    change: dict[str, Any],
    words: str,
) -> None:
    placed = _json(api.post("/Order/place", json=_order_fields(sim, **order)))
    assert placed["success"], placed
    ids = {"accountId": sim.account_id, "orderId": placed["orderId"]}
    before = _json(api.post("/Order/searchById", json=ids))["order"]
    reply = _json(api.post("/Order/modify", json={**ids, **change, "size": 3}))
    assert (reply["success"], reply["errorCode"]) == (False, 3)
    assert words in reply["errorMessage"]
    after = _json(api.post("/Order/searchById", json=ids))["order"]
    assert after == before  # neither the price nor the size sent with it was applied
