"""The strategy manager: one owner per contract, regime gating, attribution, decision records."""

from __future__ import annotations

import itertools
from datetime import date, time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from markets.fills import OrderKind, Side
from strategies.backtest import run_backtest
from strategies.engine.events import OrderUpdate
from strategies.engine.intents import Flatten, PlaceBracket
from strategies.engine.manager import StrategyManager
from strategies.engine.mean_reversion import MeanReversion
from strategies.engine.orb import OvernightRangeBreakout
from strategies.engine.regime import MarketRegimeFilter
from strategies.engine.trend_following import TrendFollowing
from strategies.tests.scripted import Scripted
from strategies.tests.synthetic import LOOSE_LIMITS, et_ts, session_bars, to_arrays
from strategies.tests.test_interval_strategies import MR, TF
from strategies.tests.test_orb import PARAMS
from strategies.tests.test_orb_properties import random_session

DAY = date(2023, 3, 15)


def market(tag: str, sl: int = 20, tp: int | None = 40) -> PlaceBracket:
    return PlaceBracket(tag, Side.BUY, 1, OrderKind.MARKET, None, sl, tp, f"signal {tag}")


def bars(overrides=None):
    return to_arrays(session_bars(DAY, overrides=overrides or {}))


def test_a_second_strategy_is_refused_while_the_first_holds_the_contract():
    a = Scripted([(et_ts(DAY, 10, 0), [market("x")])])
    b = Scripted([(et_ts(DAY, 10, 5), [market("y")]), (et_ts(DAY, 12, 0), [market("z")])])
    manager = StrategyManager({"a": a, "b": b})
    overrides = {time(10, 30): (16000, 16050, 15999, 16040)}  # a's target (16040) is hit
    result = run_backtest(manager, None, bars(overrides), "ES", limits=LOOSE_LIMITS)
    assert [(t.strategy, t.tag, t.exit_reason) for t in result.trades] == [
        ("a", "a/x", "take_profit"),
        ("b", "b/z", "flat_by"),
    ]
    blocked = [(d.strategy, d.action, d.tag, d.reason) for d in manager.decisions]
    assert blocked == [
        ("a", "allowed", "x", "signal x"),
        ("b", "blocked", "y", "contract held by a"),
        ("b", "allowed", "z", "signal z"),
    ]
    (refusal,) = [e for e in b.events if isinstance(e, OrderUpdate)]
    assert (refusal.tag, refusal.status, refusal.reason) == ("y", "rejected", "contract held by a")


def test_fills_are_routed_back_to_the_owner_without_the_prefix():
    a = Scripted([(et_ts(DAY, 10, 0), [market("x")])])
    manager = StrategyManager({"a": a})
    run_backtest(manager, None, bars(), "ES", limits=LOOSE_LIMITS)
    fills = [(e.tag, e.role) for e in a.events if type(e).__name__ == "Fill"]
    assert fills == [("x", "entry"), ("x", "flat_by")]


def test_a_flatten_from_an_idle_strategy_does_not_touch_the_owner():
    a = Scripted([(et_ts(DAY, 10, 0), [market("x", sl=100, tp=None)])])
    b = Scripted([(et_ts(DAY, 11, 0), [Flatten("b is done for the day")])])
    result = run_backtest(
        StrategyManager({"a": a, "b": b}), None, bars(), "ES", limits=LOOSE_LIMITS
    )
    (trade,) = result.trades
    assert trade.exit_reason == "flat_by"


def test_the_regime_filter_blocks_strategies_outside_their_regimes():
    regime = MarketRegimeFilter({"bar_minutes": 5, "adx_period": 2, "atr_fast": 2, "atr_slow": 3})
    trend_only = Scripted([(et_ts(DAY, 10, 0), [market("x")])], regimes=frozenset({"trending"}))
    manager = StrategyManager({"t": trend_only}, regime)
    result = run_backtest(manager, None, bars(), "ES", limits=LOOSE_LIMITS)
    assert result.trades == []
    (decision,) = manager.decisions
    assert decision.action == "blocked"
    assert decision.reason.startswith("regime ")
    assert "not in ['trending']" in decision.reason


def test_indicator_names_are_namespaced_per_strategy():
    manager = StrategyManager(
        {"orb": OvernightRangeBreakout(), "tf": TrendFollowing()}, MarketRegimeFilter()
    )
    names = [spec.name for spec in manager.indicators()]
    assert names == [
        "orb/atr",
        "tf/fast",
        "tf/slow",
        "tf/adx",
        "tf/atr",
        "regime/adx",
        "regime/atr_fast",
        "regime/atr_slow",
    ]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_three_strategies_on_one_account_never_hold_the_contract_together(seed):
    def manager() -> StrategyManager:
        return StrategyManager(
            {
                "orb": OvernightRangeBreakout(
                    {
                        **PARAMS,
                        "max_range_atr": "50",
                        "min_range_atr": "0",
                        "min_range_bars": 100,
                        "max_trades_per_day": 3,
                    }
                ),
                "mr": MeanReversion({**MR, "max_trades_per_day": 5}),
                "tf": TrendFollowing({**TF, "max_trades_per_day": 5}),
            }
        )

    session = random_session(seed, 0.05)
    fast = run_backtest(manager(), None, session, "ES", limits=LOOSE_LIMITS)
    slow = run_backtest(manager(), None, session, "ES", limits=LOOSE_LIMITS, mode="bar")
    assert fast.trades == slow.trades
    for a, b in itertools.pairwise(fast.trades):
        assert a.exit_ts <= b.entry_ts
    for trade in fast.trades:
        assert trade.strategy == trade.tag.split("/")[0]
        assert trade.strategy in {"orb", "mr", "tf"}
