"""The simulator's records and wire enums: the orders, positions, trades, accounts and quotes the
engine keeps (stored as dicts in the SQLite store), its configuration, and its business errors.
Codes follow the ProjectX enums (projectx-gateway.md §2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

# OrderStatus (7 PendingCancellation is never needed: cancels take effect at once)
OPEN, FILLED, CANCELLED, EXPIRED, REJECTED, PENDING, SUSPENDED = 1, 2, 3, 4, 5, 6, 8
# OrderType
LIMIT, MARKET, STOP_LIMIT, STOP, TRAILING, JOIN_BID, JOIN_ASK = 1, 2, 3, 4, 5, 6, 7
BUY, SELL = 0, 1
WORKING = (OPEN, PENDING)
MAX_BRACKET_TICKS = 1000
BRACKET_MODES = ("auto_oco", "position")
US = 1_000_000
DEMO_USER = ("demo", "demo-api-key")
CONTROL_AUTH_HEADER = "X-Simulator-Secret"


class GatewayError(Exception):
    """A business failure: HTTP 200 with success=false and this endpoint's errorCode."""

    def __init__(self, code: int, message: str, payload: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.payload = payload  # fields the failed envelope still carries (e.g. an orderId)


class NotAuthenticated(Exception):
    """Missing, invalid, revoked or expired token: HTTP 401."""


@dataclass
class SimConfig:
    """Everything that shapes a simulator run (the CLI and the test harness build one)."""

    store_path: str = ":memory:"
    data: dict[str, str] = field(default_factory=dict)  # root (EP) -> CSV path
    replay_mode: str = "shifted"  # shifted | calendar
    replay_from: datetime | None = None  # shifted: first file bar to replay
    start: datetime | None = None  # the clock's start (default: now / file start)
    speed: float | None = 1.0  # None = stepped; 1 = real time; N = accelerated xN
    seed: int = 7
    market: str = "continuous"  # continuous: 24/7 walk (tests) | sessions: the demo's (no data)
    history_minutes: int = 2 * 1440  # continuous walk and shifted replays
    history_sessions: int = 90  # session market: trading dates of history before the clock
    users: list[tuple[str, str]] = field(default_factory=lambda: [DEMO_USER])
    starting_balance: Decimal = Decimal("50000")
    token_ttl_seconds: int = 24 * 3600
    bars_rate: tuple[int, int] = (50, 30)  # retrieveBars: requests per seconds
    general_rate: tuple[int, int] = (200, 60)
    bracket_ticks: str = "signed"  # signed | magnitude
    # History/retrieveBars answers at most this many bars, whatever `limit` asks (the gateway: 20,000).
    bars_cap: int = 20_000
    # New accounts' TopstepX bracket setting: "auto_oco" takes stopLossBracket/takeProfitBracket;
    # "position" refuses them with errorCode 2 (and, if `bracket_refusal_places_entry`, the
    # refusal carries the orderId of the entry it placed without brackets, as reported).
    bracket_mode: str = "auto_oco"
    bracket_refusal_places_entry: bool = False
    # Market switches (SimServer.set_market): the roll date override, a feed freeze from the
    # start (seconds, and the contracts frozen: empty = all) and partial quote updates.
    roll_on: date | None = None
    freeze_market_seconds: float = 0
    freeze_contracts: list[str] = field(default_factory=list)
    partial_quotes: bool = False
    # The control API (/_sim): with a secret, only requests carrying it (CONTROL_AUTH_HEADER);
    # without one, only loopback callers and only when `control_on_loopback` (development).
    control_secret: str | None = None
    control_on_loopback: bool = False


def _dec(value: Decimal | str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


@dataclass
class Order:
    id: int
    account_id: int
    contract_id: str
    type: int
    side: int
    size: int
    status: int
    created_us: int
    updated_us: int
    eligible_from: int  # first bar open time (epoch s) this order may match against
    limit_ticks: int | None = None
    stop_ticks: int | None = None
    trail_ticks: int | None = None
    custom_tag: str | None = None
    fill_volume: int = 0
    filled_ticks: int | None = None
    parent_id: int | None = None
    linked_id: int | None = None
    role: str | None = None  # "sl" / "tp" for bracket children
    bracket_offset: int | None = None  # child: signed ticks from the entry fill
    bracket_type: int | None = None


@dataclass
class Position:
    id: int
    account_id: int
    contract_id: str
    created_us: int
    lots: list[list[int]]  # FIFO [[price_ticks, signed_qty], ...]; all the same sign

    @property
    def net(self) -> int:
        return sum(q for _, q in self.lots)


@dataclass
class Trade:
    id: int
    account_id: int
    contract_id: str
    created_us: int
    price_ticks: int
    pnl: str | None
    fees: str
    side: int
    size: int
    order_id: int
    voided: bool = False


@dataclass
class Account:
    id: int
    user: str
    name: str
    balance: str
    can_trade: bool = True
    is_visible: bool = True
    simulated: bool = True
    bracket_mode: str = "auto_oco"  # see SimConfig.bracket_mode
    bracket_refusal_places_entry: bool = False


@dataclass
class Quote:
    last: int | None = None
    bid: int | None = None
    ask: int | None = None
    session: str | None = None
    open: int | None = None
    high: int | None = None
    low: int | None = None
    volume: int = 0
    prev_close: int | None = None
    updated_us: int = 0


def _ts(us: int) -> datetime:
    return datetime.fromtimestamp(us / US, UTC).replace(microsecond=us % US)


def _point_volumes(v: int) -> list[int]:
    base = v // 4
    return [base, base, base, v - 3 * base]
