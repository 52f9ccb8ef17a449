"""The fill rules and the account rules as the backtester applies them."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

from execution.risk import MllMode, RiskLimits
from markets.fills import OrderKind, Side
from strategies.backtest import run_backtest
from strategies.engine.events import OrderUpdate
from strategies.engine.intents import Flatten, PlaceBracket
from strategies.tests.scripted import Scripted
from strategies.tests.synthetic import LOOSE_LIMITS, et_ts, session_bars, to_arrays

DAY = date(2023, 3, 15)


def market(tag: str, side: Side = Side.BUY, sl: int = 20, tp: int | None = 40) -> PlaceBracket:
    return PlaceBracket(tag, side, 1, OrderKind.MARKET, None, sl, tp, "test")


def run(script, overrides=None, **kwargs):
    strategy = Scripted(script)
    bars = to_arrays(session_bars(DAY, overrides=overrides or {}))
    kwargs.setdefault("limits", LOOSE_LIMITS)
    return strategy, run_backtest(strategy, None, bars, "ES", **kwargs)


def test_an_order_decided_on_a_bar_close_fills_at_the_next_bar_open():
    _, result = run(
        [(et_ts(DAY, 10, 1), [market("a")])],
        {time(10, 0): (16000, 16002, 15998, 16001), time(10, 1): (16004, 16006, 16003, 16005)},
    )
    (trade,) = result.trades
    assert (trade.entry_ts, trade.entry_ticks) == (et_ts(DAY, 10, 1), 16004)


def test_slippage_worsens_market_and_stop_fills_but_not_limit_fills():
    _, stopped = run(
        [(et_ts(DAY, 10, 1), [market("a")])],
        {time(10, 1): (16004, 16006, 16003, 16005), time(10, 2): (16000, 16001, 15980, 15990)},
        slippage_ticks=1,
    )
    (trade,) = stopped.trades
    assert (trade.entry_ticks, trade.exit_ticks) == (16005, 16005 - 20 - 1)
    _, target = run(
        [(et_ts(DAY, 10, 1), [market("a")])],
        {time(10, 1): (16004, 16006, 16003, 16005), time(10, 2): (16010, 16060, 16009, 16050)},
        slippage_ticks=1,
    )
    (trade,) = target.trades
    assert (trade.exit_reason, trade.exit_ticks) == ("take_profit", 16005 + 40)


def test_commission_per_side_is_charged_on_both_fills():
    _, result = run(
        [(et_ts(DAY, 10, 1), [market("a")]), (et_ts(DAY, 10, 30), [Flatten("done")])],
        commission_usd=Decimal("2.00"),
    )
    (trade,) = result.trades
    assert trade.fees_usd == Decimal("4.00")
    assert trade.pnl_usd == trade.gross_usd - Decimal("4.00")


def test_a_bar_gapping_through_the_stop_loss_fills_at_its_open():
    _, result = run(
        [(et_ts(DAY, 10, 1), [market("a")])],
        {time(10, 1): (16000, 16001, 15999, 16000), time(10, 2): (15950, 15960, 15940, 15945)},
    )
    (trade,) = result.trades
    assert (trade.exit_reason, trade.exit_ticks) == ("stop_loss", 15950)


DLL_300 = RiskLimits(
    starting_balance_usd=Decimal(50_000),
    max_loss_limit_usd=Decimal(2_000),
    max_contracts=5,
    daily_loss_limit_usd=Decimal(300),
    mll_mode=MllMode.END_OF_DAY,
)


def test_a_bracket_whose_stop_out_alone_reaches_the_daily_limit_is_refused_as_live():
    # 40 ticks x $12.50 + $2.80 fees = $502.80 >= $300 of room: the live gate's rule, same text.
    strategy, result = run([(et_ts(DAY, 10, 1), [market("a", sl=40)])], limits=DLL_300)
    assert result.trades == []
    (refused,) = [e for e in strategy.events if isinstance(e, OrderUpdate)]
    assert refused.status == "rejected"
    assert refused.reason.startswith("a stop-out would lose 502.80")


def test_a_gap_through_the_stop_past_the_daily_limit_locks_the_day():
    strategy, result = run(
        [(et_ts(DAY, 10, 1), [market("a", sl=20)]), (et_ts(DAY, 11, 0), [market("b")])],
        {time(10, 1): (16000, 16001, 15999, 16000), time(10, 5): (15960, 15961, 15950, 15955)},
        limits=DLL_300,
    )
    (trade,) = result.trades
    assert trade.exit_ticks == 15960  # the bar opened beyond the stop: filled at the open
    assert trade.pnl_usd == Decimal("-502.80")
    assert result.daily_loss_limit_days == [DAY]
    assert result.survived
    refused = [e for e in strategy.events if isinstance(e, OrderUpdate)]
    assert [(e.tag, e.status) for e in refused] == [("b", "rejected")]
    assert "account locked (daily_loss_limit)" in refused[0].reason


def test_maximum_loss_limit_fails_the_account_on_that_day():
    limits = RiskLimits(
        starting_balance_usd=Decimal(50_000),
        max_loss_limit_usd=Decimal(200),
        max_contracts=5,
        daily_loss_limit_usd=None,
        mll_mode=MllMode.END_OF_DAY,
    )
    _, result = run(  # a 12-tick stop ($152.80) fits the $200 of room; the bar gaps through it
        [(et_ts(DAY, 10, 1), [market("a", sl=12)])],
        {time(10, 1): (16000, 16001, 15999, 16000), time(10, 5): (15970, 15971, 15950, 15960)},
        limits=limits,
    )
    (trade,) = result.trades
    assert trade.exit_ticks == 15970
    assert (result.survived, result.failed_on) == (False, DAY)
    assert "max loss limit breached" in result.failure_reason


def test_an_intraday_trailing_maximum_loss_follows_open_profit():
    limits = RiskLimits(
        starting_balance_usd=Decimal(50_000),
        max_loss_limit_usd=Decimal(500),
        max_contracts=5,
        daily_loss_limit_usd=None,
        mll_mode=MllMode.INTRADAY,
    )
    _, result = run(
        [(et_ts(DAY, 10, 1), [market("a", sl=30, tp=None)])],  # $377.80 of $500 room
        {
            time(10, 1): (16000, 16001, 15999, 16000),
            time(10, 2): (16000, 16040, 16000, 16040),  # +40 ticks open: the floor rises $500
            time(10, 3): (16040, 16041, 15990, 16000),
        },
        limits=limits,
    )
    (trade,) = result.trades
    # Floor = 50,000 + 500 (open high) - 500 = 50,000 (the lock): the equity may not fall below
    # the start: 16000 + ceil(2.80 / 12.50) ticks.
    assert (trade.exit_reason, trade.exit_ticks) == ("risk", 16000)
    assert result.failed_on == DAY


def test_positions_still_open_at_the_topstep_flat_by_time_are_closed():
    _, result = run([(et_ts(DAY, 10, 1), [market("a", sl=100, tp=None)])])
    (trade,) = result.trades
    assert trade.exit_reason == "flat_by"
    assert trade.exit_ts == et_ts(DAY, 16, 10)  # 15:10 CT


def test_entries_after_the_flat_by_time_are_refused():
    strategy, result = run([(et_ts(DAY, 16, 20), [market("late")])])
    assert result.trades == []
    (update,) = [e for e in strategy.events if isinstance(e, OrderUpdate)]
    assert update.status == "rejected"
    assert "no new entries after 15:10" in update.reason


def test_progress_is_reported_up_to_the_total():
    seen = []
    run([], on_progress=lambda done, total: seen.append((done, total)))
    assert seen[-1][0] == seen[-1][1] > 0
