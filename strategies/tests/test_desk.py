"""The live desk (strategies/live/desk.py): what it is fed, what it answers, how it catches up."""

from __future__ import annotations

import pickle
from datetime import date

from markets.fills import Side
from strategies.engine.intents import CancelOrder, ModifyStop, PlaceBracket
from strategies.engine.orb import OvernightRangeBreakout
from strategies.live.desk import NOT_LIVE, Bar, Desk, FillFact, OrderEnd, config_id_of
from strategies.tests.scripted import Scripted
from strategies.tests.synthetic import et_ts, session_bars
from strategies.tests.test_manager import market
from strategies.tests.test_orb import PARAMS

DAY = date(2023, 3, 15)
BUY, SELL = "c7/2023-03-15#1:buy", "c7/2023-03-15#1:sell"


def bars_until(hour: int, minute: int) -> list[Bar]:
    """The synthetic day's bars that have closed by hour:minute ET."""
    end = et_ts(DAY, hour, minute)
    return [Bar(ts, o, h, lo, c, 1) for ts, (o, h, lo, c) in session_bars(DAY) if ts + 60 <= end]


def new_desk(live_from: int = 0) -> Desk:
    return Desk({7: OvernightRangeBreakout(PARAMS)}, signature="x", live_from=live_from)


def test_the_breakout_goes_out_at_the_open_tagged_with_its_configuration():
    desk = new_desk()
    assert desk.step(bars_until(9, 29), [], [], et_ts(DAY, 9, 29)) == []
    intents = desk.step(bars_until(9, 30), [], [], et_ts(DAY, 9, 30))
    assert [(i.tag, i.side, i.entry_price) for i in intents] == [
        (BUY, Side.BUY, 16012),
        (SELL, Side.SELL, 15988),
    ]
    assert all(isinstance(i, PlaceBracket) and i.oco_group for i in intents)
    assert config_id_of(intents[0].tag) == 7
    # The same minute stepped again (a duplicate delivery) decides nothing new.
    assert desk.step(bars_until(9, 30), [], [], et_ts(DAY, 9, 30)) == []


def test_an_entry_fill_is_delivered_once_and_a_foreign_close_ends_the_trade():
    desk = new_desk()
    desk.step(bars_until(9, 30), [], [], et_ts(DAY, 9, 30))
    entry = FillFact(1, et_ts(DAY, 9, 31) + 5, SELL, "entry", Side.SELL, 1, 15988)
    desk.step(bars_until(9, 32), [entry], [], et_ts(DAY, 9, 32))
    assert (desk.open_tag, desk.position) == (SELL, -1)
    desk.step(bars_until(9, 33), [entry], [], et_ts(DAY, 9, 33))  # seen: not counted twice
    assert desk.position == -1
    # The end-of-day flatten (not the desk's order) buys it back: the strategy's trade is over.
    close = FillFact(2, et_ts(DAY, 9, 34) + 1, None, "flatten", Side.BUY, 1, 15990)
    desk.step(bars_until(9, 35), [close], [], et_ts(DAY, 9, 35))
    assert (desk.open_tag, desk.position) == (None, 0)
    # A foreign fill that adds to nothing of ours is ignored.
    other = FillFact(3, et_ts(DAY, 9, 36), None, "flatten", Side.SELL, 1, 15990)
    desk.step(bars_until(9, 37), [other], [], et_ts(DAY, 9, 37))
    assert desk.position == 0


def test_a_refused_entry_reaches_the_strategy_and_the_window_still_closes():
    desk = new_desk()
    desk.step(bars_until(9, 30), [], [], et_ts(DAY, 9, 30))
    refused = OrderEnd(BUY, et_ts(DAY, 9, 30) + 1, "rejected", "daily loss limit")
    intents = desk.step(bars_until(11, 0), [], [refused], et_ts(DAY, 11, 0))
    assert intents == [CancelOrder(SELL, "entry window closed")]


def test_the_stop_goes_to_breakeven_after_the_gain_in_r():
    desk = Desk(
        {7: OvernightRangeBreakout({**PARAMS, "breakeven_r": "0.5"})}, signature="x", live_from=0
    )
    desk.step(bars_until(9, 30), [], [], et_ts(DAY, 9, 30))
    entry = FillFact(1, et_ts(DAY, 9, 30) + 5, BUY, "entry", Side.BUY, 1, 16012)
    rally = [Bar(et_ts(DAY, 9, 30), 16010, 16030, 16010, 16025, 1)]
    intents = desk.step(rally, [entry], [], et_ts(DAY, 9, 31))
    assert [type(i) for i in intents] == [ModifyStop]
    assert intents[0].stop_price == 16013  # breakeven + the 1-tick offset


def test_catching_up_carries_out_nothing_decided_before_it_was_live():
    desk = new_desk(live_from=et_ts(DAY, 10, 0))
    assert desk.step(bars_until(10, 0), [], [], et_ts(DAY, 10, 0)) == []
    decided = [text for _, _, text in desk.take_notes()]
    assert any(NOT_LIVE in text for text in decided)
    # Had the broker known the tags (a rebuilt desk), the entries would be taken as real.
    rebuilt = new_desk(live_from=et_ts(DAY, 10, 0))
    rebuilt.known_tags = frozenset({BUY, SELL})
    rebuilt.step(bars_until(10, 0), [], [], et_ts(DAY, 10, 0))
    assert not any(NOT_LIVE in text for _, _, text in rebuilt.take_notes())
    intents = rebuilt.step(bars_until(11, 0), [], [], et_ts(DAY, 11, 0))
    assert sorted(i.tag for i in intents) == [BUY, SELL]  # cancelled at the window's end


def test_a_pickled_desk_carries_on_exactly_as_the_original():
    desk = new_desk()
    desk.step(bars_until(9, 30), [], [], et_ts(DAY, 9, 30))
    copy = pickle.loads(pickle.dumps(desk))  # noqa: S301 - our own object
    entry = FillFact(1, et_ts(DAY, 9, 31), BUY, "entry", Side.BUY, 1, 16012)
    later = bars_until(15, 59)
    assert desk.step(later, [entry], [], et_ts(DAY, 15, 59)) == copy.step(
        later, [entry], [], et_ts(DAY, 15, 59)
    )
    assert desk.take_notes() == copy.take_notes()


def test_two_strategies_on_one_contract_journal_the_managers_reasons():
    """Two strategies (any regime allowed, so the market filter lets both through) on one desk."""
    first = Scripted([(et_ts(DAY, 10, 0), [market("x")])])
    second = Scripted([(et_ts(DAY, 10, 5), [market("y")])])
    desk = Desk({1: first, 2: second}, signature="x", live_from=0)
    placed = desk.step(bars_until(10, 0), [], [], et_ts(DAY, 10, 0))
    assert [i.tag for i in placed] == ["c1/x"]
    entry = FillFact(1, et_ts(DAY, 10, 0) + 3, "c1/x", "entry", Side.BUY, 1, 16000)
    assert desk.step(bars_until(10, 6), [entry], [], et_ts(DAY, 10, 6)) == []
    reasons = [text for _, _, text in desk.take_notes()]
    assert "c1: allowed x: signal x" in reasons
    assert "c2: blocked y: contract held by c1" in reasons
    assert config_id_of(reasons[-1].split(":")[0]) == 2
