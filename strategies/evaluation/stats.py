"""Figures over many attempts: pass rate with a Wilson interval, days to pass, failure reasons,
the closest approach to the loss limit, and resets (and their cost) per pass; then the Express
Funded stage of the passed ones: payouts, their paths, days to the first, how the XFA failed."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from strategies.evaluation.attempt import Attempt, Outcome
from strategies.evaluation.express import ExpressOutcome

_CENT = Decimal("0.01")


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
    cost = _cost(attempts_per_pass, fee_usd)
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
        "cost_per_pass_usd": cost,
        "refused_entries": sum(a.refused_entries for a in attempts),
        "daily_limit_days": sum(a.daily_limit_days for a in attempts),
        "replayed_days": sum(a.replayed_days for a in attempts),
        "express": summarize_express(passed, cost_per_pass_usd=cost),
    }


def _cost(attempts_per_pass: float | None, fee_usd: Decimal | None) -> Decimal | None:
    if not attempts_per_pass or fee_usd is None:
        return None
    return fee_usd * Decimal(str(round(attempts_per_pass, 6)))


def summarize_express(
    passed: Sequence[Attempt], *, cost_per_pass_usd: Decimal | None
) -> dict[str, Any] | None:
    """The XFA figures over the passed attempts that had sessions left after their pass (None
    when no attempt carries an XFA run). Amounts are what left the account (before the profit
    split); ``net_per_pass_usd`` takes the expected evaluation cost of one pass off."""
    runs = [a.express for a in passed if a.express is not None and a.express.sessions]
    if not any(a.express is not None for a in passed):
        return None
    paid = [r for r in runs if r.payouts]
    failed = [r for r in runs if r.outcome == ExpressOutcome.FAILED]
    amounts = [float(p.amount_usd) for r in runs for p in r.payouts]
    paid_per_run = [r.paid_usd for r in runs]
    mean_paid = (sum(paid_per_run, Decimal(0)) / len(runs)).quantize(_CENT) if runs else None
    return {
        "runs": len(runs),
        "with_payout": len(paid),
        "with_payout_share": len(paid) / len(runs) if runs else None,
        "payouts_per_run": quartiles([len(r.payouts) for r in runs]),
        "days_to_first_payout": quartiles([r.payouts[0].session for r in paid]),
        "payout_usd": quartiles(amounts),
        "paid_per_run_usd": quartiles([float(v) for v in paid_per_run]),
        "mean_paid_per_run_usd": mean_paid,
        "net_per_pass_usd": (
            (mean_paid - cost_per_pass_usd).quantize(_CENT)
            if mean_paid is not None and cost_per_pass_usd is not None
            else None
        ),
        "payout_paths": dict(Counter(p.path.value for r in runs for p in r.payouts)),
        "first_payout_paths": dict(Counter(r.payouts[0].path.value for r in paid)),
        "failed": len(failed),
        "failed_before_payout": sum(1 for r in failed if not r.payouts),
        "failure_reasons": dict(Counter(r.reason or "unknown" for r in failed)),
        "funded_at_end": len(runs) - len(failed),
    }
