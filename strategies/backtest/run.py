"""Public entry points: ``run_backtest``, walk-forward splits and parameter grids.

    from markets.bars import load_bars_csv
    from markets.ticks import spec_for
    from strategies.backtest import run_backtest

    bars = load_bars_csv("es_1min_2019-2023.csv.gz")
    result = run_backtest("overnight_range_breakout", {"buffer_ticks": 2}, bars, spec_for("ES"))
    print(result.metrics()["net_pnl_usd"], result.survived)
    json.dumps(result.to_dict())

For many runs over the same bars (sweeps, walk-forward) build ``ReplayData.prepare(bars)`` once and
pass it as ``bars``: session boundaries are then computed once.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np

from execution import risk
from markets.ticks import ContractSpec, spec_for
from strategies.backtest.account import Account
from strategies.backtest.data import BarsError, Sessions
from strategies.backtest.engine import Replay
from strategies.backtest.result import BacktestResult
from strategies.engine.base import Strategy
from strategies.engine.feeds import ArrayIndicatorFeed, ReplayIncrementalFeed, warmup_sessions
from strategies.engine.registry import build_strategy

MODES = ("fast", "bar")


@dataclass(frozen=True, slots=True)
class ReplayData:
    """Bars plus their sessions, prepared once and reusable across runs."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    sessions: Sessions
    close_ts: np.ndarray  # bar close times, computed once (the engine needs them every run)

    @classmethod
    def prepare(cls, bars: object) -> ReplayData:
        if isinstance(bars, ReplayData):
            return bars
        arrays = [
            np.ascontiguousarray(getattr(bars, n), dtype=np.int64)
            for n in ("ts", "open", "high", "low", "close", "volume")
        ]
        sessions = Sessions.from_bars(bars)
        return cls(*arrays, sessions=sessions, close_ts=arrays[0] + sessions.bar_seconds)


def run_backtest(
    strategy: str | Strategy,
    params: Mapping[str, object] | None,
    bars: object,
    contract: ContractSpec | str,
    *,
    limits: risk.RiskLimits | None = None,
    commission_usd: Decimal | None = None,
    slippage_ticks: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
    first_date: date | None = None,
    last_date: date | None = None,
    mode: str = "fast",
    rules: str | None = None,
) -> BacktestResult:
    """Replay ``bars`` through a strategy and, when ``limits`` are given, an account's rules.

    - ``strategy``: a kind from ``STRATEGY_KINDS`` (then ``params`` are validated against its
      schema; ``ParameterError`` lists every bad field) or a ready ``Strategy`` (e.g. a
      ``StrategyManager``; ``params`` is then only recorded).
    - ``bars``: any object with int64 arrays ``ts`` (bar open, epoch seconds UTC), ``open``,
      ``high``, ``low``, ``close`` (integer ticks) and ``volume`` (``markets.bars.load_bars_csv``),
      or a ``ReplayData``.
    - ``limits``: the account's ``execution.risk.RiskLimits`` (a plan's rules), or None (the
      default): no account rules, the strategy's own performance. ``rules`` names what applied
      (recorded in the result, e.g. "Trading Combine 50K: ..."); the result counts the entries
      the rules refused and the first day one was.
    - ``commission_usd``: per contract per side; default the contract's ``fee_per_side_usd``.
    - ``slippage_ticks``: added against the trader to market and stop fills (never to limits).
    - ``on_progress(done_bars, total_bars)``: called as sessions complete.
    - ``first_date``/``last_date``: replay only these sessions (indicators still warm up on the
      bars before ``first_date``: their values depend only on their windows, so "bar" mode feeds
      the ``feeds.warmup_sessions`` before it, as a live desk does).
    - The replay stops on the day the account fails (``failed_on``); daily figures end there.
    - ``mode``: ``"fast"`` (skip idle bars, array indicators) or ``"bar"`` (every bar, incremental
      indicators: the live code path). Both give the same trades.
    """
    return replay(
        strategy,
        params,
        bars,
        contract,
        limits=limits,
        commission_usd=commission_usd,
        slippage_ticks=slippage_ticks,
        on_progress=on_progress,
        first_date=first_date,
        last_date=last_date,
        mode=mode,
        rules=rules,
    ).result


@dataclass(frozen=True, slots=True)
class Replayed:
    """A backtest's result and the account it ended with (its risk state; without rules, the
    per-session traces an evaluation re-decides under a plan)."""

    result: BacktestResult
    account: Account


def replay(
    strategy: str | Strategy,
    params: Mapping[str, object] | None,
    bars: object,
    contract: ContractSpec | str,
    *,
    limits: risk.RiskLimits | None = None,
    commission_usd: Decimal | None = None,
    slippage_ticks: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
    first_date: date | None = None,
    last_date: date | None = None,
    mode: str = "fast",
    rules: str | None = None,
    opening: risk.AccountRiskState | None = None,
    feed: ArrayIndicatorFeed | None = None,
) -> Replayed:
    """``run_backtest`` with the account kept; ``opening`` starts it in that risk state; ``feed``
    reuses the indicator values of an earlier fast run of the same strategy over the same bars
    (``array_feed``: an array feed never changes once computed)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if slippage_ticks < 0:
        raise ValueError(f"slippage_ticks must be >= 0, got {slippage_ticks}")
    spec = spec_for(contract) if isinstance(contract, str) else contract
    fee = spec.fee_per_side_usd if commission_usd is None else Decimal(commission_usd)
    if fee < 0:
        raise ValueError(f"commission_usd must be >= 0, got {fee}")
    if isinstance(strategy, str):
        name = strategy
        instance = build_strategy(strategy, dict(params or {}))
        recorded = instance.schema.to_json(instance.params)
    else:
        name, instance, recorded = strategy.kind, strategy, dict(params or {})
    tick_size = getattr(bars, "tick_size", None)
    if tick_size is not None and tick_size != spec.tick_size:
        raise BarsError(
            f"bars are in ticks of {tick_size} but {spec.symbol} trades in ticks of {spec.tick_size}"
        )
    data = ReplayData.prepare(bars)
    sessions = data.sessions
    first_k, last_k = _session_range(sessions, first_date, last_date)
    account = Account(limits, spec, opening)
    if feed is None or mode != "fast":
        feed = _new_feed(
            ArrayIndicatorFeed if mode == "fast" else ReplayIncrementalFeed, instance, data
        )
    begin = int(sessions.starts[first_k])
    if begin > 0:  # warm up as a live desk does: indicators depend on their window only
        since = int(sessions.starts[max(0, first_k - warmup_sessions(instance.indicators()))])
        feed.advance(since, begin - 1)
    replay = Replay(
        instance,
        name,
        data,
        sessions,
        spec,
        account,
        feed,
        commission_usd=fee,
        slippage_ticks=slippage_ticks,
        every_bar=mode == "bar",
        on_progress=on_progress,
    )
    started = time.perf_counter()
    out = replay.run(first_k, last_k)
    elapsed = time.perf_counter() - started
    result = BacktestResult(
        strategy=name,
        params=recorded,
        contract=spec.symbol,
        trades=out.trades,
        decisions=out.decisions,
        notes=out.notes,
        session_dates=out.session_dates,
        daily_pnl_usd=out.daily_pnl,
        starting_balance_usd=_opening_balance(limits, opening),
        rules=rules or describe_rules(limits),
        refused_entries=account.refused_entries,
        first_refused_on=account.first_refused_on,
        survived=account.failed_on is None,
        failed_on=account.failed_on,
        failure_reason=account.failure_reason,
        daily_loss_limit_days=list(account.daily_limit_days),
        bars_replayed=out.bars_replayed,
        elapsed_seconds=elapsed,
    )
    return Replayed(result, account)


def array_feed(
    strategy: str, params: Mapping[str, object] | None, bars: object
) -> ArrayIndicatorFeed:
    """The indicator values a fast replay of this strategy over these bars computes first."""
    instance = build_strategy(strategy, dict(params or {}))
    return _new_feed(ArrayIndicatorFeed, instance, ReplayData.prepare(bars))


def _new_feed(feed_cls: type, instance: Strategy, data: ReplayData):
    sessions = data.sessions
    return feed_cls(
        instance.indicators(),
        data.ts,
        data.high,
        data.low,
        data.close,
        sessions.index,
        sessions.dates,
    )


def _opening_balance(
    limits: risk.RiskLimits | None, opening: risk.AccountRiskState | None
) -> Decimal:
    if opening is not None:
        return opening.balance_usd
    return limits.starting_balance_usd if limits is not None else Decimal(0)


def describe_rules(limits: risk.RiskLimits | None) -> str:
    """The account rules in force, with their numbers (a backtest result always says)."""
    if limits is None:
        return "no account rules (the strategy's own performance)"
    dll = limits.daily_loss_limit_usd
    mll_mode = "intraday" if limits.mll_mode == risk.MllMode.INTRADAY else "end-of-day"
    parts = [
        f"start {limits.starting_balance_usd:,.0f} USD",
        f"max loss limit {limits.max_loss_limit_usd:,.0f} USD (trails {mll_mode})",
        f"daily loss limit {dll:,.0f} USD" if dll is not None else "no daily loss limit",
        f"max {limits.max_contracts} contracts",
    ]
    if limits.scaling:
        steps = ", ".join(f"{cap} above {above:,.0f} USD" for above, cap in limits.scaling)
        parts[-1] += f" (scaling plan: {steps})"
    return ", ".join(parts)


def _session_range(sessions: Sessions, first: date | None, last: date | None) -> tuple[int, int]:
    ks = [
        k
        for k, d in enumerate(sessions.dates)
        if (first is None or d >= first) and (last is None or d <= last)
    ]
    if not ks:
        raise BarsError(f"no session between {first} and {last}")
    return ks[0], ks[-1] + 1


# -- walk-forward and grids ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Split:
    """One walk-forward fold: optimise on ``in_sample``, judge on ``out_of_sample`` (dates incl.)."""

    in_sample: tuple[date, date]
    out_of_sample: tuple[date, date]


def walk_forward_splits(
    session_dates: Sequence[date],
    *,
    in_sample_sessions: int,
    out_of_sample_sessions: int,
    step_sessions: int | None = None,
    anchored: bool = False,
) -> list[Split]:
    """Rolling (or anchored) in-sample/out-of-sample folds over the sessions, in session counts.

    Out-of-sample windows follow their in-sample window directly and never overlap it; with the
    default step (= out-of-sample length) the out-of-sample windows tile the data without gaps.
    """
    if in_sample_sessions < 1 or out_of_sample_sessions < 1:
        raise ValueError("in_sample_sessions and out_of_sample_sessions must be >= 1")
    step = step_sessions or out_of_sample_sessions
    if step < 1:
        raise ValueError("step_sessions must be >= 1")
    dates = sorted(set(session_dates))
    splits = []
    start = 0
    while start + in_sample_sessions + out_of_sample_sessions <= len(dates):
        is_first = 0 if anchored else start
        is_last = start + in_sample_sessions - 1
        oos_first, oos_last = is_last + 1, is_last + out_of_sample_sessions
        splits.append(Split((dates[is_first], dates[is_last]), (dates[oos_first], dates[oos_last])))
        start += step
    return splits


def parameter_grid(grid: Mapping[str, Iterable[object]]) -> list[dict[str, object]]:
    """Every combination of the values in ``grid`` (a cartesian product), in a stable order.

    ``{"buffer_ticks": [1, 2], "stop_atr": ["0.2", "0.3"]}`` gives four parameter dicts. Each cell
    is an independent backtest; the lead's Celery chord fans them out.
    """
    names = list(grid)
    values = [list(grid[name]) for name in names]
    empty = [name for name, vals in zip(names, values, strict=True) if not vals]
    if empty:
        raise ValueError(f"grid values must not be empty: {empty}")
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]


def rank_results(
    results: Iterable[tuple[dict[str, Any], BacktestResult]],
    *,
    key: str = "net_pnl_usd",
    survivors_first: bool = True,
) -> list[tuple[dict[str, Any], BacktestResult]]:
    """Sort sweep cells best first by a metric; failed accounts after survivors by default."""

    def sort_key(item: tuple[dict[str, Any], BacktestResult]) -> tuple[int, float]:
        value = item[1].metrics()[key]
        number = float("-inf") if value is None else float(value)
        return (0 if item[1].survived or not survivors_first else 1, -number)

    return sorted(results, key=sort_key)
