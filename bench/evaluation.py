"""Evaluation Lab benchmark: the ES file evaluated for one plan, a start every trading day, plus
10,000 Monte Carlo paths.

Run from the repository root (target: under 30 s on the 2-core machine, loading included):

    .venv/bin/python bench/evaluation.py [--plan combine-50k] [--paths 10000] [--data PATH]
        [--strategy overnight_range_breakout] [--param stop_atr=0.3]

Prints the time of each stage (load, the one replay without rules, every start day under the
plan, the Monte Carlo), how many days were settled by a replay under the plan, and the headline
figures, then the Express Funded stage of the passed attempts (payouts and their paths). Plans
are TopStep's published defaults (``execution.risk.plan_limits``; the payout policy as seeded by
accounts/migrations/0005_express_payout_policy.py), so no database is needed. The data (../shared/data) is licensed for internal testing only.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from execution.risk import plan_limits
from markets.bars import load_bars_csv
from markets.ticks import spec_for
from strategies.backtest import ReplayData
from strategies.evaluation.attempt import Goal
from strategies.evaluation.days import trace_days
from strategies.evaluation.express import PayoutPolicy
from strategies.evaluation.lab import ExpressStage, evaluate_history, monte_carlo
from strategies.evaluation.stats import summarize

DEFAULT_DATA = (
    Path(os.environ.get("MARKET_DATA_DIR", Path(__file__).resolve().parents[1] / "../shared/data"))
    / "es_1min_2019-2023.csv.gz"
)
TARGETS = {50: Decimal(3000), 100: Decimal(6000), 150: Decimal(9000)}  # §8, Trading Combine
# The XFA payout policy as the plan table is seeded (docs/evaluation-lab.md gives the sources).
PAYOUTS = PayoutPolicy(
    winning_days=5,
    winning_day_usd=Decimal(150),
    balance_share=Decimal("0.5"),
    cap_usd=Decimal(5000),
    consistency_days=3,
    consistency_share=Decimal("0.4"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--strategy", default="overnight_range_breakout")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--size", type=int, default=50, choices=sorted(TARGETS))
    parser.add_argument("--paths", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=1)
    args = parser.parse_args()
    params = dict(p.split("=", 1) for p in args.param)
    limits = plan_limits("combine", args.size)
    goal = Goal(TARGETS[args.size], Decimal("0.5"))
    express = ExpressStage(plan_limits("express", args.size), PAYOUTS)
    spec = spec_for("ES")

    started = time.perf_counter()
    data = ReplayData.prepare(load_bars_csv(args.data, spec.tick_size))
    loaded = time.perf_counter()
    trace = trace_days(args.strategy, params, data, spec)
    traced = time.perf_counter()
    history = evaluate_history(trace, limits, goal, every=args.every, express=express)
    evaluated = time.perf_counter()
    paths = monte_carlo(trace, limits, goal, paths=args.paths, keep_paths=500, express=express)
    finished = time.perf_counter()

    print(f"{args.strategy} {params or ''} on {args.data.name}: {len(data.ts):,} bars, "
          f"{len(trace.days):,} sessions; {args.size}K Trading Combine (published defaults)")  # fmt: skip
    print(f"  load + sessions          {loaded - started:6.2f} s")
    print(f"  one replay without rules {traced - loaded:6.2f} s")
    print(f"  {len(history):,} attempts (a start every {args.every} session)"
          f" {evaluated - traced:6.2f} s")  # fmt: skip
    print(f"  {args.paths:,} Monte Carlo paths    {finished - evaluated:6.2f} s")
    print(f"  total                    {finished - started:6.2f} s (target < 30 s)")
    for name, attempts in (("history", history), ("Monte Carlo", paths)):
        s = summarize(attempts, fee_usd=None)
        rate = "n/a" if s["pass_rate"] is None else f"{s['pass_rate']:.1%}"
        print(
            f"  {name}: passed {s['passed']}, failed {s['failed']}, unfinished {s['unfinished']}"
            f"; pass rate {rate}; median days to pass "
            f"{(s['days_to_pass'] or {}).get('median')}; days replayed {s['replayed_days']}"
        )
        x = s["express"]
        if x and x["runs"]:
            print(
                f"    XFA ({x['runs']} runs of up to {express.horizon} sessions): payout reached "
                f"{x['with_payout_share']:.1%}, median days to the first "
                f"{(x['days_to_first_payout'] or {}).get('median')}, paid per run mean "
                f"{x['mean_paid_per_run_usd']} USD, paths {x['payout_paths']}, failed "
                f"{x['failed']} ({x['failed_before_payout']} before a payout)"
            )


if __name__ == "__main__":
    main()
