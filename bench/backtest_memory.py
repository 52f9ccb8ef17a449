"""Backtest memory (#17): 1,000,000 one-minute bars through the CSV path under 300 MB.

Run from the repository root (2-core machine: about a minute):

    .venv/bin/python bench/backtest_memory.py [--bars 1000000] [--repeat 3] [--trace]

The first N rows of ../shared/data/es_1min_2019-2023.csv.gz (1,000,000: 2019-01-02 .. 2021-11-08)
are written to a gzip CSV in a temporary folder (deleted at the end; the data is licensed for
internal testing only). Then, each in a fresh child process, as a person would run them:

- `manage.py backtest --strategy overnight_range_breakout --bars CUT --contract ES --json`,
  the CSV path (`strategies.backtests.bars_load` -> `markets.bars.load_bars_csv`) and the replay;
- two baselines, the same process without the bars: `manage.py backtest --help` (Django, the apps,
  the command's imports) and `manage.py shell -c "import pandas, pyarrow.csv, ..."` (the libraries
  the CSV path and the exchange calendar import on top).

It prints each child's peak RSS (ru_maxrss of that child alone, from wait4), wall time and bars/s
including start-up and loading. `--trace` also loads and replays in this process under tracemalloc
and prints what holds memory once the bars are loaded and the traced peaks of loading and replay
(pyarrow's and zlib's buffers are not traced; the RSS figures include them).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MARKET_DATA_DIR", ROOT / "../shared/data")) / "es_1min_2019-2023.csv.gz"
TARGET_MB = 300


def cut_file(rows: int, folder: Path) -> Path:
    """The header and the first `rows` rows of the ES file, gzip-compressed like the original."""
    path = folder / f"es_first_{rows}.csv.gz"
    with gzip.open(DATA, "rt") as source, gzip.open(path, "wt", compresslevel=6) as target:
        for _ in range(rows + 1):
            line = source.readline()
            if not line:
                break
            target.write(line)
    return path


def run_child(args: list[str], folder: Path) -> tuple[float, float, str]:
    """(peak RSS in MB, wall seconds, stdout) of `manage.py <args>` in a fresh process. Output goes
    to files so that we can reap the child ourselves with wait4, which gives its own ru_maxrss."""
    env = {**os.environ, "DJANGO_DEBUG": os.environ.get("DJANGO_DEBUG", "True")}
    out_path, err_path = folder / "stdout.txt", folder / "stderr.txt"
    with out_path.open("w") as out, err_path.open("w") as err:
        started = time.perf_counter()
        child = subprocess.Popen(  # noqa: S603 (our own manage.py, our interpreter)
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if child.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{err_path.read_text()}")
    return usage.ru_maxrss / 1024, wall, out_path.read_text()


def trace(path: Path) -> None:
    """Load and replay in this process under tracemalloc: what holds memory, and the peaks."""
    import django

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")
    os.environ.setdefault("DJANGO_DEBUG", "True")
    django.setup()
    from markets.bars import load_bars_csv
    from strategies.backtest import run_backtest

    tracemalloc.start(5)
    bars = load_bars_csv(path)
    held, load_peak = tracemalloc.get_traced_memory()
    top = tracemalloc.take_snapshot().statistics("lineno")[:8]
    tracemalloc.reset_peak()
    run_backtest("overnight_range_breakout", {}, bars, "ES")
    replay_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    mb = 2**20
    print("\ntracemalloc (numpy and Python objects only; pyarrow and zlib buffers are not traced)")
    print(f"  loading: peak {load_peak / mb:.1f} MB, held after it {held / mb:.1f} MB, by line:")
    for stat in top:
        print(f"    {stat.size / mb:7.1f} MB  {stat.traceback[0]}")
    print(f"  replay: peak {replay_peak / mb:.1f} MB above that (the calendar's imports included)")


BASELINES = {  # the same process without the bars: what the figure is made of
    "Django, the apps, the command (--help)": ["backtest", "--help"],
    "... and the libraries the CSV path imports": [
        "shell",
        "-c",
        "import pandas, pyarrow.csv, pyarrow.compute, pandas_market_calendars",
    ],
}


def spread(values: list[float], unit: str, digits: int = 0) -> str:
    return f"{min(values):7.{digits}f} .. {max(values):.{digits}f} {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--trace", action="store_true", help="also show what holds memory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="backtest-memory-") as tmp:
        folder = Path(tmp)
        path = cut_file(args.bars, folder)
        command = ["backtest", "--strategy", "overnight_range_breakout", "--contract", "ES"]
        command += ["--bars", str(path), "--json"]
        baselines = {
            label: [run_child(argv, folder)[0] for _ in range(args.repeat)]
            for label, argv in BASELINES.items()
        }
        runs = [run_child(command, folder) for _ in range(args.repeat)]
        result = json.loads(runs[-1][2])
        peaks = [peak for peak, _, _ in runs]
        walls = [wall for _, wall, _ in runs]
        verdict = "met" if max(peaks) < TARGET_MB else "NOT met"
        print(
            f"Backtest memory: {args.bars:,} ES 1-minute bars through `manage.py backtest --bars`"
        )
        print(
            f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end, "
            f"Python {sys.version.split()[0]}; {args.repeat} fresh processes each"
        )
        metrics = result["metrics"]
        print(
            f"  replayed {result['bars_replayed']:,} bars: {metrics['trades']} trades, "
            f"net {metrics['net_pnl_usd']} USD"
        )
        print(
            f"  peak RSS of the backtest     {spread(peaks, 'MB')}  (< {TARGET_MB} MB: {verdict})"
        )
        for label, values in baselines.items():
            print(f"    baseline: {label}: {spread(values, 'MB')}")
        print(
            f"  wall time, start to exit     {spread(walls, 's', 2)}  -> "
            f"{args.bars / max(walls):,.0f} .. {args.bars / min(walls):,.0f} bars/s "
            "(Django start-up, loading the CSV and the replay)"
        )
        if args.trace:
            trace(path)


if __name__ == "__main__":
    main()
