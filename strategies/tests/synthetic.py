"""Hand-made bars for strategy and backtester tests: 1-minute bars placed by ET wall-clock time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, time, timedelta
from decimal import Decimal

import numpy as np

from execution.risk import RiskLimits
from markets.fills import check_bar
from markets.sessions import at_et

Bar = tuple[int, int, int, int]  # open, high, low, close in ticks

# Limits that never bind: the rules run, the account cannot fail (for tests of other rules).
LOOSE_LIMITS = RiskLimits(
    starting_balance_usd=Decimal(1_000_000),
    max_loss_limit_usd=Decimal(500_000),
    max_contracts=50,
    daily_loss_limit_usd=None,
)


@dataclass(frozen=True, slots=True)
class BarArrays:
    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


def et_ts(day: date, hour: int, minute: int) -> int:
    return int(at_et(day, time(hour, minute)).timestamp())


def session_bars(
    trading_date: date,
    *,
    overnight: Bar = (16000, 16010, 15990, 16000),
    day: Bar = (16000, 16005, 15995, 16000),
    overrides: Mapping[time, Bar] | None = None,
    end: time = time(16, 59),
) -> list[tuple[int, Bar]]:
    """Every minute from 18:00 ET the evening before to ``end``: the ``overnight`` bar before
    09:30, the ``day`` bar after, except the minutes given in ``overrides``."""
    overrides = dict(overrides or {})
    start = at_et(trading_date - timedelta(days=1), time(18, 0))
    stop = at_et(trading_date, end)
    rth = at_et(trading_date, time(9, 30))
    rows = []
    at = start
    while at <= stop:
        local = at.astimezone(start.tzinfo).time()
        bar = overrides.get(local, overnight if at < rth else day)
        rows.append((int(at.timestamp()), bar))
        at += timedelta(minutes=1)
    return rows


def to_arrays(rows: Iterable[tuple[int, Bar]]) -> BarArrays:
    rows = sorted(rows)
    ts = np.asarray([r[0] for r in rows], dtype=np.int64)
    ohlc = np.asarray([r[1] for r in rows], dtype=np.int64).reshape(-1, 4)
    for o, h, lo, c in ohlc.tolist():
        check_bar(o, h, lo, c)
    return BarArrays(
        ts,
        ohlc[:, 0].copy(),
        ohlc[:, 1].copy(),
        ohlc[:, 2].copy(),
        ohlc[:, 3].copy(),
        np.ones(len(ts), dtype=np.int64),
    )
