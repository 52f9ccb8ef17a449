"""A look-ahead check: does any of a strategy's decisions use bars that had not closed yet?

Each sampled entry decision is re-made on the bars cut at the moment it was made (only bars closed
by then) and must come out the same: same time, same order, same reason. A strategy (or an
indicator) that peeks at later bars decides differently on the cut data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from markets.bars import BarArrays
from markets.ticks import ContractSpec
from strategies.backtest.result import Decision
from strategies.backtest.run import ReplayData, run_backtest


@dataclass(frozen=True, slots=True)
class Mismatch:
    decision: Decision
    on_cut_data: Decision | None  # what the strategy decided at that time without later bars


def lookahead_check(
    strategy: str,
    params: Mapping[str, object] | None,
    bars: ReplayData,
    spec: ContractSpec,
    *,
    samples: int = 10,
    seed: int = 0,
) -> tuple[int, list[Mismatch]]:
    """Re-make ``samples`` random entry decisions on cut data; (decisions checked, mismatches)."""
    full = run_backtest(strategy, params, bars, spec)
    placed = [d for d in full.decisions if d.action == "place"]
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(placed), size=min(samples, len(placed)), replace=False))
    mismatches = []
    for k in chosen:
        decision = placed[int(k)]
        closed = int(
            np.searchsorted(bars.close_ts, decision.ts, side="right")
        )  # bars closed by then
        cut = BarArrays(
            *(getattr(bars, n)[:closed] for n in ("ts", "open", "high", "low", "close", "volume")),
            tick_size=spec.tick_size,
        )
        day = _session_of(bars, decision.ts)
        again = run_backtest(strategy, params, cut, spec, first_date=day, last_date=day)
        same = [d for d in again.decisions if d.ts == decision.ts and d.tag == decision.tag]
        if not same or same[0] != decision:
            mismatches.append(Mismatch(decision, same[0] if same else None))
    return len(chosen), mismatches


def _session_of(bars: ReplayData, ts: int):
    """The trading date of the session in which ``ts`` falls (the last bar closed by then)."""
    i = max(int(np.searchsorted(bars.close_ts, ts, side="right")) - 1, 0)
    return bars.sessions.dates[int(bars.sessions.index[i])]
