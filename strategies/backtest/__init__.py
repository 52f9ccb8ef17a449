"""The backtester: replay bars through the strategy engine, ``markets.fills`` and TopStep's rules."""

from strategies.backtest.data import BarsError
from strategies.backtest.result import BacktestResult, Decision, TradeRecord
from strategies.backtest.run import (
    ReplayData,
    Split,
    parameter_grid,
    rank_results,
    run_backtest,
    walk_forward_splits,
)

__all__ = [
    "BacktestResult",
    "BarsError",
    "Decision",
    "ReplayData",
    "Split",
    "TradeRecord",
    "parameter_grid",
    "rank_results",
    "run_backtest",
    "walk_forward_splits",
]
