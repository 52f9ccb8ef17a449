"""Backtest results: trades, decisions, equity, daily P&L and the metrics, JSON-ready via ``to_dict``.

Money is ``Decimal`` (``to_dict`` writes it as strings); prices are given both as exact ``Decimal``
and as integer ticks; times are aware UTC datetimes (``*_at``) built from the engine's epoch seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from markets.fills import Side
from markets.sessions import globex_session
from strategies.backtest import metrics


def _at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """One round trip: entry fill to exit fill, P&L net of commissions."""

    strategy: str
    tag: str
    trading_date: date
    side: Side
    qty: int
    entry_ts: int
    exit_ts: int
    entry_ticks: int
    exit_ticks: int
    entry_price: Decimal
    exit_price: Decimal
    gross_usd: Decimal
    fees_usd: Decimal
    pnl_usd: Decimal
    r_multiple: Decimal
    initial_risk_ticks: int
    exit_reason: str

    @property
    def entry_at(self) -> datetime:
        return _at(self.entry_ts)

    @property
    def exit_at(self) -> datetime:
        return _at(self.exit_ts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "tag": self.tag,
            "trading_date": self.trading_date.isoformat(),
            "side": "long" if self.side == Side.BUY else "short",
            "qty": self.qty,
            "entry_at": self.entry_at.isoformat(),
            "exit_at": self.exit_at.isoformat(),
            "entry_price": str(self.entry_price),
            "exit_price": str(self.exit_price),
            "gross_usd": str(self.gross_usd),
            "fees_usd": str(self.fees_usd),
            "pnl_usd": str(self.pnl_usd),
            "r_multiple": str(self.r_multiple),
            "initial_risk_ticks": self.initial_risk_ticks,
            "exit_reason": self.exit_reason,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """Something the engine did for a strategy, and why (the journal shows these)."""

    ts: int
    strategy: str
    action: str
    tag: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": _at(self.ts).isoformat(),
            "strategy": self.strategy,
            "action": self.action,
            "tag": self.tag,
            "reason": self.reason,
        }


@dataclass(slots=True)
class BacktestResult:
    strategy: str
    params: dict[str, Any]
    contract: str
    trades: list[TradeRecord]
    decisions: list[Decision]
    notes: list[tuple[int, str, str]]
    session_dates: list[date]
    daily_pnl_usd: list[Decimal]
    starting_balance_usd: Decimal
    survived: bool
    failed_on: date | None
    failure_reason: str | None
    daily_loss_limit_days: list[date]
    bars_replayed: int
    elapsed_seconds: float = 0.0
    rules: str = ""
    refused_entries: int = 0
    first_refused_on: date | None = None
    equity_curve: list[tuple[datetime, Decimal]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.equity_curve:
            equity = self.starting_balance_usd
            start = (
                datetime.combine(self.session_dates[0], datetime.min.time(), UTC)
                if self.session_dates
                else datetime.fromtimestamp(0, UTC)
            )
            curve = [(start, equity)]
            for trade in self.trades:
                equity += trade.pnl_usd
                curve.append((trade.exit_at, equity))
            if self.session_dates:
                # The curve spans the whole run, not just up to the last trade.
                close = globex_session(self.session_dates[-1])[1].astimezone(UTC)
                if close > curve[-1][0]:
                    curve.append((close, equity))
            self.equity_curve = curve

    # -- metrics --------------------------------------------------------------------------------

    @property
    def net_pnl_usd(self) -> Decimal:
        return sum((t.pnl_usd for t in self.trades), Decimal(0))

    @property
    def fees_usd(self) -> Decimal:
        return sum((t.fees_usd for t in self.trades), Decimal(0))

    def drawdown(self) -> metrics.Drawdown:
        equity = [point[1] for point in self.equity_curve]
        first = self.session_dates[0] if self.session_dates else None
        dates = [first, *(t.trading_date for t in self.trades)]
        dates += [self.session_dates[-1]] * (len(equity) - len(dates))  # the closing point
        return metrics.max_drawdown(equity, dates, self.session_dates)  # type: ignore[arg-type]

    def metrics(self) -> dict[str, Any]:
        pnls = [t.pnl_usd for t in self.trades]
        daily = self.daily_pnl_usd
        dd = self.drawdown()
        sessions = len(self.session_dates)
        return {
            "net_pnl_usd": self.net_pnl_usd,
            "fees_usd": self.fees_usd,
            "trades": len(pnls),
            "win_rate": metrics.win_rate(pnls),
            "profit_factor": metrics.profit_factor(pnls),
            "expectancy_usd": metrics.expectancy(pnls),
            "average_r": metrics.average([t.r_multiple for t in self.trades]),
            "sharpe": metrics.sharpe(daily),
            "sortino": metrics.sortino(daily),
            "max_drawdown_usd": dd.amount_usd,
            "max_drawdown_sessions": dd.length_sessions,
            "max_drawdown_peak": dd.peak_date,
            "max_drawdown_trough": dd.trough_date,
            "sessions": sessions,
            "trades_per_day": len(pnls) / sessions if sessions else None,
            "best_day_usd": max(daily) if daily else None,
            "worst_day_usd": min(daily) if daily else None,
            "best_day_share": metrics.best_day_share(daily),
            "daily_loss_limit_days": list(self.daily_loss_limit_days),
            "survived": self.survived,
            "failed_on": self.failed_on,
            "failure_reason": self.failure_reason,
            "rules": self.rules,
            "refused_entries": self.refused_entries,
            "first_refused_on": self.first_refused_on,
        }

    def report(self) -> str:
        """A short human-readable summary (the command line's non-JSON output)."""
        m = self.metrics()
        first = self.session_dates[0] if self.session_dates else None
        last = self.session_dates[-1] if self.session_dates else None

        def num(value: object, fmt: str = "{:.2f}") -> str:
            return "n/a" if value is None else fmt.format(value)

        verdict = (
            "survived" if self.survived else f"FAILED on {self.failed_on}: {self.failure_reason}"
        )
        return "\n".join(
            [
                f"{self.strategy} on {self.contract}, {first} .. {last} "
                f"({m['sessions']} sessions, {self.bars_replayed:,} bars)",
                f"net P&L {m['net_pnl_usd']} USD (fees {m['fees_usd']}), {m['trades']} trades, "
                f"{num(m['trades_per_day'])} a day",
                f"win rate {num(m['win_rate'], '{:.1%}')}, profit factor {num(m['profit_factor'])}, "
                f"expectancy {num(m['expectancy_usd'], '{}')} USD, average R {num(m['average_r'], '{}')}",
                f"Sharpe {num(m['sharpe'])}, Sortino {num(m['sortino'])}, max drawdown "
                f"{m['max_drawdown_usd']} USD over {m['max_drawdown_sessions']} sessions",
                f"best day {num(m['best_day_usd'], '{}')} USD "
                f"({num(m['best_day_share'], '{:.0%}')} of the profit), "
                f"daily-loss-limit days {len(self.daily_loss_limit_days)}",
                f"rules: {self.rules}",
                f"account: {verdict}",
                *self._refusals(),
            ]
        )

    def _refusals(self) -> list[str]:
        if not self.refused_entries:
            return []
        return [f"the rules refused {self.refused_entries} entries from {self.first_refused_on}"]

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-serialisable data (Decimals and dates as strings)."""
        return {
            "strategy": self.strategy,
            "params": _jsonable(self.params),
            "contract": self.contract,
            "starting_balance_usd": str(self.starting_balance_usd),
            "bars_replayed": self.bars_replayed,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "metrics": _jsonable(self.metrics()),
            "trades": [t.to_dict() for t in self.trades],
            "daily_pnl": [
                {"trading_date": d.isoformat(), "pnl_usd": str(p)}
                for d, p in zip(self.session_dates, self.daily_pnl_usd, strict=True)
            ],
            "equity_curve": [
                {"at": at.isoformat(), "equity_usd": str(e)} for at, e in self.equity_curve
            ],
            "decisions": [d.to_dict() for d in self.decisions],
            "notes": [
                {"at": _at(ts).isoformat(), "strategy": s, "note": n} for ts, s, n in self.notes
            ],
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    if hasattr(value, "strftime"):  # datetime.time parameters
        return value.strftime("%H:%M")
    return value
