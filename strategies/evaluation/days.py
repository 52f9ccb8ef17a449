"""A strategy's sessions without account rules, in the form an evaluation re-decides under a plan.

One replay without rules per parameter set (``trace_days``) gives, per session: the net P&L, the
entries the strategy asked for, the highest equity reached (exact: what an intraday-trailing floor
follows) and a lower bound of the lowest equity (open losses at the bars' extremes while a position
was open, round-trip fees included, as ``Account.levels`` counts them). A day whose lower bound stays
clear of every loss limit cannot have touched one, so its P&L is the same under the plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np

from markets.fills import STOP_LOSS, Side
from markets.ticks import ContractSpec
from strategies.backtest.account import Placement
from strategies.backtest.result import TradeRecord
from strategies.backtest.run import ReplayData, Replayed, array_feed, replay
from strategies.engine.feeds import ArrayIndicatorFeed

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Day:
    """One session of the run without rules; money relative to the day's opening balance."""

    trading_date: date
    net_usd: Decimal
    trades: int
    low_usd: Decimal  # <= 0: lowest equity (lower bound), open P&L and round-trip fees included
    high_usd: Decimal  # >= 0: highest equity, open profit included
    placements: tuple[Placement, ...]
    first_fill_ts: int | None  # the day's first entry fill; entries asked before it met the
    # account exactly as it opened the day


@dataclass(frozen=True, slots=True)
class Trace:
    """The strategy's days, and how to replay any of them under rules (``Replayer``)."""

    days: tuple[Day, ...]
    replayer: Replayer


@dataclass(frozen=True, slots=True)
class Replayer:
    """Replays one session under a plan from a given account state (when arithmetic cannot say)."""

    strategy: str
    params: Mapping[str, object]
    data: ReplayData
    spec: ContractSpec
    commission_usd: Decimal | None
    slippage_ticks: int
    feed: ArrayIndicatorFeed

    def day(self, limits, opening, trading_date: date) -> Replayed:
        return replay(
            self.strategy,
            self.params,
            self.data,
            self.spec,
            limits=limits,
            opening=opening,
            first_date=trading_date,
            last_date=trading_date,
            commission_usd=self.commission_usd,
            slippage_ticks=self.slippage_ticks,
            feed=self.feed,
        )


def trace_days(
    strategy: str,
    params: Mapping[str, object] | None,
    data: ReplayData,
    spec: ContractSpec,
    *,
    commission_usd: Decimal | None = None,
    slippage_ticks: int = 0,
    first_date: date | None = None,
    last_date: date | None = None,
) -> Trace:
    """Replay once without rules and cut the run into ``Day`` records."""
    run = replay(
        strategy,
        params,
        data,
        spec,
        commission_usd=commission_usd,
        slippage_ticks=slippage_ticks,
        first_date=first_date,
        last_date=last_date,
    )
    result = run.result
    by_day: dict[date, list[TradeRecord]] = {}
    for trade in result.trades:
        by_day.setdefault(trade.trading_date, []).append(trade)
    days = tuple(
        Day(
            trading_date=trace.trading_date,
            net_usd=net,
            trades=len(by_day.get(trace.trading_date, ())),
            low_usd=day_low_usd(by_day.get(trace.trading_date, []), data, spec),
            high_usd=trace.high_usd,
            placements=tuple(trace.placements),
            first_fill_ts=min(
                (t.entry_ts for t in by_day.get(trace.trading_date, ())), default=None
            ),
        )
        for trace, net in zip(run.account.traces, result.daily_pnl_usd, strict=True)
    )
    feed = array_feed(result.strategy, result.params, data)
    replayer = Replayer(
        result.strategy, result.params, data, spec, commission_usd, slippage_ticks, feed
    )
    return Trace(days, replayer)


# Exits filled at or beyond a price the position touched first (a stop, or the next bar's open):
# on the exit bar, nothing worse than the exit price was lived through while the position was open.
_EXIT_AT_PRICE = frozenset({STOP_LOSS, "flatten", "flat_by", "risk"})


def day_low_usd(trades: Sequence[TradeRecord], data: ReplayData, spec: ContractSpec) -> Decimal:
    """A lower bound of the day's lowest equity: each trade at the worst extreme of the bars it
    was open through (the entry bar whole; the exit bar up to the exit price for a stop or an
    exit at the open, else whole), less its round-trip fees, after the day's earlier trades; and
    the realised P&L after each trade."""
    low = _ZERO
    realised = _ZERO
    for trade in trades:
        low = min(low, realised + _worst_open_usd(trade, data, spec) - trade.fees_usd)
        realised += trade.pnl_usd
        low = min(low, realised)
    return low


def _worst_open_usd(trade: TradeRecord, data: ReplayData, spec: ContractSpec) -> Decimal:
    first = max(int(np.searchsorted(data.ts, trade.entry_ts, side="right")) - 1, 0)
    exit_bar = int(np.searchsorted(data.ts, trade.exit_ts, side="left"))
    at_open = exit_bar < len(data.ts) and int(data.ts[exit_bar]) == trade.exit_ts
    if at_open and trade.exit_reason in _EXIT_AT_PRICE:
        last = exit_bar  # bars [first, exit_bar) whole, then the exit price
    else:
        last = int(np.searchsorted(data.ts, trade.exit_ts, side="right"))
    long = trade.side == Side.BUY
    worst = trade.exit_ticks
    if last > first:
        lived = data.low[first:last].min() if long else data.high[first:last].max()
        worst = min(worst, int(lived)) if long else max(worst, int(lived))
    ticks = worst - trade.entry_ticks if long else trade.entry_ticks - worst
    return min(ticks, 0) * trade.qty * spec.tick_value
