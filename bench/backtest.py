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
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.backtrader_orb import compare_backtrader
from execution.risk import RiskLimits, plan_limits
from markets.bars import load_bars_csv
from markets.calendar import is_trading_day
from markets.ticks import spec_for
from strategies.backtest import ReplayData, run_backtest

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


if __name__ == "__main__":
    main()
