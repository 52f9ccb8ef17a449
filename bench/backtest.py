"""Backtest benchmark: Overnight Range Breakout over 1,000,000 real ES one-minute bars.

Run from the repository root (2-core machine: about a minute, most of it backtrader):

    .venv/bin/python bench/backtest.py [--bars 1000000] [--data PATH] [--skip-backtrader]

Prints, for the real engine (strategies.backtest.run_backtest):
- bars/s replaying (loading excluded), bars/s including loading the CSV and preparing sessions,
- peak memory: tracemalloc peak of the replay alone, and the process's peak RSS,
- the same strategy bar by bar (the live code path), which must give identical trades,
- a run against the 50K Trading Combine rules (survived / failed on which day),
and backtrader (installed) executing the same strategy on the same bars: bars/s, the ratio, and
the two trade lists compared trade by trade.

Targets (issue 4): >= 1,000,000 bars/s loading excluded, >= 500,000 bars/s including loading,
< 300 MB peak for 1M bars. The data (../shared/data) is licensed for internal testing only.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from execution.risk import RiskLimits, plan_limits
from markets.bars import load_bars_csv
from markets.calendar import is_early_close, is_trading_day
from markets.sessions import at_et, range_window
from markets.ticks import spec_for
from strategies.backtest import ReplayData, run_backtest
from strategies.engine.feeds import ArrayIndicatorFeed
from strategies.engine.orb import OvernightRangeBreakout

DEFAULT_DATA = (
    Path(os.environ.get("MARKET_DATA_DIR", Path(__file__).resolve().parents[1] / "../shared/data"))
    / "es_1min_2019-2023.csv.gz"
)

# Rules on but never binding, so the whole history is replayed (the 50K run is reported apart).
OPEN_LIMITS = RiskLimits(
    starting_balance_usd=Decimal(10_000_000),
    max_loss_limit_usd=Decimal(5_000_000),
    max_contracts=50,
    daily_loss_limit_usd=None,
)


CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tradingsite-bench"


def rss_mb() -> float:
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss, not inherited from the
    parent across fork/exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class CachedBars:
    """Bars read back from the binary cache (same int64 columns as markets.bars.BarArrays)."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        for name in ("ts", "open", "high", "low", "close", "volume"):
            setattr(self, name, arrays[name])


def cache_path(data: Path, n: int) -> Path:
    return CACHE_DIR / f"{data.name}.{n}.npz"


def write_cache(bars, data: Path, n: int) -> Path:
    """A binary copy of the parsed bars outside the repository (the data is licensed for
    internal testing: never commit it), so reloading costs a file read instead of a CSV parse."""
    path = cache_path(data, n)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        **{
            k: np.asarray(getattr(bars, k))
            for k in ("ts", "open", "high", "low", "close", "volume")
        },
    )
    return path


def load_cache(path: Path) -> CachedBars:
    with np.load(path) as archive:
        return CachedBars({k: archive[k] for k in archive.files})


def memory_child(path: Path) -> None:
    """Peak RSS of a process that loads 1M bars from the cache and replays them (no CSV parse)."""
    contract = spec_for("ES")
    data = ReplayData.prepare(load_cache(path))
    run_backtest("overnight_range_breakout", {}, data, contract, limits=OPEN_LIMITS)
    print(f"{rss_mb():.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--skip-backtrader", action="store_true")
    parser.add_argument("--memory-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    contract = spec_for("ES")

    # Warm the exchange calendar (built once per process per year; not per-bar work).
    t0 = time.perf_counter()
    for year in range(2019, 2024):
        is_trading_day(date(year, 6, 3))
    calendar_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    whole = load_bars_csv(args.data)
    load_s = time.perf_counter() - t0
    bars = whole[: args.bars]
    file_rows = len(whole)
    del whole
    t0 = time.perf_counter()
    data = ReplayData.prepare(bars)
    prepare_s = time.perf_counter() - t0
    n = len(data.ts)
    rss_after_load = rss_mb()
    cached = write_cache(bars, args.data, n)
    t0 = time.perf_counter()
    ReplayData.prepare(load_cache(cached))
    cache_s = time.perf_counter() - t0
    child = subprocess.run(  # noqa: S603 (our own script, our interpreter)
        [sys.executable, __file__, "--memory-child", str(cached)],
        capture_output=True,
        text=True,
        check=True,
    )
    child_rss = float(child.stdout.strip().splitlines()[-1])

    gc.collect()
    run_backtest("overnight_range_breakout", {}, data, contract, limits=OPEN_LIMITS)  # warm-up
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        fast = run_backtest("overnight_range_breakout", {}, data, contract, limits=OPEN_LIMITS)
        best = min(best, time.perf_counter() - t0)
    tracemalloc.start()
    run_backtest("overnight_range_breakout", {}, data, contract, limits=OPEN_LIMITS)
    replay_peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()

    t0 = time.perf_counter()
    slow = run_backtest(
        "overnight_range_breakout", {}, data, contract, limits=OPEN_LIMITS, mode="bar"
    )
    bar_s = time.perf_counter() - t0
    combine = run_backtest("overnight_range_breakout", {}, data, contract)
    combine_eod = run_backtest(
        "overnight_range_breakout",
        {},
        data,
        contract,
        limits=plan_limits("combine", 50, mll_mode="end_of_day"),
    )

    first, last = data.sessions.dates[0], data.sessions.dates[-1]
    m = fast.metrics()
    print(f"Overnight Range Breakout, {n:,} real ES 1-minute bars, sessions {first} .. {last}")
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, numpy {np.__version__}"
    )
    print()
    print(
        f"load CSV (markets.bars.load_bars_csv)   {load_s:8.3f} s  (parses all {file_rows:,} rows)"
    )
    print(f"prepare sessions                        {prepare_s:8.3f} s")
    print(f"exchange calendar build (once/process)  {calendar_s:8.3f} s")
    print(f"replay, fast mode (best of 3)           {best:8.3f} s  -> {n / best:12,.0f} bars/s")
    incl = load_s + prepare_s + best
    print(f"including loading + sessions            {incl:8.3f} s  -> {n / incl:12,.0f} bars/s")
    pro_rata = load_s * n / file_rows + prepare_s + best
    print(
        f"  ... CSV time pro rata to {n:,} rows     {pro_rata:8.3f} s  -> {n / pro_rata:12,.0f} bars/s"
    )
    incl_cal = incl + calendar_s
    print(
        f"  ... and the calendar build            {incl_cal:8.3f} s  -> {n / incl_cal:12,.0f} bars/s"
    )
    incl_cache = cache_s + best
    print(
        f"including loading from the .npz cache   {incl_cache:8.3f} s  -> {n / incl_cache:12,.0f} bars/s"
        f"  ({cached})"
    )
    print(
        f"replay, bar-by-bar (live path)          {bar_s:8.3f} s  -> {n / bar_s:12,.0f} bars/s"
        f"  identical trades: {slow.trades == fast.trades}"
    )
    print(
        f"peak memory: replay alone (tracemalloc) {replay_peak_mb:.1f} MB; whole process loading "
        f"{n:,} bars from the cache and replaying them: {child_rss:.0f} MB RSS"
    )
    print(
        f"             this process (CSV parse of the whole file, pyarrow): {rss_after_load:.0f} MB"
        f" after loading, {rss_mb():.0f} MB after the runs"
    )
    print()
    print(
        f"trades {m['trades']}, net {m['net_pnl_usd']} USD, win rate {m['win_rate']:.3f}, "
        f"profit factor {m['profit_factor']:.3f}, Sharpe {m['sharpe']:.2f}, "
        f"max DD {m['max_drawdown_usd']} USD"
    )
    for label, result in (("intraday MLL", combine), ("end-of-day MLL", combine_eod)):
        verdict = "survived" if result.survived else f"FAILED on {result.failed_on}"
        print(
            f"50K Combine ({label}): {verdict}; {len(result.trades)} trades, "
            f"net {result.net_pnl_usd} USD, DLL days {len(result.daily_loss_limit_days)}"
            + (f"; {result.failure_reason}" if result.failure_reason else "")
        )
    if args.skip_backtrader:
        return
    print()
    compare_backtrader(data, fast, best)


# -- backtrader, same strategy, same bars -------------------------------------------------------


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


if __name__ == "__main__":
    main()
