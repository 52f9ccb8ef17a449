"""The Overnight Range Breakout ported to backtrader, for bench/backtest.py: the same session times,
calendar and ATR as the engine's strategy, so both trade identical signals and their trade lists can
be compared trade by trade."""

from __future__ import annotations

import time
from collections import Counter

import numpy as np

from markets.calendar import is_early_close, is_trading_day
from markets.sessions import at_et, range_window
from markets.ticks import spec_for
from strategies.backtest import ReplayData
from strategies.engine.feeds import ArrayIndicatorFeed
from strategies.engine.orb import OvernightRangeBreakout


def orb_plan(data: ReplayData) -> dict[str, np.ndarray]:
    """Per-bar inputs for the backtrader version: the same session times, calendar and ATR as the
    engine's strategy uses (indicator values are shared so both trade identical signals)."""
    params = OvernightRangeBreakout().params
    sessions = data.sessions
    ts, cts = data.ts, data.ts + sessions.bar_seconds
    feed = ArrayIndicatorFeed(
        OvernightRangeBreakout().indicators(),
        data.ts,
        data.high,
        data.low,
        data.close,
        sessions.index,
        sessions.dates,
    )
    n = len(ts)
    in_range = np.zeros(n, bool)
    arm = np.zeros(n, bool)
    cancel = np.zeros(n, bool)
    flatten = np.zeros(n, bool)
    atr = np.full(n, np.nan)
    for k, day in enumerate(sessions.dates):
        a, b = int(sessions.starts[k]), int(sessions.ends[k])
        if not is_trading_day(day) or is_early_close(day):
            continue
        start, end = (
            int(x.timestamp())
            for x in range_window(day, params["range_start"], params["range_end"])
        )
        entry_end = int(at_et(day, params["entry_window_end"]).timestamp())
        flat = int(at_et(day, params["flatten_at"]).timestamp())
        in_range[a:b] = (ts[a:b] >= start) & (cts[a:b] <= end)
        for flag, t in ((arm, end), (cancel, entry_end), (flatten, flat)):
            j = a + int(np.searchsorted(cts[a:b], t, "right")) - 1
            if j >= a:
                flag[j] = True
                if flag is arm:
                    value = feed.value("atr", t)
                    atr[j] = np.nan if value is None else value
    return {"in_range": in_range, "arm": arm, "cancel": cancel, "flatten": flatten, "atr": atr}


def compare_backtrader(data: ReplayData, fast, fast_s: float) -> None:
    import backtrader as bt
    import pandas as pd

    plan = orb_plan(data)
    params = OvernightRangeBreakout().params
    frame = pd.DataFrame(
        {
            "open": data.open.astype(float),
            "high": data.high.astype(float),
            "low": data.low.astype(float),
            "close": data.close.astype(float),
            "volume": data.volume.astype(float),
            "openinterest": 0.0,
            "in_range": plan["in_range"].astype(float),
            "arm": plan["arm"].astype(float),
            "cancel": plan["cancel"].astype(float),
            "flatten": plan["flatten"].astype(float),
            "atr": plan["atr"],
        },
        index=pd.to_datetime(data.ts, unit="s"),
    )

    class Feed(bt.feeds.PandasData):
        lines = ("in_range", "arm", "cancel", "flatten", "atr")
        params = tuple((name, -1) for name in lines)

    class Orb(bt.Strategy):
        """The same rules as strategies.engine.orb, written the backtrader way (per-bar next())."""

        def __init__(self) -> None:
            self.high = -1e18
            self.low = 1e18
            self.count = 0
            self.entries = []
            self.sl = self.tp = None
            self.entry_price = 0.0
            self.risk = 0
            self.be_level = None
            self.trades = []
            self.open_trade = None

        def next(self) -> None:
            d = self.data
            if d.in_range[0]:
                self.high = max(self.high, d.high[0])
                self.low = min(self.low, d.low[0])
                self.count += 1
            if self.position and self.be_level is not None:
                long = self.position.size > 0
                if (d.high[0] >= self.be_level) if long else (d.low[0] <= self.be_level):
                    new = self.entry_price + (1 if long else -1) * params["breakeven_offset_ticks"]
                    self.be_level = None
                    self._replace_legs(new)
            if d.arm[0]:
                self._arm(d.atr[0])
            if d.cancel[0]:
                for order in self.entries:
                    self.cancel(order)
                self.entries = []
            if d.flatten[0]:
                for order in self.entries:
                    self.cancel(order)
                self.entries = []
                if self.position:
                    self._cancel_legs()
                    self.close()
                self.high, self.low, self.count = -1e18, 1e18, 0

        def _arm(self, atr: float) -> None:
            width = self.high - self.low
            ok = (
                self.count >= params["min_range_bars"]
                and atr == atr
                and atr > 0
                and float(params["min_range_atr"]) * atr
                <= width
                <= float(params["max_range_atr"]) * atr
            )
            if ok:
                self.risk = max(1, round(float(params["stop_atr"]) * atr))
                self.reward = max(1, round(float(params["target_atr"]) * atr))
                buffer = params["buffer_ticks"]
                buy = self.buy(exectype=bt.Order.Stop, price=self.high + buffer)
                sell = self.sell(exectype=bt.Order.Stop, price=self.low - buffer, oco=buy)
                self.entries = [buy, sell]
            self.high, self.low, self.count = -1e18, 1e18, 0

        def _legs(self, stop: float, target: float) -> None:
            if self.position.size > 0:
                self.sl = self.sell(exectype=bt.Order.Stop, price=stop)
                self.tp = self.sell(exectype=bt.Order.Limit, price=target, oco=self.sl)
            else:
                self.sl = self.buy(exectype=bt.Order.Stop, price=stop)
                self.tp = self.buy(exectype=bt.Order.Limit, price=target, oco=self.sl)

        def _cancel_legs(self) -> None:
            for order in (self.sl, self.tp):
                if order is not None and order.alive():
                    self.cancel(order)
            self.sl = self.tp = None

        def _replace_legs(self, new_stop: float) -> None:
            target = self.tp.created.price if self.tp is not None else None
            self._cancel_legs()
            if target is not None:
                self._legs(new_stop, target)

        def notify_order(self, order) -> None:
            if order.status != order.Completed:
                return
            if order in self.entries:
                self.entries = []
                price = order.executed.price
                sign = 1 if order.isbuy() else -1
                self.entry_price = price
                self.open_trade = [bt.num2date(order.executed.dt), sign, price]
                self.be_level = price + sign * max(
                    1, round(float(params["breakeven_r"]) * self.risk)
                )
                stop = price - sign * self.risk
                # Legs submitted here act from the next bar and cannot be cancelled before then,
                # so a breakeven reached on the entry bar itself is applied to the first legs.
                d = self.data
                if (d.high[0] >= self.be_level) if sign > 0 else (d.low[0] <= self.be_level):
                    stop = price + sign * params["breakeven_offset_ticks"]
                    self.be_level = None
                self._legs(stop, price + sign * self.reward)
            elif self.open_trade is not None and not self.position:
                self.trades.append((*self.open_trade, order.executed.price))
                self.open_trade = None
                self.be_level = None
                self._cancel_legs()

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(Feed(dataname=frame))
    cerebro.addstrategy(Orb)
    cerebro.broker.setcash(10_000_000.0)
    cerebro.broker.setcommission(
        commission=float(spec_for("ES").fee_per_side_usd),
        commtype=bt.CommInfoBase.COMM_FIXED,
        mult=12.5,
        stocklike=False,
    )
    t0 = time.perf_counter()
    strategy = cerebro.run()[0]
    bt_s = time.perf_counter() - t0
    n = len(data.ts)
    print(
        f"backtrader {bt.__version__}: {bt_s:.1f} s -> {n / bt_s:,.0f} bars/s; "
        f"the engine is {bt_s / fast_s:,.0f}x faster"
    )
    ours = Counter(
        (t.entry_at.replace(tzinfo=None), 1 if t.side == 0 else -1, t.entry_ticks, t.exit_ticks)
        for t in fast.trades
    )
    theirs = Counter(
        (t[0].replace(microsecond=0), t[1], round(t[2]), round(t[3])) for t in strategy.trades
    )
    same = sum((ours & theirs).values())
    ours_pnl = sum(k[1] * (k[3] - k[2]) * c for k, c in ours.items()) * 12.5
    theirs_pnl = sum(k[1] * (k[3] - k[2]) * c for k, c in theirs.items()) * 12.5
    print(
        f"trades: engine {sum(ours.values())}, backtrader {sum(theirs.values())}, identical "
        f"(entry time, side, entry, exit) {same}"
    )
    print(f"gross P&L: engine {ours_pnl:,.2f} USD, backtrader {theirs_pnl:,.2f} USD")
    only_ours = sorted((ours - theirs).elements())[:5]
    only_theirs = sorted((theirs - ours).elements())[:5]
    if only_ours or only_theirs:
        print("first differences (entry time UTC, side, entry ticks, exit ticks):")
        for a in only_ours:
            print("  engine     ", a)
        for b in only_theirs:
            print("  backtrader ", b)
