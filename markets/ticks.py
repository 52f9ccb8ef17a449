"""Exact price arithmetic: Decimal prices <-> integer ticks, dollar P&L, and the contract table.

Prices never travel as floats. At the edges (broker JSON, the database) a price is a `Decimal`;
inside the engines it is an `int` number of ticks, so comparisons and sums are exact and cheap.

The contract table mirrors §7 of docs/projectx-gateway.md. Fees there are approximate (another
firm's ProjectX fee table); the real fee of a fill is `HalfTrade.fees` from `Trade/search`. Account
rules (max contracts etc.) live in `execution/risk.py`, not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from numbers import Integral

__all__ = [
    "CONTRACT_SPECS",
    "ContractSpec",
    "OffTick",
    "UnknownContract",
    "from_ticks",
    "pnl_usd",
    "price_text",
    "spec_for",
    "to_ticks",
]


class OffTick(ValueError):
    """The price is not a whole number of ticks; the gateway would reject it."""


class UnknownContract(KeyError):
    """No contract specification is registered for that symbol, root or contract id."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else "unknown contract"


def _check_tick_size(tick_size: Decimal) -> None:
    if not isinstance(tick_size, Decimal) or not tick_size.is_finite() or tick_size <= 0:
        raise ValueError(f"tick size must be a positive finite Decimal, got {tick_size!r}")


def to_ticks(price: Decimal, tick_size: Decimal) -> int:
    """The whole number of ticks in `price`; raises OffTick if it is not tick-aligned.

    Negative prices are valid (crude oil settled at -37.63 in April 2020). Floats are refused:
    0.1 has no exact binary form, so a float price may already be off-tick before we see it.
    """
    _check_tick_size(tick_size)
    if isinstance(price, bool) or not isinstance(price, Decimal | int):
        raise TypeError(f"price must be a Decimal (or int), got {type(price).__name__}: {price!r}")
    if isinstance(price, Decimal) and not price.is_finite():
        raise OffTick(f"{price} is not a finite price")
    try:
        ticks, rest = divmod(Decimal(price), tick_size)
    except InvalidOperation:  # more ticks than the decimal context's 28 digits can hold
        raise OffTick(f"{price} is out of range for the tick size {tick_size}") from None
    if rest:
        raise OffTick(f"{price} is not a multiple of the tick size {tick_size}")
    return int(ticks)


def from_ticks(ticks: int, tick_size: Decimal) -> Decimal:
    """The Decimal price of `ticks` whole ticks (exact: an int times a Decimal)."""
    _check_tick_size(tick_size)
    if isinstance(ticks, bool) or not isinstance(ticks, int):
        raise TypeError(f"ticks must be an int, got {type(ticks).__name__}: {ticks!r}")
    return ticks * tick_size


def price_text(ticks: int | float, tick_size: Decimal) -> str:
    """A price or a distance of ``ticks`` ticks as traders read it, with the tick size's decimals:
    exact for whole ticks (27261 ES ticks: "6815.25"), rounded for a fractional number of ticks
    such as an average (an ATR of 148.1 ticks: "37.02")."""
    _check_tick_size(tick_size)
    places = max(-int(tick_size.as_tuple().exponent), 0)
    if isinstance(ticks, Integral):
        return f"{from_ticks(int(ticks), tick_size):.{places}f}"
    return f"{Decimal(repr(float(ticks))) * tick_size:.{places}f}"


def pnl_usd(entry_ticks: int, exit_ticks: int, qty: int, tick_value: Decimal) -> Decimal:
    """Gross dollar P&L of `qty` contracts (negative for shorts) from entry to exit, before fees."""
    return (exit_ticks - entry_ticks) * qty * tick_value


@dataclass(frozen=True, slots=True)
class ContractSpec:
    """One futures product as TopstepX/ProjectX trades it.

    `contract_id` is the ProjectX product root (`EP` for ES): the tradable id of one expiry is
    `CON.F.US.<root>.<month><yy>` (see `contract_id_for`); resolve the front month through
    `Contract/search` rather than hard-coding an expiry.
    """

    symbol: str
    contract_id: str
    tick_size: Decimal
    tick_value: Decimal
    fee_per_side_usd: Decimal
    is_micro: bool = False

    @property
    def symbol_id(self) -> str:
        """The gateway's `symbolId`, e.g. `F.US.EP` (quotes carry it as `symbol`)."""
        return f"F.US.{self.contract_id}"

    def contract_id_for(self, month_code: str, year: int) -> str:
        """The gateway contract id of one expiry, e.g. `CON.F.US.EP.Z25` for (`Z`, 2025)."""
        if month_code not in _MONTH_CODES:
            raise ValueError(f"unknown futures month code {month_code!r}; expected one of F..Z")
        return f"CON.F.US.{self.contract_id}.{month_code}{year % 100:02d}"

    def to_ticks(self, price: Decimal) -> int:
        return to_ticks(price, self.tick_size)

    def from_ticks(self, ticks: int) -> Decimal:
        return from_ticks(ticks, self.tick_size)

    def price_text(self, ticks: int | float) -> str:
        return price_text(ticks, self.tick_size)

    def pnl_usd(self, entry_ticks: int, exit_ticks: int, qty: int) -> Decimal:
        return pnl_usd(entry_ticks, exit_ticks, qty, self.tick_value)


_MONTH_CODES = frozenset("FGHJKMNQUVXZ")

_D = Decimal
CONTRACT_SPECS: dict[str, ContractSpec] = {
    spec.symbol: spec
    for spec in (
        ContractSpec("ES", "EP", _D("0.25"), _D("12.50"), _D("1.40")),
        ContractSpec("MES", "MES", _D("0.25"), _D("1.25"), _D("0.37"), is_micro=True),
        ContractSpec("NQ", "ENQ", _D("0.25"), _D("5.00"), _D("1.40")),
        ContractSpec("MNQ", "MNQ", _D("0.25"), _D("0.50"), _D("0.37"), is_micro=True),
        ContractSpec("RTY", "RTY", _D("0.10"), _D("5.00"), _D("1.40")),
        ContractSpec("YM", "YM", _D("1.00"), _D("5.00"), _D("1.40")),
        ContractSpec("CL", "CLE", _D("0.01"), _D("10.00"), _D("1.52")),
        ContractSpec("GC", "GCE", _D("0.10"), _D("10.00"), _D("1.62")),
    )
}
_BY_ROOT: dict[str, ContractSpec] = {spec.contract_id: spec for spec in CONTRACT_SPECS.values()}


def spec_for(symbol_or_root: str) -> ContractSpec:
    """Look up a spec by symbol (`ES`), ProjectX root (`EP`), symbolId (`F.US.EP`) or contract id
    (`CON.F.US.EP.Z25`); case-insensitive. Raises UnknownContract."""
    if not isinstance(symbol_or_root, str) or not symbol_or_root.strip():
        raise UnknownContract(f"a symbol or contract id is required, got {symbol_or_root!r}")
    key = symbol_or_root.strip().upper()
    parts = key.split(".")
    if len(parts) == 5 and parts[:3] == ["CON", "F", "US"]:
        key = parts[3]
    elif len(parts) == 3 and parts[:2] == ["F", "US"]:
        key = parts[2]
    spec = CONTRACT_SPECS.get(key) or _BY_ROOT.get(key)
    if spec is None:
        known = ", ".join(sorted(CONTRACT_SPECS))
        raise UnknownContract(f"no contract spec for {symbol_or_root!r}; known symbols: {known}")
    return spec
