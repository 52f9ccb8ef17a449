"""Every TopStep account rule, in one place, as pure functions (no ORM, no I/O, no clock).

The backtester, the simulator and the live order service all call these. Numbers and mechanics
come from §8 of docs/projectx-gateway.md; TopStep changes them often, so the live platform keeps
them in the database (accounts.AccountPlan / RiskProfile) and builds `RiskLimits` from those rows;
`plan_limits` gives the published defaults.

Rules
-----
- Maximum Loss Limit (MLL, hard): the floor is `high-water mark - MLL`, never lower than before
  and never above the lock level (the starting balance: 50K -> floor 48,000 rises with the high
  water and locks at 50,000 once the high water reaches 52,000). END_OF_DAY mode trails the
  end-of-day balance (`roll_trading_day`); INTRADAY mode (stricter; reported for 2026 Combines)
  also trails the intraday equity high (`mark_equity`). Equity (balance + open P&L) at or below
  the floor is a breach: flatten, cancel, lock for good (the account has failed).
- Firm Daily Loss Limit (DLL, soft, the plan's; None = the plan has none, as TopstepX Combines
  and Express Funded accounts opened since 25 Aug 2024): the day's net P&L (realised +
  unrealised - fees) at or below -DLL: cancel all, flatten, no new entries until the 17:00 CT
  reset. A `warning_share` of the tightest daily limit (0.8) raises a warning first.
- Personal Daily Loss Limit (the trader's, TopstepX; a fixed amount, trailing is not supported):
  reached -> `DailyLossAction`: ALERT (notify only), LIQUIDATE (cancel and flatten; entries stay
  allowed) or LIQUIDATE_AND_BLOCK (cancel, flatten and no new entries until the session rolls).
  Both limits apply when both are set.
- Max position: the sum over contracts of |net position|, micros counted 1/`micro_ratio` of a
  mini, must stay <= `max_contracts` (in minis) after the order fills; working entry orders
  count as if filled (worst case). `micro_ratio` 1 (a micro counts as a full contract, the
  stricter reading and the default) or 10 (ten micros per mini). Express Funded accounts scale
  `max_contracts` with the start-of-day balance (`scaling`): re-evaluated at the day roll only,
  so the allowance is frozen during the day.
- Consistency (Combine): the best day must stay below `consistency_share` of the total profit.
  `consistency_day_cap` is the day profit at which today would break it; with
  `is_consistency_guarded`, an entry whose win (`max_gain_usd`) would take the day there is
  refused, and so is every entry once the day is there ("stop for the day").
- Trade risk (optional): an entry whose stop-out alone (`max_loss_usd`) would reach the daily or
  the maximum loss limit is refused.
- Trading window: no new entries from the flat-by time (15:10 CT, computed in America/Chicago)
  until the session rolls at 17:00 CT, nor within `early_close_buffer` of an early close.
- Exits and reducing orders (opposite side, size <= the open position; a flip is an entry) are
  never blocked by the entry-only rules above (locks, strategy disabled, flat-by, max position,
  loss limits): a locked account must still be able to flatten. Sanity rules (size, side, price
  on the tick grid and within a band of the last price, known contract) apply to every order.

Money is Decimal dollars; prices are Decimal and checked against the contract's tick grid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from numbers import Integral
from types import MappingProxyType
from zoneinfo import ZoneInfo

from markets.fills import OrderKind, Side
from markets.sessions import CHICAGO, FLAT_BY_CT, NaiveDatetime, trading_date
from markets.ticks import ContractSpec, OffTick, UnknownContract, spec_for, to_ticks

__all__ = [
    "AccountRiskState",
    "Consistency",
    "DailyLossAction",
    "LockReason",
    "MllMode",
    "ProposedOrder",
    "RiskAssessment",
    "RiskDecision",
    "RiskLimits",
    "RiskStatus",
    "RuleCode",
    "Violation",
    "assess",
    "check_order",
    "combine_passed",
    "consistency_day_cap",
    "consistency_of",
    "entry_cutoff",
    "exposure_units",
    "mark_equity",
    "max_contracts_for",
    "plan_limits",
    "roll_trading_day",
    "trade_risk_allowance",
    "with_lock",
]

_ZERO = Decimal(0)
_CENT = Decimal("0.01")


class MllMode(StrEnum):
    """How the Maximum Loss Limit floor trails (values match accounts.MllMode)."""

    END_OF_DAY = "end_of_day"
    INTRADAY = "intraday"


class DailyLossAction(StrEnum):
    """What reaching the Personal Daily Loss Limit does (TopstepX's three choices; values match
    accounts.DailyLossAction)."""

    ALERT = "alert"  # "do nothing": notify only
    LIQUIDATE = "liquidate"  # cancel and flatten; entries stay allowed
    LIQUIDATE_AND_BLOCK = "liquidate_and_block"  # and no new entries until the session rolls


class LockReason(StrEnum):
    DAILY_LOSS = "daily_loss_limit"  # lifted at the next trading day
    PERSONAL_DAILY_LOSS = "personal_daily_loss_limit"  # lifted at the next trading day
    MAX_LOSS = "max_loss_limit"  # permanent: the account has failed
    MANUAL = "manual"  # kill switch; lifted at the next trading day


class RuleCode(StrEnum):
    ACCOUNT_LOCKED = "account_locked"
    STRATEGY_DISABLED = "strategy_disabled"
    FLAT_BY_PASSED = "flat_by_passed"
    MAX_CONTRACTS = "max_contracts"
    DAILY_LOSS_REACHED = "daily_loss_reached"
    PERSONAL_DAILY_LOSS_REACHED = "personal_daily_loss_reached"
    CONSISTENCY_DAY_CAP = "consistency_day_cap"
    MAX_LOSS_BREACHED = "max_loss_breached"
    SIZE_INVALID = "size_invalid"
    SIDE_INVALID = "side_invalid"
    KIND_INVALID = "kind_invalid"
    TRADE_RISK_TOO_LARGE = "trade_risk_too_large"
    PRICE_MISSING = "price_missing"
    PRICE_OFF_TICK = "price_off_tick"
    PRICE_OUT_OF_BAND = "price_out_of_band"
    UNKNOWN_CONTRACT = "unknown_contract"


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """One account's limits. Dollar amounts are Decimal; `None` disables a daily limit.

    `scaling` (Express Funded scaling plan): ((profit_above_usd, max_contracts), ...) ascending;
    the highest threshold that the start-of-day profit (start-of-day balance - starting balance;
    an XFA starts at $0) strictly exceeds sets the cap; `max_contracts` applies below the first.
    `flat_by` is a wall-clock time in `flat_by_zone` (15:10 CT = 16:10 ET all year).
    """

    starting_balance_usd: Decimal
    max_loss_limit_usd: Decimal
    max_contracts: int
    daily_loss_limit_usd: Decimal | None = None
    mll_mode: MllMode = MllMode.END_OF_DAY
    mll_lock_balance_usd: Decimal | None = None  # None = the starting balance
    micro_ratio: int = 1  # a micro counts as a full contract: the stricter reading
    flat_by: time = FLAT_BY_CT
    flat_by_zone: ZoneInfo = CHICAGO
    warning_share: Decimal = Decimal("0.8")
    price_band_share: Decimal = Decimal("0.05")  # a limit/stop within 5 % of the last price
    early_close_buffer: timedelta = timedelta(minutes=5)
    scaling: tuple[tuple[Decimal, int], ...] = ()
    personal_daily_loss_usd: Decimal | None = None
    personal_daily_loss_action: DailyLossAction = DailyLossAction.LIQUIDATE_AND_BLOCK
    profit_target_usd: Decimal | None = None  # a Combine's; None = no consistency target
    consistency_share: Decimal = Decimal("0.5")
    is_consistency_guarded: bool = False  # stop entries for the day before breaking consistency

    def __post_init__(self) -> None:
        if self.max_loss_limit_usd <= 0:
            raise ValueError(f"max loss limit must be > 0, got {self.max_loss_limit_usd}")
        for name, amount in (
            ("daily loss limit", self.daily_loss_limit_usd),
            ("personal daily loss limit", self.personal_daily_loss_usd),
        ):
            if amount is not None and amount <= 0:
                raise ValueError(f"{name} must be > 0 or None, got {amount}")
        if not 0 < self.consistency_share < 1:
            raise ValueError(f"consistency share must be in (0, 1), got {self.consistency_share}")
        if self.max_contracts < 1 or self.micro_ratio < 1:
            raise ValueError("max_contracts and micro_ratio must be >= 1")
        if not 0 < self.warning_share <= 1:
            raise ValueError(f"warning share must be in (0, 1], got {self.warning_share}")
        if self.flat_by.tzinfo is not None:
            raise ValueError("flat_by is a wall-clock time; give its zone as flat_by_zone")
        object.__setattr__(self, "mll_mode", MllMode(self.mll_mode))
        action = DailyLossAction(self.personal_daily_loss_action)
        object.__setattr__(self, "personal_daily_loss_action", action)

    @property
    def daily_loss_in_force_usd(self) -> Decimal | None:
        """The tighter of the firm and the personal daily loss limit (None: neither is set)."""
        limits = (self.daily_loss_limit_usd, self.personal_daily_loss_usd)
        return min((amount for amount in limits if amount is not None), default=None)

    @property
    def lock_balance_usd(self) -> Decimal:
        """Where the MLL floor stops trailing."""
        if self.mll_lock_balance_usd is None:
            return self.starting_balance_usd
        return self.mll_lock_balance_usd


@dataclass(frozen=True, slots=True)
class _PlanRow:
    max_loss_usd: int
    daily_loss_usd: int  # the legacy DLL
    max_minis: int
    xfa_scaling: tuple[tuple[int, int], ...]  # (profit above $, max minis), first = base


_PLANS: dict[int, _PlanRow] = {  # §8 of docs/projectx-gateway.md, by size in $1,000
    50: _PlanRow(2000, 1000, 5, ((0, 2), (1500, 3), (2000, 5))),
    100: _PlanRow(3000, 2000, 10, ((0, 3), (1500, 4), (2000, 5), (3000, 10))),
    150: _PlanRow(4500, 3000, 15, ((0, 3), (1500, 4), (2000, 5), (3000, 10), (4500, 15))),
}
_COMBINE = frozenset({"combine", "tc", "trading_combine"})
_EXPRESS = frozenset({"express", "xfa", "express_funded"})


def plan_limits(
    plan: str,
    size: int,
    *,
    mll_mode: MllMode | str | None = None,
    daily_loss_enforced: bool = True,
) -> RiskLimits:
    """TopStep's published defaults for a Trading Combine or Express Funded account.

    `plan`: "combine"/"TC" or "express"/"XFA"; `size`: 50, 100, 150 (or 50_000 ...).
    Combine: starts at the size; the MLL trails end-of-day by default (Topstep's published rule,
    docs/topstep-rules.md; INTRADAY stays selectable). Express Funded: the balance starts at $0,
    the floor at -MLL and locks at $0, trails end-of-day, and max contracts follow the scaling
    plan. The DLL is the legacy $1K/$2K/$3K of other platforms unless `daily_loss_enforced=False`
    (TopstepX accounts since Aug 2024). Micros count as full contracts (the stricter reading).
    """
    key = plan.strip().lower().replace(" ", "_").replace("-", "_")
    kilo, rest = divmod(size, 1000) if size >= 1000 else (size, 0)
    row = _PLANS.get(kilo)
    if row is None or rest:
        raise ValueError(f"unknown account size {size}; expected 50, 100 or 150 (thousand)")
    dll = Decimal(row.daily_loss_usd) if daily_loss_enforced else None
    if key in _COMBINE:
        return RiskLimits(
            starting_balance_usd=Decimal(kilo * 1000),
            max_loss_limit_usd=Decimal(row.max_loss_usd),
            max_contracts=row.max_minis,
            daily_loss_limit_usd=dll,
            mll_mode=MllMode(mll_mode or MllMode.END_OF_DAY),
        )
    if key in _EXPRESS:
        base, *steps = row.xfa_scaling
        return RiskLimits(
            starting_balance_usd=_ZERO,
            max_loss_limit_usd=Decimal(row.max_loss_usd),
            max_contracts=base[1],
            daily_loss_limit_usd=dll,
            mll_mode=MllMode(mll_mode or MllMode.END_OF_DAY),
            scaling=tuple((Decimal(above), cap) for above, cap in steps),
        )
    raise ValueError(f"unknown plan {plan!r}; expected 'combine' (TC) or 'express' (XFA)")


@dataclass(frozen=True, slots=True)
class AccountRiskState:
    """What the rules need to know about an account now. Build a new one per change (`replace`).

    `balance_usd` is the broker's balance (realised P&L net of fees included); the day's net P&L
    is `realized_pnl_usd + unrealized_pnl_usd - fees_usd` (all for the current trading day).
    `positions` maps a contract (symbol, root or gateway id) to its signed net size; `working`
    maps it to the (buy, sell) sizes of working ENTRY orders (leave protective stops/targets out).
    `session_close_at` is set on early-close days (markets.calendar). `prior_profit_usd` and
    `prior_best_day_usd` sum up the account's earlier days (net P&L) for the consistency rule;
    None when not read.
    """

    balance_usd: Decimal
    start_balance_usd: Decimal
    high_water_usd: Decimal
    mll_floor_usd: Decimal
    realized_pnl_usd: Decimal = _ZERO
    unrealized_pnl_usd: Decimal = _ZERO
    fees_usd: Decimal = _ZERO
    lock_reason: str | None = None
    positions: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    working: Mapping[str, tuple[int, int]] = field(default_factory=lambda: MappingProxyType({}))
    session_close_at: datetime | None = None
    prior_profit_usd: Decimal | None = None
    prior_best_day_usd: Decimal | None = None

    @classmethod
    def opening(cls, limits: RiskLimits, balance_usd: Decimal | None = None) -> AccountRiskState:
        """A fresh account: balance at the start, floor at start - MLL (capped by the lock)."""
        balance = limits.starting_balance_usd if balance_usd is None else balance_usd
        floor = min(balance - limits.max_loss_limit_usd, limits.lock_balance_usd)
        return cls(balance, balance, balance, floor)

    @property
    def is_locked(self) -> bool:
        return self.lock_reason is not None

    @property
    def day_pnl_usd(self) -> Decimal:
        return self.realized_pnl_usd + self.unrealized_pnl_usd - self.fees_usd

    @property
    def equity_usd(self) -> Decimal:
        """Net liquidation value: balance plus open P&L."""
        return self.balance_usd + self.unrealized_pnl_usd


def with_lock(state: AccountRiskState, reason: str) -> AccountRiskState:
    """The state locked for `reason`; a max-loss lock is never replaced by a softer one."""
    if state.lock_reason == LockReason.MAX_LOSS:
        return state
    return replace(state, lock_reason=str(reason))


# --- pre-trade ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProposedOrder:
    """An order about to be sent. `price` is the limit or stop price (None for market orders);
    `last_price` is the latest trade/quote, for the sanity band (None skips the band).
    `max_loss_usd`, when the entry carries a protective stop, is what a stop-out would cost
    (distance x tick value x size + fees): the entry is refused if that alone would reach the
    daily or the maximum loss limit. `max_gain_usd` is what its take-profit would win."""

    contract: str
    side: Side
    size: int
    kind: OrderKind = OrderKind.MARKET
    price: Decimal | None = None
    last_price: Decimal | None = None
    is_strategy_enabled: bool = True
    max_loss_usd: Decimal | None = None
    max_gain_usd: Decimal | None = None  # what the take-profit would win (consistency guard)


@dataclass(frozen=True, slots=True)
class Violation:
    code: RuleCode
    message: str


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """The verdict on one proposed order: every failed rule, not just the first."""

    violations: tuple[Violation, ...]
    is_reducing: bool

    @property
    def allowed(self) -> bool:
        return not self.violations

    @property
    def codes(self) -> tuple[RuleCode, ...]:
        return tuple(v.code for v in self.violations)


def max_contracts_for(limits: RiskLimits, state: AccountRiskState) -> int:
    """The max position in minis today, after the Express Funded scaling plan if any."""
    cap = limits.max_contracts
    profit = state.start_balance_usd - limits.starting_balance_usd
    for above, step_cap in limits.scaling:
        if profit > above:
            cap = step_cap
    return cap


def exposure_units(
    positions: Mapping[str, int], working: Mapping[str, tuple[int, int]], ratio: int
) -> int:
    """Worst-case open size in micro units (a mini = `ratio` units, a micro = 1) if every working
    entry order filled. Unknown contracts count as minis (the cautious reading)."""
    total = 0
    for contract in positions.keys() | working.keys():
        net = positions.get(contract, 0)
        buys, sells = working.get(contract, (0, 0))
        total += max(abs(net + buys), abs(net - sells)) * _units(contract, ratio)
    return total


def _units(contract: str, ratio: int) -> int:
    try:
        return 1 if spec_for(contract).is_micro else ratio
    except UnknownContract:
        return ratio


def entry_cutoff(
    limits: RiskLimits, now: datetime, session_close_at: datetime | None = None
) -> datetime:
    """When new entries stop (and open positions must go) in the trading day containing `now`:
    the flat-by time, or `early_close_buffer` before an earlier session close."""
    day = trading_date(now)
    cutoff = datetime.combine(day, limits.flat_by, tzinfo=limits.flat_by_zone)
    if session_close_at is not None:
        cutoff = min(cutoff, session_close_at - limits.early_close_buffer)
    return cutoff


def check_order(
    limits: RiskLimits, state: AccountRiskState, proposed: ProposedOrder, now: datetime
) -> RiskDecision:
    """Pre-trade check of one order (see the module docstring for the rules)."""
    if now.tzinfo is None:
        raise NaiveDatetime(f"{now.isoformat()} has no time zone; pass an aware datetime")
    violations: list[Violation] = []
    spec = _sanity(limits, proposed, violations)
    held = _held(state.positions, proposed.contract, spec)
    side = _enum_value(proposed.side, _SIDES)
    size = 0 if side is None else _whole_size(proposed.size)
    signed = size if side == Side.BUY else -size
    is_reducing = held != 0 and size > 0 and (held > 0) != (signed > 0) and size <= abs(held)
    if not is_reducing:
        _entry_rules(limits, state, proposed, spec, signed, now, violations)
    return RiskDecision(tuple(violations), is_reducing)


_SIDES = frozenset({int(Side.BUY), int(Side.SELL)})
_KINDS = frozenset(int(kind) for kind in OrderKind)


def _enum_value(value: object, allowed: frozenset[int]) -> int | None:
    """`value` as one of the `allowed` wire ints, or None; never hashes or compares junk (a
    signalling-NaN Decimal raises on both)."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        return None
    number = int(value)
    return number if number in allowed else None


def _whole_size(size: object) -> int:
    """`size` as an int if it is a whole number (numpy integers included), else 0 (invalid)."""
    if type(size) is int:
        return size
    if isinstance(size, bool) or not isinstance(size, Integral):
        return 0
    return int(size)


def _is_contract_id(key: str) -> bool:
    return key.upper().startswith("CON.")


def _held(positions: Mapping[str, int], contract: str, spec: ContractSpec | None) -> int:
    """The signed position the order acts on. An exact key wins; a bare symbol or root (`ES`,
    `EP`) on either side matches the product's positions, so an exit keyed differently from the
    position is still recognised as one. Two full ids of different expiries never match."""
    if not isinstance(contract, str):
        return 0
    held = positions.get(contract)
    if held is not None or spec is None:
        return held or 0
    bare = not _is_contract_id(contract)
    total = 0
    for key, qty in positions.items():
        if qty and (bare or not _is_contract_id(key)):
            try:
                if spec_for(key) is spec:
                    total += qty
            except UnknownContract:
                continue
    return total


def _sanity(
    limits: RiskLimits, proposed: ProposedOrder, violations: list[Violation]
) -> ContractSpec | None:
    """Rules for every order, exits included: size, known contract, price grid and band."""
    size = proposed.size
    if _whole_size(size) <= 0:
        violations.append(
            Violation(RuleCode.SIZE_INVALID, f"size must be a whole number > 0, got {size!r}")
        )
    if _enum_value(proposed.side, _SIDES) is None:
        violations.append(
            Violation(
                RuleCode.SIDE_INVALID, f"side must be 0 (buy) or 1 (sell), got {proposed.side!r}"
            )
        )
    try:
        spec = spec_for(proposed.contract)
    except UnknownContract as exc:
        violations.append(Violation(RuleCode.UNKNOWN_CONTRACT, str(exc)))
        return None
    if _enum_value(proposed.kind, _KINDS) is None:
        violations.append(
            Violation(
                RuleCode.KIND_INVALID,
                f"order kind {proposed.kind!r} is not one we send (market, limit, stop, trailing)",
            )
        )
        return spec
    if proposed.kind == OrderKind.MARKET:
        return spec
    price = proposed.price
    if price is None:
        name = OrderKind(proposed.kind).name
        violations.append(Violation(RuleCode.PRICE_MISSING, f"a {name} order needs a price"))
        return spec
    try:
        to_ticks(price, spec.tick_size)
    except (OffTick, TypeError) as exc:
        violations.append(Violation(RuleCode.PRICE_OFF_TICK, f"{spec.symbol}: {exc}"))
        return spec
    last = proposed.last_price
    # Without a usable last price (none yet, or a bad print) the band cannot be judged; the
    # broker's own checks remain. A bad print must not block a protective order.
    usable = isinstance(last, Decimal) and last.is_finite()
    if usable and abs(price - last) > abs(last) * limits.price_band_share:
        violations.append(
            Violation(
                RuleCode.PRICE_OUT_OF_BAND,
                f"{spec.symbol} price {price} is more than {_percent(limits.price_band_share)} "
                f"away from the last price {last}",
            )
        )
    return spec


def _entry_rules(
    limits: RiskLimits,
    state: AccountRiskState,
    proposed: ProposedOrder,
    spec: ContractSpec | None,
    signed: int,
    now: datetime,
    violations: list[Violation],
) -> None:
    add = violations.append
    if state.lock_reason is not None:
        add(
            Violation(
                RuleCode.ACCOUNT_LOCKED, f"account is locked ({state.lock_reason}); exits only"
            )
        )
    if not proposed.is_strategy_enabled:
        add(Violation(RuleCode.STRATEGY_DISABLED, "the strategy is disabled; exits only"))
    cutoff = entry_cutoff(limits, now, state.session_close_at)
    if now >= cutoff:
        add(
            Violation(
                RuleCode.FLAT_BY_PASSED,
                f"no new entries after {cutoff.astimezone(limits.flat_by_zone):%H:%M %Z} "
                "until the session reset",
            )
        )
    limit = limits.daily_loss_limit_usd
    if limit is not None and state.day_pnl_usd <= -limit:
        add(
            Violation(
                RuleCode.DAILY_LOSS_REACHED,
                f"day P&L {state.day_pnl_usd} has reached the daily loss limit -{limit}",
            )
        )
    personal = limits.personal_daily_loss_usd
    blocks = limits.personal_daily_loss_action == DailyLossAction.LIQUIDATE_AND_BLOCK
    if personal is not None and blocks and state.day_pnl_usd <= -personal:
        add(
            Violation(
                RuleCode.PERSONAL_DAILY_LOSS_REACHED,
                f"day P&L {state.day_pnl_usd} has reached the personal daily loss limit "
                f"-{personal} (liquidate and block for the session)",
            )
        )
    _consistency_rule(limits, state, proposed.max_gain_usd, add)
    floor = _live_floor(limits, state)
    if state.equity_usd <= floor:
        add(
            Violation(
                RuleCode.MAX_LOSS_BREACHED,
                f"equity {state.equity_usd} is at or below the max-loss floor {floor}",
            )
        )
    _trade_risk_rule(limits, state, proposed.max_loss_usd, floor, add)
    if spec is not None and signed != 0:
        _max_contracts_rule(limits, state, proposed.contract, spec, signed, add)


def _trade_risk_rule(
    limits: RiskLimits,
    state: AccountRiskState,
    max_loss_usd: object,
    floor: Decimal,
    add: Callable[[Violation], None],
) -> None:
    """A stop-out of this trade alone must leave the account short of both loss limits."""
    if max_loss_usd is None:
        return
    if not isinstance(max_loss_usd, Decimal) or not max_loss_usd.is_finite() or max_loss_usd < 0:
        add(
            Violation(
                RuleCode.TRADE_RISK_TOO_LARGE,
                f"max_loss_usd must be a finite Decimal >= 0, got {max_loss_usd!r}",
            )
        )
        return
    for name, room in _loss_rooms(limits, state, floor):
        if max_loss_usd >= room > 0:
            add(
                Violation(
                    RuleCode.TRADE_RISK_TOO_LARGE,
                    f"a stop-out would lose {max_loss_usd}, reaching the {name} "
                    f"({room} of room left)",
                )
            )


def _loss_rooms(
    limits: RiskLimits, state: AccountRiskState, floor: Decimal
) -> list[tuple[str, Decimal]]:
    """What each loss limit still allows before it is reached (equity - floor, DLL + day P&L).
    A personal limit that only alerts stops nothing, so it leaves no room to respect."""
    rooms = [("max loss limit", state.equity_usd - floor)]
    if limits.daily_loss_limit_usd is not None:
        rooms.append(("daily loss limit", limits.daily_loss_limit_usd + state.day_pnl_usd))
    personal = limits.personal_daily_loss_usd
    if personal is not None and limits.personal_daily_loss_action != DailyLossAction.ALERT:
        rooms.append(("personal daily loss limit", personal + state.day_pnl_usd))
    return rooms


def trade_risk_allowance(limits: RiskLimits, state: AccountRiskState) -> Decimal | None:
    """The trade-risk rule in one number: an entry whose stop-out would lose this much or more is
    refused (``TRADE_RISK_TOO_LARGE``); None when no room is left (other rules refuse then).
    Evaluations compare a whole day's entries against it at once."""
    rooms = [room for _, room in _loss_rooms(limits, state, _live_floor(limits, state)) if room > 0]
    return min(rooms) if rooms else None


def combine_passed(
    *,
    profit_usd: Decimal,
    best_day_usd: Decimal,
    trading_days: int,
    profit_target_usd: Decimal,
    consistency_share: Decimal,
    minimum_trading_days: int = 1,
) -> bool:
    """The Trading Combine is passed at the end of a day when the profit reaches the target, the
    best day stays below ``consistency_share`` of the total profit (the consistency target, §8)
    and at least ``minimum_trading_days`` days were traded."""
    return (
        profit_usd >= profit_target_usd
        and best_day_usd < consistency_share * profit_usd
        and trading_days >= minimum_trading_days
    )


def consistency_day_cap(
    *,
    share: Decimal,
    profit_target_usd: Decimal,
    prior_profit_usd: Decimal,
    prior_best_day_usd: Decimal,
) -> Decimal:
    """The day profit at which today would break the consistency target; today's profit must
    stay below it.

    A day of x breaks it when it becomes the best day (x > the prior best) and reaching the
    target, or the total made by then, would no longer pass: x >= share x max(target, prior
    profit + x), i.e. x >= share x target and x >= share / (1 - share) x prior profit. So the cap
    is max(share x target, share / (1 - share) x prior profit, prior best), to the cent below.
    Unlike the raw best-day share (100 % on a first winning day), it lets a young Combine win
    up to the share of its target.
    """
    scaled = (share / (1 - share) * prior_profit_usd).quantize(_CENT, rounding=ROUND_FLOOR)
    return max(share * profit_target_usd, scaled, prior_best_day_usd)


@dataclass(frozen=True, slots=True)
class Consistency:
    """A Combine's consistency target now, the current day counted at its P&L so far."""

    share: Decimal
    total_profit_usd: Decimal
    best_day_usd: Decimal
    best_day_share: Decimal | None  # best day / total profit; None unless both are > 0
    is_consistent: bool  # the best day is below `share` of the total profit
    day_cap_usd: Decimal  # today's profit must stay below this
    remaining_today_usd: Decimal  # day_cap_usd - today's P&L


def consistency_of(limits: RiskLimits, state: AccountRiskState) -> Consistency | None:
    """The consistency target from the account's earlier days and today's P&L; None without a
    profit target (Express, practice) or when the earlier days were not read."""
    target, prior = limits.profit_target_usd, state.prior_profit_usd
    if target is None or prior is None or state.prior_best_day_usd is None:
        return None
    share, today = limits.consistency_share, state.day_pnl_usd
    total = prior + today
    best = max(state.prior_best_day_usd, today)
    cap = consistency_day_cap(
        share=share,
        profit_target_usd=target,
        prior_profit_usd=prior,
        prior_best_day_usd=state.prior_best_day_usd,
    )
    return Consistency(
        share=share,
        total_profit_usd=total,
        best_day_usd=best,
        best_day_share=(best / total).quantize(Decimal("0.0001")) if total > 0 < best else None,
        is_consistent=best < share * total,
        day_cap_usd=cap,
        remaining_today_usd=cap - today,
    )


def _consistency_rule(
    limits: RiskLimits,
    state: AccountRiskState,
    max_gain_usd: Decimal | None,
    add: Callable[[Violation], None],
) -> None:
    """With the guard on, stop entering for the day before a win breaks consistency."""
    found = consistency_of(limits, state) if limits.is_consistency_guarded else None
    if found is None:
        return
    usable = isinstance(max_gain_usd, Decimal) and max_gain_usd.is_finite() and max_gain_usd > 0
    gain = max_gain_usd if usable else _ZERO
    if state.day_pnl_usd + gain >= found.day_cap_usd:
        add(
            Violation(
                RuleCode.CONSISTENCY_DAY_CAP,
                f"a win of {gain} on top of today's {state.day_pnl_usd} would reach "
                f"{found.day_cap_usd}, where today would break the consistency target (best "
                f"day below {_percent(found.share)} of the total profit): stopped for the day",
            )
        )


def _max_contracts_rule(
    limits: RiskLimits,
    state: AccountRiskState,
    contract: str,
    spec: ContractSpec,
    signed: int,
    add: Callable[[Violation], None],
) -> None:
    ratio = limits.micro_ratio
    buys, sells = state.working.get(contract, (0, 0))
    working = dict(state.working)
    working[contract] = (buys + signed, sells) if signed > 0 else (buys, sells - signed)
    units = exposure_units(state.positions, working, ratio)
    cap = max_contracts_for(limits, state)
    if units > cap * ratio:
        add(
            Violation(
                RuleCode.MAX_CONTRACTS,
                f"position would reach {_minis(units, ratio)} mini-equivalents "
                f"({spec.symbol} {signed:+d}); the cap is {cap}",
            )
        )


def _percent(share: Decimal) -> str:
    return f"{(share * 100).normalize():f}%"


def _minis(units: int, ratio: int) -> str:
    whole, rest = divmod(units, ratio)
    return str(whole) if not rest else f"{Decimal(units) / ratio}"


# --- on every P&L change -----------------------------------------------------------------------


def _live_floor(limits: RiskLimits, state: AccountRiskState) -> Decimal:
    """The MLL floor in force now: intraday mode trails the current equity high too."""
    if limits.mll_mode == MllMode.INTRADAY:
        return _trailed_floor(
            limits, state.mll_floor_usd, max(state.high_water_usd, state.equity_usd)
        )
    return state.mll_floor_usd


def _trailed_floor(limits: RiskLimits, floor: Decimal, high_water: Decimal) -> Decimal:
    if floor >= limits.lock_balance_usd:
        return floor  # locked: stops trailing
    return max(floor, min(high_water - limits.max_loss_limit_usd, limits.lock_balance_usd))


class RiskStatus(StrEnum):
    OK = "ok"
    WARNING = "warning"  # `warning_share` of the daily limit used
    DAILY_LIMIT = "daily_limit"  # soft breach: cancel, flatten, lock until the next trading day
    PERSONAL_DAILY_LIMIT = "personal_daily_limit"  # what its DailyLossAction says
    MAX_LOSS = "max_loss"  # hard breach: flatten, lock for good
    FLAT_BY = "flat_by"  # positions still open at the flat-by time: flatten


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    """Where the account stands, with the amounts, and what the caller must do about it."""

    status: RiskStatus
    day_pnl_usd: Decimal
    daily_loss_limit_usd: Decimal | None
    daily_remaining_usd: Decimal | None  # loss still allowed today before the DLL; None = no DLL
    equity_usd: Decimal
    mll_floor_usd: Decimal
    mll_headroom_usd: Decimal  # equity - floor
    lock_reason: LockReason | None  # lock the account with this reason (None = no new lock)
    must_cancel_orders: bool
    must_flatten: bool
    message: str


def assess(
    limits: RiskLimits, state: AccountRiskState, now: datetime | None = None
) -> RiskAssessment:
    """Classify the account after a P&L change (the worst applicable status wins).

    MAX_LOSS when equity <= the MLL floor (in INTRADAY mode the floor trails the current equity
    too); DAILY_LIMIT when the day's net P&L <= -DLL; FLAT_BY when `now` is given, is past the
    entry cutoff and positions are open; PERSONAL_DAILY_LIMIT when the day's net P&L <= -the
    personal DLL (lock, cancel and flatten as its action says); WARNING when the loss reaches
    `warning_share` of the tightest daily limit.
    """
    equity = state.equity_usd
    floor = _live_floor(limits, state)
    day_pnl = state.day_pnl_usd
    dll = limits.daily_loss_limit_usd
    remaining = None if dll is None else dll + day_pnl
    common = {
        "day_pnl_usd": day_pnl,
        "daily_loss_limit_usd": dll,
        "daily_remaining_usd": remaining,
        "equity_usd": equity,
        "mll_floor_usd": floor,
        "mll_headroom_usd": equity - floor,
    }
    if equity <= floor:
        return RiskAssessment(
            RiskStatus.MAX_LOSS,
            **common,
            lock_reason=LockReason.MAX_LOSS,
            must_cancel_orders=True,
            must_flatten=True,
            message=f"max loss limit breached: equity {equity} <= floor {floor}",
        )
    if dll is not None and day_pnl <= -dll:
        return RiskAssessment(
            RiskStatus.DAILY_LIMIT,
            **common,
            lock_reason=LockReason.DAILY_LOSS,
            must_cancel_orders=True,
            must_flatten=True,
            message=f"daily loss limit reached: day P&L {day_pnl} <= -{dll}",
        )
    if now is not None and any(state.positions.values()):
        cutoff = entry_cutoff(limits, now, state.session_close_at)
        if now >= cutoff:
            return RiskAssessment(
                RiskStatus.FLAT_BY,
                **common,
                lock_reason=None,
                must_cancel_orders=True,
                must_flatten=True,
                message=f"positions open past the flat-by time {cutoff.isoformat()}",
            )
    personal = limits.personal_daily_loss_usd
    if personal is not None and day_pnl <= -personal:
        action = limits.personal_daily_loss_action
        blocks = action == DailyLossAction.LIQUIDATE_AND_BLOCK
        return RiskAssessment(
            RiskStatus.PERSONAL_DAILY_LIMIT,
            **common,
            lock_reason=LockReason.PERSONAL_DAILY_LOSS if blocks else None,
            must_cancel_orders=action != DailyLossAction.ALERT,
            must_flatten=action != DailyLossAction.ALERT,
            message=f"personal daily loss limit reached ({action.value}): "
            f"day P&L {day_pnl} <= -{personal}",
        )
    tightest = limits.daily_loss_in_force_usd
    if tightest is not None and -day_pnl >= tightest * limits.warning_share:
        return RiskAssessment(
            RiskStatus.WARNING,
            **common,
            lock_reason=None,
            must_cancel_orders=False,
            must_flatten=False,
            message=f"{-day_pnl} of the {tightest} daily loss limit used",
        )
    return RiskAssessment(
        RiskStatus.OK,
        **common,
        lock_reason=None,
        must_cancel_orders=False,
        must_flatten=False,
        message="within limits",
    )


def mark_equity(limits: RiskLimits, state: AccountRiskState) -> AccountRiskState:
    """INTRADAY mode: raise the high-water mark and the floor to the current equity high.

    Call after each P&L change; in END_OF_DAY mode it returns the state unchanged.
    """
    if limits.mll_mode != MllMode.INTRADAY:
        return state
    high = max(state.high_water_usd, state.equity_usd)
    floor = _trailed_floor(limits, state.mll_floor_usd, high)
    if high == state.high_water_usd and floor == state.mll_floor_usd:
        return state
    return replace(state, high_water_usd=high, mll_floor_usd=floor)


def roll_trading_day(
    limits: RiskLimits, state: AccountRiskState, eod_balance: Decimal
) -> AccountRiskState:
    """Close the trading day at `eod_balance` and open the next (the 17:00 CT reset).

    The high-water mark takes the end-of-day balance (both modes); the floor trails it and stops
    at the lock level; the day's P&L and fees restart at zero; day locks (daily loss, manual)
    lift, a max-loss lock stays. Open P&L carries over (TopStep accounts are flat by then).
    """
    high = max(state.high_water_usd, eod_balance)
    floor = _trailed_floor(limits, state.mll_floor_usd, high)
    lock = state.lock_reason if state.lock_reason == LockReason.MAX_LOSS else None
    return replace(
        state,
        balance_usd=eod_balance,
        start_balance_usd=eod_balance,
        high_water_usd=high,
        mll_floor_usd=floor,
        realized_pnl_usd=_ZERO,
        fees_usd=_ZERO,
        lock_reason=lock,
        session_close_at=None,
    )


def trade_risk_usd(
    *, stop_loss_ticks: int | None, size: int, tick_value_usd: Decimal, fee_per_side_usd: Decimal
) -> Decimal | None:
    """What a stop-out of a bracketed entry costs: |stop distance| x tick value x size, plus the
    fees of both sides (``ProposedOrder.max_loss_usd``). None without a protective stop."""
    if stop_loss_ticks is None:
        return None
    return abs(stop_loss_ticks) * tick_value_usd * size + 2 * fee_per_side_usd * size


# --- cross-account rules and protections ---------------------------------------------------------
#
# Rules that look beyond one order on one account: hedging across one trader's accounts, the
# protections that stop a day (after losing trades, a drawdown from the day's high, a loss
# streak), and which change of a limit tightens it. The gate (execution/risk_gate.py) adds their
# violations to `check_order`'s for entries; exits are never blocked by them.


class GuardCode(StrEnum):
    HEDGE_ACROSS_ACCOUNTS = "hedge_across_accounts"
    PROTECTION_STOP = "protection_stop"


def product_family(contract: str) -> str:
    """The product an order trades, for the hedging rule: a micro and its mini are one product
    (MES and ES are both the S&P 500); an unknown contract is its own product."""
    try:
        spec = spec_for(contract)
    except UnknownContract:
        return contract
    mini = spec.symbol[1:]
    return mini if spec.is_micro and mini in _MINIS else spec.symbol


_MINIS = frozenset({"ES", "NQ", "RTY", "YM", "CL", "GC"})


def hedge_violation(
    proposed: ProposedOrder, siblings: Iterable[tuple[str, str, int]]
) -> Violation | None:
    """An entry that would put this account opposite another account of the same trader on the
    same product. `siblings` are the other accounts' open positions as (account name, contract,
    signed size). Working orders are not counted: a breakout's buy and sell stops, copied to
    several accounts, would otherwise refuse each other."""
    family = product_family(proposed.contract)
    direction = 1 if proposed.side == Side.BUY else -1
    for name, contract, net in sorted(siblings):
        if net * direction < 0 and product_family(contract) == family:
            return Violation(
                GuardCode.HEDGE_ACROSS_ACCOUNTS,
                f"hedging across accounts is prohibited: {name} holds {net:+d} {contract}, "
                f"this {'buy' if direction > 0 else 'sell'} would be opposite it on {family}",
            )
    return None


@dataclass(frozen=True, slots=True)
class Protections:
    """Per-account protections (freqtrade's StoplossGuard, MaxDrawdown, CooldownPeriod as a
    day rule). None switches one off.

    - `max_losing_trades`: after this many losing trades in a trading day, stop for the day.
    - `max_drawdown_usd`: stop for the day once the day's P&L (closed trades plus open P&L) is
      this far below its high (the best cumulative P&L of the day's closed trades, at least 0).
    - `loss_streak` + `cooldown`: after this many losing trades in a row, no entries until
      `cooldown` after the last loss (each further loss restarts it; a win ends the streak).
    """

    max_losing_trades: int | None = None
    max_drawdown_usd: Decimal | None = None
    loss_streak: int | None = None
    cooldown: timedelta = timedelta(minutes=30)

    def __post_init__(self) -> None:
        for name in ("max_losing_trades", "loss_streak"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value}")
        if self.max_drawdown_usd is not None and self.max_drawdown_usd <= 0:
            raise ValueError(f"max_drawdown_usd must be > 0 or None, got {self.max_drawdown_usd}")
        if self.cooldown < timedelta(0):
            raise ValueError(f"cooldown must be >= 0, got {self.cooldown}")

    @property
    def any_on(self) -> bool:
        return any(
            v is not None for v in (self.max_losing_trades, self.max_drawdown_usd, self.loss_streak)
        )


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """One closed trade of the day: when it closed and its net result (P&L after fees)."""

    closed_at: datetime
    net_pnl_usd: Decimal


@dataclass(frozen=True, slots=True)
class ProtectionStop:
    """Which protection stopped new entries, why, and until when."""

    protection: str  # losing_trades | max_drawdown | loss_streak
    message: str
    until: datetime

    def violation(self) -> Violation:
        return Violation(
            GuardCode.PROTECTION_STOP,
            f"{self.protection}: {self.message}; no new entries until {self.until.isoformat()}",
        )


def protection_stop(
    protections: Protections,
    trades: Sequence[ClosedTrade],
    open_pnl_usd: Decimal,
    now: datetime,
    day_ends_at: datetime,
) -> ProtectionStop | None:
    """The first protection that stops entries at `now`, or None. `trades` are the trading
    day's closed trades in order; `day_ends_at` is when the trading day rolls."""
    if now.tzinfo is None:
        raise NaiveDatetime(f"{now.isoformat()} has no time zone; pass an aware datetime")
    losses = sum(1 for t in trades if t.net_pnl_usd < 0)
    limit = protections.max_losing_trades
    if limit is not None and losses >= limit:
        return ProtectionStop(
            "losing_trades", f"{losses} losing trades today (limit {limit})", day_ends_at
        )
    stop = _drawdown_stop(protections.max_drawdown_usd, trades, open_pnl_usd, day_ends_at)
    if stop is not None:
        return stop
    return _streak_stop(protections, trades, now)


def _drawdown_stop(
    limit: Decimal | None, trades: Sequence[ClosedTrade], open_pnl: Decimal, day_ends_at: datetime
) -> ProtectionStop | None:
    if limit is None:
        return None
    high = running = _ZERO
    for trade in trades:
        running += trade.net_pnl_usd
        high = max(high, running)
    drawdown = high - (running + open_pnl)
    if drawdown < limit:
        return None
    return ProtectionStop(
        "max_drawdown",
        f"day P&L {running + open_pnl} is {drawdown} below the day's high {high} (limit {limit})",
        day_ends_at,
    )


def _streak_stop(
    protections: Protections, trades: Sequence[ClosedTrade], now: datetime
) -> ProtectionStop | None:
    need = protections.loss_streak
    if need is None:
        return None
    streak = 0
    for trade in reversed(trades):
        if trade.net_pnl_usd >= 0:
            break
        streak += 1
    if streak < need:
        return None
    until = trades[-1].closed_at + protections.cooldown
    if now >= until:
        return None
    return ProtectionStop("loss_streak", f"{streak} losing trades in a row (limit {need})", until)


# Which way each limit tightens: "lower" (a smaller number is stricter; None = no limit, the
# loosest), "higher", "earlier" (a time), "on" (True is stricter) or an ordered tuple of choices,
# loosest first. One table, so a new limit is one row.
TIGHTER_WHEN: dict[str, str | tuple[str, ...]] = {
    "is_daily_loss_enforced": "on",
    "daily_loss_limit_usd": "lower",
    "daily_loss_action": tuple(action.value for action in DailyLossAction),  # alert is loosest
    "is_consistency_guarded": "on",
    "max_loss_limit_usd": "lower",
    "mll_mode": (MllMode.END_OF_DAY.value, MllMode.INTRADAY.value),
    "mll_lock_balance_usd": "higher",
    "max_contracts": "lower",
    "micro_ratio": "lower",  # micros count 1/ratio of a mini: a smaller ratio counts them more
    "flat_by_et": "earlier",
    "warning_share": "lower",
    "max_losing_trades": "lower",
    "max_drawdown_usd": "lower",
    "loss_streak": "lower",
    "cooldown_minutes": "higher",
}


def loosens(field_name: str, old: object, new: object) -> bool:
    """Whether changing `field_name` from `old` to `new` loosens the limit (an unknown field
    counts as loosening: the cautious reading)."""
    if old == new:
        return False
    way = TIGHTER_WHEN.get(field_name)
    if way is None:
        return True
    if isinstance(way, tuple):
        return way.index(str(new)) < way.index(str(old))
    if way == "on":
        return not new
    if way == "lower":
        return new is None or (old is not None and new > old)  # type: ignore[operator]
    if way == "higher":
        return new is None or (old is not None and new < old)  # type: ignore[operator]
    return new > old  # type: ignore[operator]  # "earlier"
