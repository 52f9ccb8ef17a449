"""Figures over many attempts: pass rate with a Wilson interval, days to pass, failure reasons,
the closest approach to the loss limit, and resets (and their cost) per pass."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from strategies.evaluation.attempt import Attempt, Outcome


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (95 % by default); None without trials."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    # The bounds are exactly 0 and 1 at the extremes (float rounding would leave 1e-17 off).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def quartiles(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    q1, median, q3 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return {
        "min": float(min(values)),
        "q1": float(q1),
        "median": float(median),
        "q3": float(q3),
        "max": float(max(values)),
    }


def summarize(attempts: Sequence[Attempt], *, fee_usd: Decimal | None) -> dict[str, Any]:
    """The evaluation's figures. Rates are over finished attempts (passed + failed); attempts
    still running at the end of the data are counted apart (they neither passed nor failed)."""
    passed = [a for a in attempts if a.outcome == Outcome.PASSED]
    failed = [a for a in attempts if a.outcome == Outcome.FAILED]
    finished = len(passed) + len(failed)
    rate = len(passed) / finished if finished else None
    days = [a.sessions for a in passed]
    headrooms = [float(a.min_headroom_usd) for a in attempts]
    attempts_per_pass = 1 / rate if rate else None
    histogram = Counter(days)
    return {
        "attempts": len(attempts),
        "passed": len(passed),
        "failed": len(failed),
        "unfinished": len(attempts) - finished,
        "pass_rate": rate,
        "pass_rate_interval": wilson_interval(len(passed), finished),
        # Attempts still running at the end of the data count against this one: it is what a
        # trader starting on a random day saw within the data.
        "passed_share_of_all": len(passed) / len(attempts) if attempts else None,
        "days_to_pass": quartiles(days),
        "days_to_pass_histogram": sorted(histogram.items()),
        "failure_reasons": dict(Counter(a.reason or "unknown" for a in failed)),
        "min_headroom_usd": min(headrooms) if headrooms else None,
        "headroom_usd": quartiles(headrooms),
        "expected_attempts_per_pass": attempts_per_pass,
        "expected_resets_per_pass": attempts_per_pass - 1 if attempts_per_pass else None,
        "cost_per_pass_usd": (
            fee_usd * Decimal(str(round(attempts_per_pass, 6)))
            if attempts_per_pass and fee_usd is not None
            else None
        ),
        "refused_entries": sum(a.refused_entries for a in attempts),
        "daily_limit_days": sum(a.daily_limit_days for a in attempts),
        "replayed_days": sum(a.replayed_days for a in attempts),
    }
