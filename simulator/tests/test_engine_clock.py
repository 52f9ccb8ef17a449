"""The clock's timing rules and history units, in-process on hand-made bars (no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from simulator.engine import Engine
from simulator.market import Unit
from simulator.records import GatewayError, SimConfig
from simulator.tests.conftest import BRACKET_BARS, BRACKET_START, write_bars
from simulator.wire import Fields

CID = "CON.F.US.EP.H25"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    data = write_bars(tmp_path / "ep.csv.gz", BRACKET_BARS, BRACKET_START)
    return Engine(
        SimConfig(
            store_path=str(tmp_path / "s.db"),
            data={"EP": str(data)},
            speed=None,
            start=BRACKET_START,
            history_minutes=2,
        )
    )


def _place(engine: Engine, **fields: object) -> int:
    body = {
        "accountId": min(engine.accounts),
        "contractId": CID,
        "type": 2,
        "side": 0,
        "size": 1,
        **fields,
    }
    return engine.place_order("demo", Fields(body))


def _order(engine: Engine, order_id: int) -> dict:
    return engine.order_payload(engine.orders[order_id])


def test_market_order_mid_bar_fills_at_the_next_emitted_point(engine: Engine) -> None:
    engine.advance_to(BRACKET_START + timedelta(seconds=20))  # points 0 (+0 s) and 1 (+15 s)
    order = _place(engine)
    assert _order(engine, order)["status"] == 1
    engine.advance_to(BRACKET_START + timedelta(seconds=30))  # point 2 of O-L-H-C: the high
    assert _order(engine, order)["filledPrice"] == Decimal("5001.00")
    assert _order(engine, order)["creationTimestamp"] == BRACKET_START + timedelta(seconds=20)


@pytest.fixture
def wall_clock_engine(tmp_path: Path) -> Engine:
    """The same bars on a real-time clock; the test moves it by hand (no wall-clock driver)."""
    data = write_bars(tmp_path / "ep.csv.gz", BRACKET_BARS, BRACKET_START)
    return Engine(
        SimConfig(
            store_path=str(tmp_path / "rt.db"),
            data={"EP": str(data)},
            speed=1.0,
            start=BRACKET_START,
            history_minutes=2,
        )
    )


def test_on_a_wall_clock_a_market_order_fills_at_once_at_the_last_price(
    wall_clock_engine: Engine,
) -> None:
    engine = wall_clock_engine
    engine.advance_to(BRACKET_START + timedelta(seconds=20))  # O-L-H-C: 5000.00, then 4999.50
    placed_at = engine.now()
    order = _place(engine)
    filled = _order(engine, order)
    assert (filled["status"], filled["filledPrice"]) == (2, Decimal("4999.50"))
    assert filled["updateTimestamp"] == placed_at  # no clock movement was needed
    [trade] = engine.trade_search("demo", Fields({"accountId": min(engine.accounts)}))
    assert (trade["price"], trade["orderId"], trade["creationTimestamp"]) == (
        Decimal("4999.50"),
        order,
        placed_at,
    )
    short = _place(engine, side=1, size=2)  # closes the long, opens a short, same price
    assert _order(engine, short)["filledPrice"] == Decimal("4999.50")
    account = min(engine.accounts)
    engine.close_position("demo", Fields({"accountId": account, "contractId": CID}), partial=False)
    assert engine.positions_open("demo", Fields({"accountId": account})) == []


def test_on_a_wall_clock_a_bracket_filled_at_once_works_from_the_next_bar(
    wall_clock_engine: Engine,
) -> None:
    engine = wall_clock_engine
    engine.advance_to(BRACKET_START + timedelta(seconds=20))
    entry = _place(
        engine, stopLossBracket={"ticks": -2, "type": 4}, takeProfitBracket={"ticks": 2, "type": 1}
    )
    assert _order(engine, entry)["filledPrice"] == Decimal("4999.50")  # SL 4999.00, TP 5000.00
    legs = {o.role: o for o in engine.orders.values() if o.parent_id == entry}
    engine.step(1)  # this bar's high 5001.00 passes the TP: not live yet (no look-ahead)
    assert {role: o.status for role, o in legs.items()} == {"sl": 1, "tp": 1}
    engine.step(1)  # next bar opens 5001.00 above the TP: it fills at the better open
    assert {role: o.status for role, o in legs.items()} == {"sl": 3, "tp": 2}
    assert _order(engine, legs["tp"].id)["filledPrice"] == Decimal("5001.00")


def test_limit_placed_mid_bar_ignores_the_rest_of_that_bar(engine: Engine) -> None:
    engine.advance_to(BRACKET_START + timedelta(seconds=20))
    # this bar's high is 5001.00; the next bar's high is 5003.25
    order = _place(engine, type=1, side=1, limitPrice=5001)
    engine.step(1)  # completes the current bar: not eligible
    assert _order(engine, order)["status"] == 1
    engine.step(1)  # next bar opens 5001.00 >= limit -> fills at the open
    assert _order(engine, order)["filledPrice"] == Decimal("5001.00")


def test_entry_filled_mid_bar_arms_its_bracket_from_the_next_bar(engine: Engine) -> None:
    engine.advance_to(BRACKET_START + timedelta(seconds=20))
    entry = _place(
        engine, stopLossBracket={"ticks": -2, "type": 4}, takeProfitBracket={"ticks": 2, "type": 1}
    )
    engine.advance_to(BRACKET_START + timedelta(seconds=30))  # fills at 5001.00 (point 2)
    legs = [o for o in engine.orders.values() if o.parent_id == entry]
    assert all(o.status == 1 for o in legs)
    engine.step(1)  # rest of the bar (low 4999.50 would hit SL 5000.50): legs not yet live
    assert all(o.status == 1 for o in legs)
    engine.step(1)  # next bar: open 5001.00, high 5003.25 >= TP 5001.50; low 5000.75 > SL
    assert {o.role: o.status for o in legs} == {"tp": 2, "sl": 3}


def test_join_bid_and_ask_rest_at_the_current_quote(engine: Engine) -> None:
    engine.step(1)  # last print 5000.50 after the high 5001.00, a down-tick: at the bid
    bid = _place(engine, type=6, side=0)
    ask = _place(engine, type=7, side=1)
    assert _order(engine, bid)["limitPrice"] == Decimal("5000.50")
    assert _order(engine, ask)["limitPrice"] == Decimal("5000.75")


def test_modify_moves_a_live_bracket_leg_and_rejects_wrong_fields(engine: Engine) -> None:
    entry = _place(engine, stopLossBracket={"ticks": -8, "type": 4})
    engine.step(1)
    stop = next(o for o in engine.orders.values() if o.parent_id == entry)
    account = min(engine.accounts)
    engine.modify_order(
        "demo", Fields({"accountId": account, "orderId": stop.id, "stopPrice": 5000.75})
    )
    assert _order(engine, stop.id)["stopPrice"] == Decimal("5000.75")
    with pytest.raises(GatewayError) as info:
        engine.modify_order(
            "demo", Fields({"accountId": account, "orderId": stop.id, "limitPrice": 5000})
        )
    assert info.value.code == 3
    engine.step(1)  # low 5000.75 touches the moved stop
    assert _order(engine, stop.id)["filledPrice"] == Decimal("5000.75")
    assert engine.positions_open("demo", Fields({"accountId": account})) == []


def test_second_and_tick_bars_come_from_the_intrabar_path(engine: Engine) -> None:
    engine.step(1)
    start, end = BRACKET_START, BRACKET_START + timedelta(minutes=1)
    seconds = engine.history("EP", start, end, Unit(1, 15), 100, False)
    # O-L-H-C of (5000, 5001, 4999.50, 5000.50), one 15-second bar per point, newest first
    assert [b["c"] for b in seconds] == [
        Decimal("5000.50"),
        Decimal("5001.00"),
        Decimal("4999.50"),
        Decimal("5000.00"),
    ]
    assert sum(b["v"] for b in seconds) == 102  # the bar's volume, split over its points
    ticks = engine.history("EP", start, end, Unit(7, 2), 100, False)
    assert [(b["o"], b["c"]) for b in ticks] == [
        (Decimal("5001.00"), Decimal("5000.50")),
        (Decimal("5000.00"), Decimal("4999.50")),
    ]


def test_daily_bars_span_the_globex_session_and_partial_bar_is_optional(engine: Engine) -> None:
    engine.step(2)
    start = datetime(2025, 3, 2, 0, 0, tzinfo=UTC)
    end = engine.now()
    assert engine.history("EP", start, end, Unit(4, 1), 10, False) == []  # session still open
    daily = engine.history("EP", start, end, Unit(4, 1), 10, True)
    assert len(daily) == 1
    bar = daily[0]
    assert bar["t"] == datetime(2025, 3, 2, 23, 0, tzinfo=UTC)  # 18:00 ET Sunday
    assert (bar["o"], bar["h"], bar["l"], bar["c"]) == (
        Decimal("5000.00"),
        Decimal("5003.25"),
        Decimal("4999.00"),
        Decimal("5003.00"),
    )
    assert bar["v"] == 100 + 101 + 102 + 103


def test_clock_and_quotes_survive_a_reload_of_the_store(tmp_path: Path, engine: Engine) -> None:
    engine.advance_to(BRACKET_START + timedelta(seconds=20))
    before = engine.state()
    engine.store.close()
    again = Engine(engine.config)
    assert again.state() == before
    assert again.emitted == 2


def test_week_and_month_bars_bucket_by_trading_date(tmp_path: Path) -> None:
    engine = Engine(
        SimConfig(
            store_path=str(tmp_path / "w.db"),
            speed=None,
            start=BRACKET_START,
            history_minutes=40 * 1440,
        )
    )
    start, end = datetime(2025, 1, 1, tzinfo=UTC), engine.now()
    months = engine.history("EP", start, end, Unit(6, 1), 100, True)
    assert [m["t"] for m in months] == [
        datetime(2025, 2, 28, 23, 0, tzinfo=UTC),  # March opens 18:00 ET the evening before
        datetime(2025, 1, 31, 23, 0, tzinfo=UTC),
        datetime(2024, 12, 31, 23, 0, tzinfo=UTC),  # January (data from Jan 22)
    ]
    weeks = engine.history("EP", start, end, Unit(5, 1), 100, False)
    assert all(w["t"].weekday() == 6 and w["t"].hour == 23 for w in weeks)  # Sunday 18:00 ET
    # weeks from Jan 20 to Feb 24; the week of Mar 3 is still forming, so it is left out
    assert [w["t"].date().isoformat() for w in weeks[:1] + weeks[-1:]] == [
        "2025-02-23",
        "2025-01-19",
    ]
    assert len(weeks) == 6
    minutes = list(engine.series["EP"].bars(int(start.timestamp()), int(end.timestamp())))
    assert sum(m["v"] for m in months) == sum(b[5] for b in minutes)
