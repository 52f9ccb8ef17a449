"""The demo's session market (simulator/session_walk.py): its bars, its per-second path, its history
and how the engine plays it. In-process, no HTTP, so hypothesis can try many instants and seeds."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from markets import calendar
from markets.fills import intrabar_path
from markets.sessions import NEW_YORK, at_et, trading_date
from markets.ticks import spec_for
from simulator.engine import Engine
from simulator.market import Unit
from simulator.records import GatewayError, SimConfig
from simulator.session_walk import SessionWalkSeries, history_origin, second_path
from simulator.wire import Fields

SPECS = [spec_for(symbol) for symbol in ("ES", "NQ", "CL", "GC", "YM")]
# Any minute from 2024 to 2027: weekends, holidays, half days and both DST changes included.
INSTANTS = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
).map(lambda at: at.replace(second=0, microsecond=0))
TUESDAY_0922 = at_et(date(2026, 3, 10), time(9, 22))  # two days after the spring DST change


def _series(spec, seed: int, start: datetime, sessions: int) -> SessionWalkSeries:
    return SessionWalkSeries(spec, seed=seed, origin=history_origin(start, sessions))


def _engine(start: datetime, sessions: int = 3, **config: object) -> Engine:
    return Engine(
        SimConfig(market="sessions", speed=None, start=start, history_sessions=sessions, **config)
    )


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(SPECS), st.integers(0, 2**32), INSTANTS)
def test_bars_are_on_the_tick_grid_consistent_and_continuous(spec, seed, start) -> None:
    series = _series(spec, seed, start, 3)
    t, o, h, low, c, v = series.columns(series.origin, int(start.timestamp()))
    assert len(t) > 3 * 900  # three sessions, at least as long as a half day each
    assert all(col.dtype == np.int64 for col in (o, h, low, c, v))  # whole ticks
    assert (low >= 1).all()
    assert (low <= np.minimum(o, c)).all()
    assert (h >= np.maximum(o, c)).all()
    assert (v >= 60).all()  # every second of every bar can print a trade
    assert (o[1:] == c[:-1]).all()  # one walk: a bar (and a session) opens at the last close
    assert (np.diff(t) >= 60).all()
    assert (t % 60 == 0).all()


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32), INSTANTS)
def test_bars_trade_exactly_the_calendar_sessions(seed, start) -> None:
    series = _series(spec_for("ES"), seed, start, 3)
    times = series.columns(series.origin, int(start.timestamp()))[0]
    opened = [datetime.fromtimestamp(int(x), UTC) for x in times]
    assert all(calendar.is_open(at) for at in opened)  # never in a break, weekend or holiday
    assert not any(  # Friday 17:00 ET to Sunday 18:00 ET is closed
        (at.astimezone(NEW_YORK).weekday() == 5)
        or (at.astimezone(NEW_YORK).weekday() == 6 and at.astimezone(NEW_YORK).hour < 18)
        for at in opened
    )
    for day in sorted({trading_date(at) for at in opened})[:-1]:  # complete sessions: no gaps
        session = calendar.session(day)
        assert session is not None
        minutes = (session.close_at - session.open_at) // timedelta(minutes=1)
        if session.break_start_at is not None and session.break_end_at is not None:
            minutes -= (session.break_end_at - session.break_start_at) // timedelta(minutes=1)
        assert sum(trading_date(at) == day for at in opened) == minutes


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32), INSTANTS, st.lists(st.integers(1, 5 * 86400), max_size=4))
def test_the_walk_is_the_same_however_it_is_read(seed, start, reads) -> None:
    """Generated lazily, a session at a time: the order of the reads changes nothing."""
    spec = spec_for("NQ")
    whole = _series(spec, seed, start, 3)
    pieces = _series(spec, seed, start, 3)
    for offset in reads:
        pieces.bar_at(whole.origin + offset - offset % 60)
    end = int(start.timestamp()) + 86400
    for a, b in zip(
        whole.columns(whole.origin, end), pieces.columns(pieces.origin, end), strict=True
    ):
        assert np.array_equal(a, b)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 100_000),
    st.lists(st.integers(-40, 40), min_size=2, max_size=2),
    st.integers(0, 2**32),
)
def test_the_second_path_runs_from_open_to_close_through_the_low_and_high(base, ends, seed):
    o, c = base + ends[0], base + ends[1]
    low, h = min(o, c) - abs(seed % 7), max(o, c) + abs(seed % 11)
    path = second_path((0, o, h, low, c, 100), np.random.default_rng(seed))
    assert len(path) == 60
    assert all(isinstance(p, int) for p in path)
    assert (path[0], path[-1], max(path), min(path)) == (o, c, h, low)
    first, second = intrabar_path(o, h, low, c)[1:3]  # O-L-H-C or O-H-L-C, as the fills assume
    i = path.index(first, 1)
    assert second in path[i:]


def test_history_covers_ninety_sessions_whatever_the_hour() -> None:
    """At a weekday 09:22, on a Saturday and on a DST Sunday evening the demo has 90 complete
    sessions behind it (what the strategies' warm-up asks of the calendar)."""
    for start in (
        TUESDAY_0922,
        datetime(2026, 3, 14, 15, 0, tzinfo=UTC),  # Saturday: closed
        at_et(date(2026, 11, 1), time(18, 30)),  # the fall DST change, just after the open
    ):
        engine = _engine(start, sessions=90)
        daily = engine.history("EP", start - timedelta(days=200), start, Unit(4, 1), 500, False)
        dates = sorted(trading_date(bar["t"]) for bar in daily)  # a session bar opens at 18:00
        last = calendar.previous_trading_day(trading_date(start))
        first = last
        for _ in range(89):
            first = calendar.previous_trading_day(first)
        assert dates == calendar.trading_days(first, last)


@settings(max_examples=12, deadline=None)
@given(st.sampled_from(SPECS), INSTANTS, st.integers(1, 30))
def test_history_and_the_live_clock_are_one_series(spec, start, n_bars) -> None:
    """What History/retrieveBars served before the clock moved, then the bars the clock played
    (at a weekend: from Sunday's open): one walk, nothing rewritten, every price on the grid."""
    engine = _engine(start)
    root, since = spec.contract_id, start - timedelta(days=4)
    before = engine.history(root, since, start, Unit(2, 1), 20_000, False)
    engine.step(n_bars)
    after = engine.history(root, since, engine.now(), Unit(2, 1), 20_000, False)
    assert after[n_bars:] == before  # newest first: the played bars came on top
    played = list(reversed(after[:n_bars]))
    assert played[0]["t"] == datetime.fromtimestamp(
        engine.series[root].next_time(int(start.timestamp())), UTC
    )
    assert played[0]["o"] == before[0]["c"]
    assert all(a["c"] == b["o"] for a, b in itertools.pairwise(played))
    assert engine.state()["lastPrices"][root] == played[-1]["c"]  # what the clock printed last
    assert all(bar[k] % spec.tick_size == 0 for bar in after for k in "ohlc")


def test_the_market_prints_every_second_and_a_market_order_fills_within_one() -> None:
    engine = _engine(TUESDAY_0922)
    events: list = []
    engine.on_events = events.extend  # what the market hub would send
    engine.advance_to(TUESDAY_0922 + timedelta(seconds=9, milliseconds=400))
    for kind in ("GatewayQuote", "GatewayTrade"):
        printed = [e[3] for e in events if e[1] == "EP" and e[2] == kind]
        stamps = [p["timestamp"] if kind == "GatewayQuote" else p[0]["timestamp"] for p in printed]
        assert stamps == [TUESDAY_0922 + timedelta(seconds=s) for s in range(10)]
    account = min(engine.accounts)
    order = engine.place_order(
        "demo",
        Fields(
            {
                "accountId": account,
                "contractId": engine.contract_payload(spec_for("ES"))["id"],
                "type": 2,
                "side": 0,
                "size": 1,
            }
        ),
    )
    engine.advance_to(TUESDAY_0922 + timedelta(seconds=10))
    filled = engine.order_payload(engine.orders[order])
    assert filled["status"] == 2
    assert filled["updateTimestamp"] - TUESDAY_0922 == timedelta(seconds=10)
    assert filled["filledPrice"] == engine.state()["lastPrices"]["EP"]


def test_the_market_is_closed_at_weekends_and_in_the_daily_break() -> None:
    saturday = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)
    engine = _engine(saturday)
    assert not engine.is_open("EP")
    engine.step(1)  # the next bar is Sunday's 18:00 ET open
    assert engine.now() == at_et(date(2026, 3, 15), time(18, 1))
    assert engine.is_open("EP")
    in_break = _engine(at_et(date(2026, 3, 10), time(17, 20)))
    assert not in_break.is_open("EP")
    with pytest.raises(GatewayError, match="outside of trading hours"):
        in_break.place_order(
            "demo",
            Fields(
                {
                    "accountId": min(in_break.accounts),
                    "contractId": in_break.contract_payload(spec_for("ES"))["id"],
                    "type": 2,
                    "side": 0,
                    "size": 1,
                }
            ),
        )


def test_a_restart_replays_the_same_market(tmp_path) -> None:
    engine = _engine(TUESDAY_0922, store_path=str(tmp_path / "s.db"))
    engine.step(3)
    before = engine.history(
        "EP", TUESDAY_0922 - timedelta(days=2), engine.now(), Unit(2, 1), 5000, False
    )
    engine.store.close()
    again = Engine(engine.config)
    assert again.origin == engine.origin
    assert (
        again.history("EP", TUESDAY_0922 - timedelta(days=2), again.now(), Unit(2, 1), 5000, False)
        == before
    )


def test_catching_up_prints_four_points_a_bar_and_fills_as_playing_every_second() -> None:
    """After a restart the real-time clock catches up with the wall clock in one go: bars that
    ended before then print their four coarse points, with the same fills as every second."""
    engines, quotes = [], []
    for _ in range(2):
        engine = _engine(TUESDAY_0922)
        events: list = []
        engine.on_events = events.extend
        last = engine.quotes["EP"].last
        contract = engine.contract_payload(spec_for("ES"))["id"]
        account = min(engine.accounts)
        for order in (
            {"type": 2, "side": 0},  # market: the next open
            {"type": 1, "side": 0, "limitPrice": (last - 24) * Decimal("0.25")},  # 6 points down
            {"type": 4, "side": 1, "stopPrice": (last - 40) * Decimal("0.25")},
        ):
            engine.place_order(
                "demo", Fields({"accountId": account, "contractId": contract, "size": 1, **order})
            )
        engines.append(engine)
        quotes.append(events)
    caught_up, played = engines
    caught_up.advance_to(TUESDAY_0922 + timedelta(hours=2))
    played.step(120)
    assert caught_up.now() == played.now()
    assert [caught_up.order_payload(o) for o in caught_up.orders.values()] == [
        played.order_payload(o) for o in played.orders.values()
    ]
    assert [o.status for o in played.orders.values()] == [2, 2, 2]  # all three filled
    assert caught_up.state() == played.state()  # balances, P&L, last prices
    prints = [sum(e[1] == "EP" and e[2] == "GatewayTrade" for e in q) for q in quotes]
    assert prints == [119 * 4 + 60, 120 * 60]  # the last minute is not history yet


def test_a_store_from_another_market_gets_the_demo_its_history(tmp_path) -> None:
    """A `make run` store written by the continuous walk (two days of history) or for a shorter
    history: the session market takes a new origin instead of keeping the short one."""
    store = str(tmp_path / "s.db")
    old = Engine(SimConfig(store_path=store, speed=None, start=TUESDAY_0922))
    old.store.close()
    shorter = _engine(TUESDAY_0922, sessions=3, store_path=store)
    assert shorter.origin == history_origin(TUESDAY_0922, 3) != old.origin
    shorter.store.close()
    demo = _engine(TUESDAY_0922, sessions=20, store_path=store)
    assert demo.origin == history_origin(TUESDAY_0922, 20)
