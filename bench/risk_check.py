"""Time `execution.risk.check_order` (and `assess`) on random inputs; print p50/p99/max in µs.

Run from the repository root:  .venv/bin/python bench/risk_check.py [--n 200000] [--seed 1]
Target: p99 under 50 µs per check (pre-trade, on the order path).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from execution.risk import (
    AccountRiskState,
    MllMode,
    ProposedOrder,
    assess,
    check_order,
    plan_limits,
)
from markets.fills import OrderKind, Side

CONTRACTS = ("ES", "MES", "NQ", "MNQ", "CON.F.US.EP.Z25")


def _proposals(
    rng: random.Random, n: int
) -> list[tuple[AccountRiskState, ProposedOrder, datetime]]:
    limits = plan_limits("combine", 50, mll_mode=MllMode.END_OF_DAY)
    base = AccountRiskState.opening(limits)
    start = datetime(2023, 6, 12, 13, 0, tzinfo=UTC)
    cases = []
    for _ in range(n):
        held = {c: rng.randint(-3, 3) for c in rng.sample(CONTRACTS, rng.randint(0, 3))}
        state = replace(
            base,
            positions=MappingProxyType(held),
            realized_pnl_usd=Decimal(rng.randint(-1200, 800)),
            unrealized_pnl_usd=Decimal(rng.randint(-500, 500)),
        )
        kind = rng.choice((OrderKind.MARKET, OrderKind.LIMIT, OrderKind.STOP))
        last = Decimal(rng.randint(17_000, 19_000)) / 4
        price = None if kind == OrderKind.MARKET else last + Decimal(rng.randint(-40, 40)) / 4
        order = ProposedOrder(
            rng.choice(CONTRACTS),
            rng.choice((Side.BUY, Side.SELL)),
            rng.randint(1, 4),
            kind,
            price,
            last,
        )
        now = start + timedelta(seconds=rng.randint(0, 5 * 86_400))
        cases.append((state, order, now))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    limits = plan_limits("combine", 50, mll_mode=MllMode.END_OF_DAY)
    cases = _proposals(random.Random(args.seed), args.n)
    for state, order, now in cases[:1000]:  # warm caches (zoneinfo, spec lookups)
        check_order(limits, state, order, now)
    timings = []
    allowed = 0
    clock = time.perf_counter_ns
    for state, order, now in cases:
        t0 = clock()
        decision = check_order(limits, state, order, now)
        timings.append(clock() - t0)
        allowed += decision.allowed
    print(f"check_order over {len(timings):,} random proposals ({allowed:,} allowed)")
    _report(timings)
    timings = []
    for state, _, _ in cases:
        t0 = clock()
        assess(limits, state)
        timings.append(clock() - t0)
    print(f"assess over {len(timings):,} random account states")
    _report(timings)


def _report(timings: list[int]) -> None:
    timings.sort()

    def pct(q: float) -> float:
        return timings[min(len(timings) - 1, int(q * len(timings)))] / 1000

    print(f"  p50 {pct(0.50):.1f} µs   p99 {pct(0.99):.1f} µs   max {timings[-1] / 1000:.1f} µs")


if __name__ == "__main__":
    main()
