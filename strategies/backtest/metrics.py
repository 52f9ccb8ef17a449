"""Performance figures from trades and daily P&L. Money stays Decimal; ratios are floats.

Definitions (stated because engines differ on them):
- Daily figures use one value per replayed trading session, days without trades counting as 0.
- Sharpe = mean(daily) / sample stdev(daily) x sqrt(252); Sortino = mean(daily) / downside deviation
  x sqrt(252), the downside deviation being sqrt(mean(min(daily, 0)^2)) over all days. Risk-free 0.
- Maximum drawdown is measured on the equity after each closed trade (peak to trough, in USD); its
  length is counted in sessions from the session of the peak to the session that regains it (or to
  the last session if it never does).
- Best day's share = best day's P&L / total net P&L (TopStep's consistency rule), only when the total
  is positive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

TRADING_DAYS_PER_YEAR = 252
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Drawdown:
    amount_usd: Decimal
    length_sessions: int
    peak_date: date | None
    trough_date: date | None


def win_rate(pnls: Sequence[Decimal]) -> float | None:
    if not pnls:
        return None
    return sum(1 for p in pnls if p > 0) / len(pnls)


def profit_factor(pnls: Sequence[Decimal]) -> float | None:
    """Gross profit / gross loss; None when there is no losing trade (undefined, not infinite)."""
    gains = sum((p for p in pnls if p > 0), _ZERO)
    losses = -sum((p for p in pnls if p < 0), _ZERO)
    if losses == 0:
        return None
    return float(gains / losses)


def expectancy(pnls: Sequence[Decimal]) -> Decimal | None:
    if not pnls:
        return None
    return (sum(pnls, _ZERO) / len(pnls)).quantize(Decimal("0.01"))


def average(values: Sequence[Decimal]) -> Decimal | None:
    if not values:
        return None
    return (sum(values, _ZERO) / len(values)).quantize(Decimal("0.01"))


def sharpe(daily: Sequence[Decimal]) -> float | None:
    if len(daily) < 2:
        return None
    xs = [float(d) for d in daily]
    mean = sum(xs) / len(xs)
    var = sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)
    if var == 0:
        return None
    return mean / math.sqrt(var) * math.sqrt(TRADING_DAYS_PER_YEAR)


def sortino(daily: Sequence[Decimal]) -> float | None:
    if len(daily) < 2:
        return None
    xs = [float(d) for d in daily]
    mean = sum(xs) / len(xs)
    downside = math.sqrt(sum(min(x, 0.0) ** 2 for x in xs) / len(xs))
    if downside == 0:
        return None
    return mean / downside * math.sqrt(TRADING_DAYS_PER_YEAR)


def max_drawdown(
    equity: Sequence[Decimal], equity_dates: Sequence[date], session_dates: Sequence[date]
) -> Drawdown:
    """Deepest peak-to-trough fall of ``equity`` (one point per closed trade, after the start).

    ``equity[0]`` is the starting balance (dated the first session); ``equity_dates[k]`` is the
    session of point k. Lengths count sessions in ``session_dates`` (the replayed sessions).
    """
    if not equity:
        return Drawdown(_ZERO, 0, None, None)
    index = {d: k for k, d in enumerate(session_dates)}
    peak, peak_at = equity[0], 0
    worst = Drawdown(_ZERO, 0, None, None)
    worst_peak_at = 0
    for k in range(1, len(equity)):
        if equity[k] >= peak:
            peak, peak_at = equity[k], k
            continue
        fall = peak - equity[k]
        if fall > worst.amount_usd:
            worst = Drawdown(fall, 0, equity_dates[peak_at], equity_dates[k])
            worst_peak_at = peak_at
    if worst.peak_date is None:
        return worst
    peak_value = equity[worst_peak_at]
    recovered = next(
        (equity_dates[k] for k in range(worst_peak_at + 1, len(equity)) if equity[k] >= peak_value),
        None,
    )
    start = index.get(worst.peak_date, 0)
    end = index.get(recovered, len(session_dates) - 1) if recovered else len(session_dates) - 1
    return Drawdown(worst.amount_usd, max(end - start, 0), worst.peak_date, worst.trough_date)


def best_day_share(daily: Sequence[Decimal]) -> float | None:
    total = sum(daily, _ZERO)
    if total <= 0 or not daily:
        return None
    return float(max(daily) / total)
