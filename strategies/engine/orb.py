"""Overnight Range Breakout: trade the break of the overnight (Globex) range after the cash open.

Rules (every time is America/New_York wall-clock, every price integer ticks):
1. Track the high and low of the bars between ``range_start`` (default 18:00, the evening before the
   trading date when later than 17:00) and ``range_end`` (default 09:30).
2. At ``range_end`` place a buy stop ``buffer_ticks`` above the high and a sell stop ``buffer_ticks``
   below the low, in one OCO group: when one fills the broker cancels the other.
3. Each entry carries a bracket: stop-loss ``stop_atr`` x ATR and take-profit ``target_atr`` x ATR
   away from the fill (ATR of ``atr_period`` bars of ``atr_bar_minutes``; 1440 = session bars).
4. Skip the day (no orders) when the range is narrower than ``min_range_atr`` x ATR or wider than
   ``max_range_atr`` x ATR, when the range has fewer than ``min_range_bars`` bars (a partial
   overnight), while the ATR is still warming up, or when the exchange calendar says the session is a
   holiday or an early close (``markets.calendar``).
5. Once the open gain reaches ``breakeven_r`` x the initial risk, move the stop to the entry price
   plus ``breakeven_offset_ticks`` (never against the position).
6. At most ``max_trades_per_day`` entries a day; after an exit the OCO pair is re-armed at the same
   levels (at the next bar close, only on the sides the price has not already passed) while the entry
   window is open.
7. At ``entry_window_end`` unfilled entries are cancelled; at ``flatten_at`` (default 15:55) the
   position is closed and everything cancelled.
"""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

from markets.calendar import is_early_close, is_trading_day
from markets.fills import OrderKind, Side
from markets.sessions import GLOBEX_OPEN_ET, at_et, range_window
from strategies.engine.base import SESSION_BARS, Context, IndicatorSpec, Strategy, Wake
from strategies.engine.events import (
    Bars,
    Clock,
    Event,
    Fill,
    OrderUpdate,
    SessionClose,
    SessionOpen,
)
from strategies.engine.intents import CancelOrder, Flatten, Intent, ModifyStop, PlaceBracket
from strategies.engine.params import Param, ParamSchema, ParamValue

EVENING = GLOBEX_OPEN_ET
"""A ``range_start`` at or after the 18:00 Globex open belongs to the evening before the trading date
(``markets.sessions.range_window``); every other time is on the trading date."""
SESSION_END = time(17, 0)


def _check_times(values: dict[str, ParamValue]) -> dict[str, str]:
    errors: dict[str, str] = {}
    start, end = values["range_start"], values["range_end"]
    entry_end, flatten = values["entry_window_end"], values["flatten_at"]
    if start < EVENING and start >= end:  # type: ignore[operator]
        errors["range_start"] = "must be before range_end (or from 18:00 on, the evening before)"
    if end >= SESSION_END:  # type: ignore[operator]
        errors["range_end"] = "must be before 17:00 on the trading date"
    if entry_end <= end:  # type: ignore[operator]
        errors["entry_window_end"] = "must be after range_end"
    if flatten < entry_end or flatten >= SESSION_END:  # type: ignore[operator]
        errors["flatten_at"] = "must be at or after entry_window_end and before 17:00"
    if values["min_range_atr"] > values["max_range_atr"]:  # type: ignore[operator]
        errors["min_range_atr"] = "must not exceed max_range_atr"
    return errors


class _Day:
    """Everything the strategy knows about one trading date."""

    __slots__ = (
        "atr",
        "be_done",
        "be_level",
        "count",
        "date",
        "entry_end_ts",
        "entry_price",
        "fired",
        "flatten_ts",
        "high",
        "is_tradeable",
        "last_close",
        "levels",
        "low",
        "open_tag",
        "range_end_ts",
        "range_start_ts",
        "rearm_pending",
        "side",
        "stop_price",
        "trades",
        "working",
    )

    def __init__(
        self, trading_date: date, times: tuple[int, int, int, int], tradeable: bool
    ) -> None:
        self.date = trading_date
        self.range_start_ts, self.range_end_ts, self.entry_end_ts, self.flatten_ts = times
        self.is_tradeable = tradeable
        self.high = -(1 << 62)
        self.low = 1 << 62
        self.count = 0
        self.last_close = 0
        self.atr = 0.0
        self.levels: tuple[int, int, int, int] | None = None  # buy stop, sell stop, sl, tp ticks
        self.working: set[str] = set()
        self.trades = 0
        self.open_tag: str | None = None
        self.side = Side.BUY
        self.entry_price = 0
        self.stop_price = 0
        self.be_level: int | None = None
        self.be_done = False
        self.rearm_pending = False
        self.fired = 0  # how many of the day's four clock times have been delivered

    def next_clock(self) -> int | None:
        times = (self.range_start_ts, self.range_end_ts, self.entry_end_ts, self.flatten_ts)
        return times[self.fired] if self.fired < len(times) else None


def _epoch(day: date, wall: time) -> int:
    return int(at_et(day, wall).timestamp())


class OvernightRangeBreakout(Strategy):
    kind = "overnight_range_breakout"
    regimes = frozenset({"trending", "ranging", "neutral", "unknown"})
    schema = ParamSchema(
        [
            Param("range_start", "time", time(18, 0), "Start of the overnight range (ET)."),
            Param("range_end", "time", time(9, 30), "End of the range; entries placed then (ET)."),
            Param("entry_window_end", "time", time(11, 0), "Unfilled entries cancelled (ET)."),
            Param("flatten_at", "time", time(15, 55), "Position closed, orders cancelled (ET)."),
            Param(
                "buffer_ticks", "int", 2, "Entry stops this many ticks beyond the range.", 0, 200
            ),
            Param("atr_period", "int", 14, "ATR period (Wilder).", 2, 500),
            Param(
                "atr_bar_minutes", "int", SESSION_BARS, "ATR bar size; 1440 = sessions.", 1, 1440
            ),
            Param(
                "stop_atr",
                "decimal",
                Decimal("0.25"),
                "Stop-loss distance in ATR.",
                Decimal("0.01"),
                Decimal(20),
            ),
            Param(
                "target_atr",
                "decimal",
                Decimal("0.5"),
                "Take-profit distance in ATR.",
                Decimal("0.01"),
                Decimal(50),
            ),
            Param(
                "min_range_atr",
                "decimal",
                Decimal("0.1"),
                "Skip days with a narrower range.",
                Decimal(0),
                Decimal(50),
            ),
            Param(
                "max_range_atr",
                "decimal",
                Decimal("1.0"),
                "Skip days with a wider range.",
                Decimal("0.01"),
                Decimal(50),
            ),
            Param("min_range_bars", "int", 300, "Skip days whose range has fewer bars.", 1, 2000),
            Param(
                "breakeven_r",
                "decimal",
                Decimal("1.0"),
                "Move the stop to breakeven after this gain in R; 0 = never.",
                Decimal(0),
                Decimal(20),
            ),
            Param("breakeven_offset_ticks", "int", 1, "Breakeven stop this far in profit.", 0, 100),
            Param("max_trades_per_day", "int", 1, "Entries allowed per trading date.", 1, 10),
            Param("qty", "int", 1, "Contracts per entry.", 1, 50),
        ],
        checks=[_check_times],
    )

    def __init__(self, params: dict[str, object] | None = None) -> None:
        super().__init__(params)
        p = self.params
        self._times = (p["range_start"], p["range_end"], p["entry_window_end"], p["flatten_at"])
        self._stop_atr = float(p["stop_atr"])  # type: ignore[arg-type]
        self._target_atr = float(p["target_atr"])  # type: ignore[arg-type]
        self._be_r = float(p["breakeven_r"])  # type: ignore[arg-type]
        self._day: _Day | None = None

    def indicators(self) -> tuple[IndicatorSpec, ...]:
        p = self.params
        return (IndicatorSpec("atr", "atr", p["atr_period"], p["atr_bar_minutes"]),)  # type: ignore[arg-type]

    # -- events ---------------------------------------------------------------------------------

    def on_event(self, event: Event, ctx: Context) -> list[Intent]:
        day = self._day
        if isinstance(event, Bars):
            return self._on_bars(day, event, ctx) if day is not None else []
        if isinstance(event, Clock):
            if day is None:
                return []
            while (due := day.next_clock()) is not None and due <= event.ts:
                day.fired += 1
            return self._on_clock(day, event.ts, ctx)
        if isinstance(event, Fill):
            return self._on_fill(day, event) if day is not None else []
        if isinstance(event, OrderUpdate):
            if day is not None:
                day.working.discard(event.tag)
            return []
        if isinstance(event, SessionOpen):
            self._day = self._plan(event.trading_date, ctx)
            return []
        if isinstance(event, SessionClose):
            self._day = None
        return []

    def _plan(self, trading_date: date, ctx: Context) -> _Day:
        start, end, entry_end, flatten = self._times
        range_from, range_to = range_window(trading_date, start, end)
        times = (
            int(range_from.timestamp()),
            int(range_to.timestamp()),
            _epoch(trading_date, entry_end),
            _epoch(trading_date, flatten),
        )
        tradeable = is_trading_day(trading_date) and not is_early_close(trading_date)
        if not tradeable:
            ctx.note(f"{trading_date}: holiday or early close, no breakout today")
        return _Day(trading_date, times, tradeable)

    def _on_bars(self, day: _Day, bars: Bars, ctx: Context) -> list[Intent]:
        day.last_close = bars.close
        if day.range_start_ts <= bars.start_ts and bars.end_ts <= day.range_end_ts:
            day.high = max(day.high, bars.high)
            day.low = min(day.low, bars.low)
            day.count += bars.count
            return []
        if day.open_tag is not None and not day.be_done and day.be_level is not None:
            reached = (
                bars.high >= day.be_level if day.side == Side.BUY else bars.low <= day.be_level
            )
            if reached:
                return self._breakeven(day)
        if day.rearm_pending:
            day.rearm_pending = False
            if day.open_tag is None and bars.end_ts < day.entry_end_ts:
                return self._arm(day, ctx, rearm=True)
        return []

    def _on_clock(self, day: _Day, ts: int, ctx: Context) -> list[Intent]:
        if ts == day.range_end_ts and day.is_tradeable:
            return self._open_range(day, ctx)
        if ts == day.entry_end_ts and day.working:
            tags, day.working = sorted(day.working), set()
            day.rearm_pending = False
            return [CancelOrder(tag, "entry window closed") for tag in tags]
        if ts == day.flatten_ts:
            day.rearm_pending = False
            if day.working or day.open_tag is not None:
                day.working = set()
                return [Flatten("flatten time")]
        return []

    def _on_fill(self, day: _Day, fill: Fill) -> list[Intent]:
        if fill.role == "entry":
            day.working.clear()  # the OCO sibling is cancelled by the broker
            day.trades += 1
            day.open_tag = fill.tag
            day.side = fill.side
            day.entry_price = fill.price
            assert day.levels is not None
            sl = day.levels[2]
            sign = 1 if fill.side == Side.BUY else -1
            day.stop_price = fill.price - sign * sl
            day.be_done = self._be_r <= 0
            day.be_level = fill.price + sign * max(1, round(self._be_r * sl))
            return []
        if fill.tag == day.open_tag:
            day.open_tag = None
            day.be_level = None
            if day.trades < self.params["max_trades_per_day"] and fill.role != "risk":  # type: ignore[operator]
                day.rearm_pending = True
        return []

    # -- decisions ------------------------------------------------------------------------------

    def _open_range(self, day: _Day, ctx: Context) -> list[Intent]:
        p = self.params
        if day.count < p["min_range_bars"]:  # type: ignore[operator]
            ctx.note(f"{day.date}: range has {day.count} bars (< {p['min_range_bars']}), skipped")
            return []
        atr = ctx.indicator("atr")
        if atr is None or atr <= 0:
            ctx.note(f"{day.date}: ATR not ready, skipped")
            return []
        width = day.high - day.low
        lo, hi = float(p["min_range_atr"]) * atr, float(p["max_range_atr"]) * atr  # type: ignore[arg-type]
        if not lo <= width <= hi:
            ctx.note(
                f"{day.date}: range {ctx.price(width)} wide, outside {ctx.price(lo)}-"
                f"{ctx.price(hi)} (ATR {ctx.price(atr)}), skipped"
            )
            return []
        buffer = p["buffer_ticks"]
        sl = max(1, round(self._stop_atr * atr))
        tp = max(1, round(self._target_atr * atr))
        day.atr = atr
        day.levels = (day.high + buffer, day.low - buffer, sl, tp)  # type: ignore[operator]
        return self._arm(day, ctx, rearm=False)

    def _arm(self, day: _Day, ctx: Context, *, rearm: bool) -> list[Intent]:
        if day.levels is None or day.trades >= self.params["max_trades_per_day"]:  # type: ignore[operator]
            return []
        buy_at, sell_at, sl, tp = day.levels
        qty: int = self.params["qty"]  # type: ignore[assignment]
        group = f"{day.date.isoformat()}#{day.trades + 1}"
        why = (
            "re-armed after exit"
            if rearm
            else f"range {ctx.price(day.low)}-{ctx.price(day.high)}, ATR {ctx.price(day.atr)}"
        )
        intents: list[Intent] = []
        if not rearm or day.last_close < buy_at:
            tag = f"{group}:buy"
            intents.append(
                PlaceBracket(
                    tag,
                    Side.BUY,
                    qty,
                    OrderKind.STOP,
                    buy_at,
                    sl,
                    tp,
                    f"breakout above {why}",
                    group,
                )
            )
            day.working.add(tag)
        if not rearm or day.last_close > sell_at:
            tag = f"{group}:sell"
            intents.append(
                PlaceBracket(
                    tag,
                    Side.SELL,
                    qty,
                    OrderKind.STOP,
                    sell_at,
                    sl,
                    tp,
                    f"breakout below {why}",
                    group,
                )
            )
            day.working.add(tag)
        return intents

    def _breakeven(self, day: _Day) -> list[Intent]:
        day.be_done = True
        offset: int = self.params["breakeven_offset_ticks"]  # type: ignore[assignment]
        if day.side == Side.BUY:
            new_stop = day.entry_price + offset
            better = new_stop > day.stop_price
        else:
            new_stop = day.entry_price - offset
            better = new_stop < day.stop_price
        if not better or day.open_tag is None:
            return []
        day.stop_price = new_stop
        return [ModifyStop(day.open_tag, new_stop, f"breakeven after {self._be_r}R")]

    # -- waking ---------------------------------------------------------------------------------

    def wake(self, ctx: Context) -> Wake:
        day = self._day
        if day is None or not day.is_tradeable:
            return Wake()
        if day.rearm_pending:
            return Wake(every_bar=True)
        at = day.next_clock()  # may equal now: a bar closed exactly at it; the clock still fires
        if day.open_tag is not None and not day.be_done and day.be_level is not None:
            if day.side == Side.BUY:
                return Wake(at=at, above=day.be_level)
            return Wake(at=at, below=day.be_level)
        return Wake(at=at)
