"""The matching engine over HTTP on hand-made bars: brackets to the cent, OCO, stops, restart."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import httpx

from simulator.testing import SimulatorHandle, running_simulator
from simulator.tests.conftest import BRACKET_BARS, BRACKET_START, login, write_bars

CID = "CON.F.US.EP.H25"


def _json(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    body = json.loads(response.text, parse_float=Decimal)
    assert body["success"] is True, body
    return body


def _place(api: httpx.Client, sim: SimulatorHandle, **fields: object) -> int:
    body = {
        "accountId": sim.account_id,
        "contractId": CID,
        "type": 2,
        "side": 0,
        "size": 1,
        **fields,
    }
    return _json(api.post("/Order/place", json=body))["orderId"]


def _orders(api: httpx.Client, sim: SimulatorHandle) -> dict[int, dict]:
    rows = _json(
        api.post(
            "/Order/search",
            json={"accountId": sim.account_id, "startTimestamp": "2025-03-03T00:00:00Z"},
        )
    )
    return {o["id"]: o for o in rows["orders"]}


def _balance(api: httpx.Client) -> Decimal:
    return _json(api.post("/Account/search", json={"onlyActiveAccounts": True}))["accounts"][0][
        "balance"
    ]


def test_bracket_from_placement_to_fill_to_flat_to_the_cent(
    bracket_sim: SimulatorHandle, bracket_api: httpx.Client
) -> None:
    sim, api = bracket_sim, bracket_api
    entry = _place(
        api,
        sim,
        customTag="brk-1",
        stopLossBracket={"ticks": -8, "type": 4},
        takeProfitBracket={"ticks": 12, "type": 1},
    )
    orders = _orders(api, sim)
    sl_id, tp_id = sorted(i for i in orders if i != entry)
    assert [orders[i]["status"] for i in (entry, sl_id, tp_id)] == [1, 8, 8]
    open_ids = [
        o["id"]
        for o in _json(api.post("/Order/searchOpen", json={"accountId": sim.account_id}))["orders"]
    ]
    assert open_ids == [entry]  # Suspended children are not "open"

    sim.step(1)  # the entry fills at this bar's open, 5000.00; children go live
    orders = _orders(api, sim)
    assert (orders[entry]["status"], orders[entry]["filledPrice"]) == (2, Decimal("5000"))
    assert (orders[sl_id]["status"], orders[sl_id]["stopPrice"]) == (1, Decimal("4998.00"))
    assert (orders[tp_id]["status"], orders[tp_id]["limitPrice"]) == (1, Decimal("5003.00"))
    assert orders[sl_id]["parentOrderId"] == entry
    assert orders[sl_id]["linkedOrderId"] == tp_id
    positions = _json(api.post("/Position/searchOpen", json={"accountId": sim.account_id}))
    assert [(p["type"], p["size"], p["averagePrice"]) for p in positions["positions"]] == [
        (1, 1, Decimal("5000"))
    ]
    assert _balance(api) == Decimal("49998.60")  # 1.40 entry fee
    assert sim.state()["accounts"][0]["unrealizedPnl"] == Decimal("25.00")  # last 5000.50: 2 ticks

    sim.step(1)  # high 5003.25 reaches the take-profit; the stop-loss is cancelled (OCO)
    orders = _orders(api, sim)
    assert (orders[tp_id]["status"], orders[tp_id]["filledPrice"]) == (2, Decimal("5003.00"))
    assert orders[sl_id]["status"] == 3
    assert (
        _json(api.post("/Position/searchOpen", json={"accountId": sim.account_id}))["positions"]
        == []
    )
    trades = _json(
        api.post(
            "/Trade/search",
            json={"accountId": sim.account_id, "startTimestamp": "2025-03-03T00:00:00Z"},
        )
    )
    assert [
        (t["orderId"], t["side"], t["price"], t["profitAndLoss"], t["fees"])
        for t in trades["trades"]
    ] == [
        (entry, 0, Decimal("5000"), None, Decimal("1.4")),
        (tp_id, 1, Decimal("5003"), Decimal("150"), Decimal("1.4")),
    ]
    assert _balance(api) == Decimal("50147.20")  # 50000 + 12 ticks x 12.50 - 2 x 1.40


def test_bar_touching_both_legs_takes_the_stop_loss(
    bracket_sim: SimulatorHandle, bracket_api: httpx.Client
) -> None:
    sim, api = bracket_sim, bracket_api
    sim.step(3)  # next bar (the 4th played) touches 4995 and 5007
    entry = _place(
        api,
        sim,
        side=1,
        stopLossBracket={"ticks": 12, "type": 4},
        takeProfitBracket={"ticks": -12, "type": 1},
    )
    sim.step(1)  # short at the open 5003.00: SL 5006.00, TP 5000.00, both inside 4995..5007
    orders = _orders(api, sim)
    sl = next(o for o in orders.values() if o["parentOrderId"] == entry and o["type"] == 4)
    tp = next(o for o in orders.values() if o["parentOrderId"] == entry and o["type"] == 1)
    assert (sl["status"], sl["filledPrice"]) == (2, Decimal("5006.00"))
    assert tp["status"] == 3
    assert _balance(api) == Decimal("50000") - Decimal("150") - Decimal("2.80")


def test_limit_placed_between_bars_acts_from_the_next_bar_and_fills_at_the_better_open(
    bracket_sim: SimulatorHandle, bracket_api: httpx.Client
) -> None:
    sim, api = bracket_sim, bracket_api
    sim.step(1)  # played bar: open 5000.00 .. close 5000.50
    order = _place(api, sim, type=1, side=1, limitPrice=5000.75)  # sell limit below next open
    sim.step(1)  # next bar opens 5001.00 >= limit: fills at the better open
    assert _orders(api, sim)[order]["filledPrice"] == Decimal("5001.00")


def test_stop_and_cancelled_entry_cancels_its_suspended_children(
    bracket_sim: SimulatorHandle, bracket_api: httpx.Client
) -> None:
    sim, api = bracket_sim, bracket_api
    stop = _place(api, sim, type=4, stopPrice=5003.00)
    entry = _place(api, sim, type=1, limitPrice=4900, stopLossBracket={"ticks": -4, "type": 4})
    _json(api.post("/Order/cancel", json={"accountId": sim.account_id, "orderId": entry}))
    sim.step(2)
    orders = _orders(api, sim)
    assert (orders[stop]["status"], orders[stop]["filledPrice"]) == (2, Decimal("5003.00"))
    assert [o["status"] for o in orders.values() if o["parentOrderId"] == entry] == [3]


def test_trailing_stop_ratchets_after_each_bar_and_never_loosens(
    bracket_sim: SimulatorHandle, bracket_api: httpx.Client
) -> None:
    sim, api = bracket_sim, bracket_api
    _place(api, sim)  # long 1 at 5000.00 on the next step
    sim.step(1)
    trail = _place(api, sim, type=5, side=1, trailDistance=8)  # 2 points below last 5000.50
    assert _orders(api, sim)[trail]["stopPrice"] == Decimal("4998.50")
    sim.step(1)  # high 5003.25 -> level 5001.25 (checked at 4998.50 first: low 5000.75, no fill)
    order = _orders(api, sim)[trail]
    assert (order["status"], order["stopPrice"], order["trailDistance"]) == (
        1,
        Decimal("5001.25"),
        8,
    )
    sim.step(1)  # low 5002.00 > 5001.25: no fill; high 5004 -> 5002.00
    sim.step(1)  # low 4995 hits 5002.00; open 5003.00 is above, so it fills at the stop
    order = _orders(api, sim)[trail]
    assert (order["status"], order["filledPrice"]) == (2, Decimal("5002.00"))


def test_magnitude_bracket_mode_accepts_positive_ticks(tmp_path: Path) -> None:
    data = write_bars(tmp_path / "ep.csv.gz", BRACKET_BARS, BRACKET_START)
    with (
        running_simulator(
            tmp_path / "s.db", data={"EP": data}, history_minutes=2, bracket_ticks="magnitude"
        ) as sim,
        login(sim) as api,
    ):
        entry = _place(
            api,
            sim,
            stopLossBracket={"ticks": 8, "type": 4},
            takeProfitBracket={"ticks": 8, "type": 1},
        )
        sim.step(1)  # long at 5000.00; |8| ticks on the protective and profit sides
        legs = {o["type"]: o for o in _orders(api, sim).values() if o["parentOrderId"] == entry}
    assert (legs[4]["status"], legs[4]["stopPrice"]) == (1, Decimal("4998.00"))
    assert (legs[1]["status"], legs[1]["limitPrice"]) == (1, Decimal("5002.00"))


def test_restart_keeps_orders_positions_trades_balance_clock_and_tokens(
    bracket_sim: SimulatorHandle, bracket_api: httpx.Client
) -> None:
    sim, api = bracket_sim, bracket_api
    _place(
        api,
        sim,
        stopLossBracket={"ticks": -8, "type": 4},
        takeProfitBracket={"ticks": 12, "type": 1},
    )
    sim.step(1)
    before = (
        _orders(api, sim),
        _balance(api),
        sim.state()["now"],
        _json(api.post("/Position/searchOpen", json={"accountId": sim.account_id})),
    )
    sim.restart()
    after = (
        _orders(api, sim),
        _balance(api),
        sim.state()["now"],
        _json(api.post("/Position/searchOpen", json={"accountId": sim.account_id})),
    )
    assert after == before  # same token still valid: the signing secret is in the store
    sim.step(1)  # and the engine carries on: the take-profit fills after the restart
    assert _balance(api) == Decimal("50147.20")
    new_id = _place(api, sim, type=1, limitPrice=4000)
    assert new_id > max(before[0])
