"""The simulator's switches for the gateway's order-side behaviours (projectx-gateway.md §11):
the account's bracket mode, StopLimit refused, trailing stops priced by an absolute trailPrice,
the history cap and a login's token lifetime."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from simulator.testing import SimulatorHandle
from simulator.tests.test_matching import CID, _orders, _place
from simulator.tokens import decode

BRACKETS = {
    "stopLossBracket": {"ticks": -8, "type": 4},
    "takeProfitBracket": {"ticks": 12, "type": 1},
}


def _post(api: httpx.Client, path: str, body: dict) -> dict:
    response = api.post(path, json=body)
    assert response.status_code == 200, response.text
    return json.loads(response.text, parse_float=Decimal)


def _place_raw(api: httpx.Client, sim: SimulatorHandle, **fields: object) -> dict:
    body = {"accountId": sim.account_id, "contractId": CID, "type": 2, "side": 0, "size": 1}
    return _post(api, "/Order/place", {**body, **fields})


def test_auto_oco_accounts_take_brackets_by_default(bracket_sim, bracket_api) -> None:
    answer = _place_raw(bracket_api, bracket_sim, customTag="a", **BRACKETS)
    assert answer["success"] is True
    children = [o for o in _orders(bracket_api, bracket_sim).values() if o["parentOrderId"]]
    assert len(children) == 2


def test_position_brackets_refuse_the_order_and_place_nothing(bracket_sim, bracket_api) -> None:
    bracket_sim.control(
        "POST", "/accounts/bracket-mode", {"accountId": bracket_sim.account_id, "mode": "position"}
    )
    answer = _place_raw(bracket_api, bracket_sim, customTag="p", **BRACKETS)
    assert (answer["success"], answer["errorCode"], answer["orderId"]) == (False, 2, None)
    assert "Auto OCO Brackets" in answer["errorMessage"]
    assert _orders(bracket_api, bracket_sim) == {}
    # the same order without brackets goes in
    assert _place_raw(bracket_api, bracket_sim, customTag="p")["success"] is True


def test_the_refusal_can_carry_the_id_of_an_entry_placed_without_brackets(
    bracket_sim, bracket_api
) -> None:
    bracket_sim.control(
        "POST",
        "/accounts/bracket-mode",
        {"accountId": bracket_sim.account_id, "mode": "position", "refusalPlacesEntry": True},
    )
    answer = _place_raw(bracket_api, bracket_sim, customTag="q", **BRACKETS)
    assert (answer["success"], answer["errorCode"]) == (False, 2)
    orders = _orders(bracket_api, bracket_sim)
    assert list(orders) == [answer["orderId"]]  # the entry, and no bracket children
    assert orders[answer["orderId"]]["customTag"] == "q"


def test_an_unknown_bracket_mode_is_refused_and_changes_nothing(bracket_sim) -> None:
    with pytest.raises(httpx.HTTPStatusError):
        bracket_sim.control(
            "POST", "/accounts/bracket-mode", {"accountId": bracket_sim.account_id, "mode": "oco"}
        )
    assert bracket_sim.server.engine.accounts[bracket_sim.account_id].bracket_mode == "auto_oco"


def test_stop_limit_cannot_be_placed(bracket_sim, bracket_api) -> None:
    answer = _place_raw(bracket_api, bracket_sim, type=3, stopPrice="5001.00", limitPrice="5001.25")
    assert (answer["success"], answer["errorCode"]) == (False, 2)
    assert "StopLimit" in answer["errorMessage"]
    assert _orders(bracket_api, bracket_sim) == {}


def test_trail_price_is_the_absolute_price_where_the_stop_starts(bracket_sim, bracket_api) -> None:
    sim, api = bracket_sim, bracket_api
    _place(api, sim)
    sim.step(1)  # long 1 at 5000.00, last 5000.50
    trail = _place(api, sim, type=5, side=1, trailPrice="4998.50")
    order = _orders(api, sim)[trail]
    # the stop starts at 4998.50 and trails 8 ticks (the market's distance from it) behind
    assert (order["stopPrice"], order["trailPrice"], order["trailDistance"]) == (
        Decimal("4998.50"),
        Decimal("4998.50"),
        8,
    )
    sim.step(1)  # high 5003.25: the stop follows to 5001.25
    assert _orders(api, sim)[trail]["trailPrice"] == Decimal("5001.25")
    # a trailPrice above the market for a sell (a distance sent as a price would be) is refused
    wrong = _place_raw(api, sim, type=5, side=0, trailPrice="8")
    assert (wrong["success"], wrong["errorCode"]) == (False, 2)


def test_the_history_cap_keeps_the_newest_bars_whatever_the_limit(sim, api) -> None:
    sim.control("POST", "/history/cap", {"bars": 5})
    body = {
        "contractId": CID,
        "live": False,
        "startTime": "2025-03-01T00:00:00Z",
        "endTime": "2025-03-03T14:30:00Z",
        "unit": 2,
        "unitNumber": 1,
        "limit": 20000,
    }
    bars = _post(api, "/History/retrieveBars", body)["bars"]
    assert bars[0]["t"] == "2025-03-03T14:29:00.000000+00:00"
    assert len(bars) == 5
    with pytest.raises(httpx.HTTPStatusError):
        sim.control("POST", "/history/cap", {"bars": 20001})


def test_a_login_token_lifetime_can_be_shortened(sim) -> None:
    sim.control("POST", "/users/token-ttl", {"user": sim.username, "seconds": 30})
    token = sim.login()
    claims = decode(sim.server.engine.secret, token, now=0)
    assert claims.expires_at - claims.issued_at == 30
    sim.control("POST", "/users/token-ttl", {"user": sim.username, "seconds": None})
    claims = decode(sim.server.engine.secret, sim.login(), now=0)
    assert claims.expires_at - claims.issued_at == 24 * 3600
