"""Contract months: which one is the front month on a trading date (the roll rule), and expiries.

The gateway has no continuous contract: each session trades one dated contract
(`CON.F.US.<root>.<month><yy>`), `Contract/search` may list only one per product near a quarter's
end, expired months keep only coarse history and `retrieveBars` does not span a roll
(docs/projectx-gateway.md §7, §11). So the platform picks each session's contract itself,
from this rule, keyed by the session's trading date (markets/sessions.py): a roll takes effect at
the session boundary, 18:00 ET the evening before the roll date.

The rule, per product:
- Equity index (ES, MES, NQ, MNQ, RTY, M2K, YM, MYM): quarterly H/M/U/Z, expiring on the third
  Friday of the contract month. The next month becomes the front month on the roll date, eight
  calendar days before expiry: the Thursday of the week before, i.e. the second Thursday of the
  contract month. This is CME Group's equity index roll convention ("Equity Index Roll Dates":
  the roll date is eight calendar days prior to expiration), the day liquidity moves.
- Crude (CLE): monthly; the contract two months out once past the 15th, else next month (CL stops
  trading around the 20th of the month before delivery).
- Gold (GCE): bi-monthly G/J/M/Q/V/Z, rolled a week before the contract month begins.
The crude and gold rules are approximations good to a few days; their expiry is taken as eight days
after the roll. A holiday does not move a roll: the first trading date on or after it rolls.
"""

from __future__ import annotations

from datetime import date, timedelta

__all__ = [
    "MONTH_CODES",
    "expiry_date",
    "front_month",
    "front_month_id",
    "next_contract_id",
    "roll_date",
    "split_contract_id",
]

MONTH_CODES = "FGHJKMNQUVXZ"
_QUARTERLY = "HMUZ"
_BIMONTHLY_GOLD = "GJMQVZ"
ROLL_DAYS_BEFORE_EXPIRY = 8  # CME equity index roll convention


def _third_friday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


def _cycle(root: str) -> str:
    if root == "CLE":
        return MONTH_CODES
    return _BIMONTHLY_GOLD if root == "GCE" else _QUARTERLY


def roll_date(root: str, code: str, year: int) -> date:
    """The first trading date on which month `code`/`year` of `root` is no longer the front."""
    month = MONTH_CODES.index(code) + 1
    if root == "CLE":  # the 16th of the month before delivery
        before = date(year, month, 1) - timedelta(days=1)
        return date(before.year, before.month, 16)
    if root == "GCE":
        return date(year, month, 1) - timedelta(days=7)
    return _third_friday(year, month) - timedelta(days=ROLL_DAYS_BEFORE_EXPIRY)


def expiry_date(root: str, code: str, year: int) -> date:
    """The last trading date of the month (equity index: the third Friday)."""
    if root in ("CLE", "GCE"):
        return roll_date(root, code, year) + timedelta(days=ROLL_DAYS_BEFORE_EXPIRY)
    return _third_friday(year, MONTH_CODES.index(code) + 1)


def front_month(root: str, on: date) -> tuple[str, int]:
    """(month code, year) of the front month of `root` on trading date `on`."""
    for year in (on.year, on.year + 1):
        for code in _cycle(root):
            if on < roll_date(root, code, year):
                return code, year
    raise AssertionError("unreachable: a front month always exists within a year")


def contract_id(root: str, code: str, year: int) -> str:
    return f"CON.F.US.{root}.{code}{year % 100:02d}"


def front_month_id(root: str, on: date) -> str:
    """The front-month contract id of `root` on trading date `on` (e.g. `CON.F.US.EP.H26`)."""
    return contract_id(root, *front_month(root, on))


def split_contract_id(contract: str) -> tuple[str, str, int]:
    """`CON.F.US.EP.H26` -> ("EP", "H", 2026); ValueError for anything else."""
    parts = contract.strip().upper().split(".")
    expiry = parts[-1] if len(parts) == 5 else ""
    if parts[:3] != ["CON", "F", "US"] or len(expiry) != 3 or expiry[0] not in MONTH_CODES:
        raise ValueError(f"not a dated contract id: {contract!r}")
    if not expiry[1:].isdigit():
        raise ValueError(f"not a dated contract id: {contract!r}")
    return parts[3], expiry[0], 2000 + int(expiry[1:])


def next_contract_id(contract: str) -> str:
    """The month after `contract` in its product's cycle."""
    root, code, year = split_contract_id(contract)
    cycle = _cycle(root)
    index = cycle.index(code) + 1
    return contract_id(root, cycle[index % len(cycle)], year + index // len(cycle))
