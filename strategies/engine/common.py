"""Small helpers shared by the bar-interval strategies (mean reversion, trend following)."""

from __future__ import annotations

from datetime import date, time

from markets.sessions import at_et
from strategies.engine.params import ParamValue


def next_boundary(now: int, minutes: int) -> int:
    """The first multiple of ``minutes`` (since the epoch, UTC) strictly after ``now``."""
    step = minutes * 60
    return (now // step + 1) * step


class TradingWindow:
    """The ET wall-clock window of one trading date in which new positions may be opened, and the
    flatten time. ``start``/``end`` before 18:00 are on the trading date itself."""

    __slots__ = ("end_ts", "flatten_ts", "start_ts", "trading_date")

    def __init__(self, trading_date: date, start: time, end: time, flatten: time) -> None:
        self.trading_date = trading_date
        self.start_ts = int(at_et(trading_date, start).timestamp())
        self.end_ts = int(at_et(trading_date, end).timestamp())
        self.flatten_ts = int(at_et(trading_date, flatten).timestamp())

    def is_open(self, ts: int) -> bool:
        return self.start_ts <= ts < self.end_ts


def check_window(values: dict[str, ParamValue]) -> dict[str, str]:
    """Cross-field rule for ``trade_start`` < ``trade_end`` <= ``flatten_at`` < 17:00 ET."""
    errors: dict[str, str] = {}
    start, end, flatten = values["trade_start"], values["trade_end"], values["flatten_at"]
    if start >= end:  # type: ignore[operator]
        errors["trade_start"] = "must be before trade_end"
    if end > flatten:  # type: ignore[operator]
        errors["trade_end"] = "must not be after flatten_at"
    if flatten >= time(17, 0):  # type: ignore[operator]
        errors["flatten_at"] = "must be before 17:00 (the session ends then)"
    return errors
