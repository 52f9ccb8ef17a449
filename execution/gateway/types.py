"""Enums, typed objects and wire (de)serialisation for the ProjectX Gateway API.

Parsing is lenient about what the gateway adds over time (unknown fields ignored, `null` lists are
empty, `filledSize` is an alias of `fillVolume`, any ISO-8601 timestamp) and strict about what we
rely on: a missing or mistyped required field raises `MalformedResponse` naming the field.
Prices are `Decimal` end to end: responses are decoded with `parse_float=Decimal` and requests are
encoded with the decimal's exact digits, never through a float.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import IntEnum
from typing import Any, TypeVar

from execution.gateway.errors import InvalidRequest, MalformedResponse

# ---------------------------------------------------------------------------------------- enums


class OrderSide(IntEnum):
    BID = 0  # buy
    ASK = 1  # sell


class OrderType(IntEnum):
    UNKNOWN = 0
    LIMIT = 1
    MARKET = 2
    STOP_LIMIT = 3  # response-only; Order/place does not accept it
    STOP = 4
    TRAILING_STOP = 5
    JOIN_BID = 6
    JOIN_ASK = 7


class OrderStatus(IntEnum):
    NONE = 0
    OPEN = 1
    FILLED = 2
    CANCELLED = 3
    EXPIRED = 4
    REJECTED = 5
    PENDING = 6
    PENDING_CANCELLATION = 7
    SUSPENDED = 8  # bracket child waiting for its entry to fill


WORKING_STATUSES = frozenset(
    {OrderStatus.OPEN, OrderStatus.PENDING, OrderStatus.PENDING_CANCELLATION, OrderStatus.SUSPENDED}
)
TERMINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REJECTED}
)


class PositionType(IntEnum):
    UNDEFINED = 0
    LONG = 1
    SHORT = 2


class BarUnit(IntEnum):
    UNSPECIFIED = 0
    SECOND = 1
    MINUTE = 2
    HOUR = 3
    DAY = 4
    WEEK = 5
    MONTH = 6
    TICK = 7


class DomType(IntEnum):
    UNKNOWN = 0
    ASK = 1
    BID = 2
    BEST_ASK = 3
    BEST_BID = 4
    TRADE = 5
    RESET = 6  # clear the book
    LOW = 7
    HIGH = 8
    NEW_BEST_BID = 9
    NEW_BEST_ASK = 10
    FILL = 11


class TradeLogType(IntEnum):
    BUY = 0  # aggressor bought
    SELL = 1


# ------------------------------------------------------------------------------- wire helpers


def decode_json(text: str | bytes) -> Any:
    """Decode a gateway body; JSON numbers with a fraction become Decimal, never float."""
    try:
        return json.loads(text, parse_float=Decimal)
    except (ValueError, TypeError) as exc:
        raise MalformedResponse(f"response is not JSON: {exc}") from exc


_DECIMAL_MARK = re.compile(r'"\\u0000dec:([0-9a-f]{16}):(-?[0-9]+(?:\.[0-9]+)?)"')


def encode_json(body: Mapping[str, Any]) -> bytes:
    """Encode a request body, writing each Decimal as its exact digits (4500.25, not a float).

    The stdlib encoder cannot emit a Decimal as a number, and going through float would break the
    "no floats for prices" rule, so decimals are swapped for a marker string carrying a per-call
    nonce and then replaced by their plain digits in the encoded text.
    """
    nonce = secrets.token_hex(8)

    def mark(value: Any) -> Any:
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise InvalidRequest(f"not a finite number: {value}")
            return f"\u0000dec:{nonce}:{format(value, 'f')}"
        if isinstance(value, Mapping):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [mark(v) for v in value]
        if isinstance(value, float):
            raise InvalidRequest("floats are not allowed in gateway requests; use Decimal")
        return value

    text = json.dumps(mark(body), separators=(",", ":"))

    def unmark(match: re.Match[str]) -> str:
        return match.group(2) if match.group(1) == nonce else match.group(0)

    return _DECIMAL_MARK.sub(unmark, text).encode()


def format_timestamp(at: datetime) -> str:
    """ISO-8601 UTC with a Z, as the docs' examples send it; naive datetimes are refused."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidRequest(f"naive datetime {at!r}; the gateway needs an aware time")
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_timestamp(value: str) -> datetime:
    """Any ISO-8601 form the gateway sends (Z, offsets, 7-digit .NET fractions) -> aware UTC.

    A timestamp without an offset is taken as UTC: the gateway's clock is UTC.
    """
    text = value.strip()
    # .NET renders up to 7 fractional digits; Python parses at most 6.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not an ISO-8601 timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


_MISSING = object()
E = TypeVar("E", bound=IntEnum)


class _Fields:
    """Typed access to one JSON object with errors that name the object and the field."""

    def __init__(self, payload: Any, what: str) -> None:
        if not isinstance(payload, Mapping):
            raise MalformedResponse(f"{what}: expected an object, got {type(payload).__name__}")
        self.payload = payload
        self.what = what

    def _get(self, *names: str, required: bool) -> Any:
        for name in names:
            value = self.payload.get(name, _MISSING)
            if value is not _MISSING and value is not None:
                return value
        if required:
            raise MalformedResponse(f"{self.what}: missing required field {names[0]!r}")
        return None

    def _bad(self, name: str, value: Any, expected: str) -> MalformedResponse:
        return MalformedResponse(f"{self.what}: field {name!r} = {value!r} is not {expected}")

    def int(self, *names: str, required: bool = True) -> Any:
        value = self._get(*names, required=required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
            raise self._bad(names[0], value, "an integer")
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise self._bad(names[0], value, "an integer") from None
        if number != number.to_integral_value():
            raise self._bad(names[0], value, "an integer")
        return int(number)

    def decimal(self, *names: str, required: bool = True) -> Any:
        value = self._get(*names, required=required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
            raise self._bad(names[0], value, "a number")
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise self._bad(names[0], value, "a number") from None
        if not number.is_finite():
            raise self._bad(names[0], value, "a finite number")
        return number

    def str(self, *names: str, required: bool = True) -> Any:
        value = self._get(*names, required=required)
        if value is None:
            return None
        if not isinstance(value, str):
            # ids sometimes arrive as numbers in community payloads; keep them as text
            if isinstance(value, int) and not isinstance(value, bool):
                return str(value)
            raise self._bad(names[0], value, "a string")
        return value

    def bool(self, *names: str, required: bool = True) -> Any:
        value = self._get(*names, required=required)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self._bad(names[0], value, "a boolean")
        return value

    def timestamp(self, *names: str, required: bool = True) -> Any:
        value = self._get(*names, required=required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self._bad(names[0], value, "an ISO-8601 timestamp")
        try:
            return parse_timestamp(value)
        except ValueError:
            raise self._bad(names[0], value, "an ISO-8601 timestamp") from None

    def enum(self, enum: type[E], *names: str, required: bool = True) -> Any:
        value = self.int(*names, required=required)
        if value is None:
            return None
        try:
            return enum(value)
        except ValueError:
            raise self._bad(names[0], value, f"a known {enum.__name__}") from None


T = TypeVar("T")


def parse_list(
    payload: Mapping[str, Any], key: str, parse: Callable[[Any], T], what: str
) -> list[T]:
    """A list field of an envelope; missing or `null` means empty (§2), other types are errors."""
    value = payload.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedResponse(f"{what}: field {key!r} is not a list")
    return [parse(item) for item in value if item is not None]


# ----------------------------------------------------------------------------- response types


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    balance_usd: Decimal
    can_trade: bool
    is_visible: bool
    simulated: bool

    @classmethod
    def from_json(cls, payload: Any) -> Account:
        f = _Fields(payload, "Account")
        return cls(
            id=f.int("id"),
            name=f.str("name"),
            balance_usd=f.decimal("balance"),
            can_trade=f.bool("canTrade", required=False) or False,
            is_visible=f.bool("isVisible", required=False) or False,
            simulated=f.bool("simulated", required=False) or False,
        )


@dataclass(frozen=True)
class Contract:
    id: str
    name: str
    description: str
    tick_size: Decimal
    tick_value_usd: Decimal
    active_contract: bool
    symbol_id: str | None

    @classmethod
    def from_json(cls, payload: Any) -> Contract:
        f = _Fields(payload, "Contract")
        tick_size = f.decimal("tickSize")
        if tick_size <= 0:
            raise MalformedResponse(f"Contract: field 'tickSize' = {tick_size} is not positive")
        return cls(
            id=f.str("id"),
            name=f.str("name"),
            description=f.str("description", required=False) or "",
            tick_size=tick_size,
            tick_value_usd=f.decimal("tickValue"),
            active_contract=f.bool("activeContract", required=False) or False,
            symbol_id=f.str("symbolId", required=False),
        )


@dataclass(frozen=True)
class Bar:
    """One bar; `opened_at` is the bar's open time (UTC)."""

    opened_at: datetime
    open_price: Decimal
    high_price: Decimal
    low_price: Decimal
    close_price: Decimal
    volume: int

    @classmethod
    def from_json(cls, payload: Any) -> Bar:
        f = _Fields(payload, "Bar")
        return cls(
            opened_at=f.timestamp("t"),
            open_price=f.decimal("o"),
            high_price=f.decimal("h"),
            low_price=f.decimal("l"),
            close_price=f.decimal("c"),
            volume=f.int("v", required=False) or 0,
        )


@dataclass(frozen=True)
class Order:
    id: int
    account_id: int
    contract_id: str
    created_at: datetime
    status: OrderStatus
    type: OrderType
    side: OrderSide
    size: int
    symbol_id: str | None = None
    updated_at: datetime | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    fill_volume: int = 0
    filled_price: Decimal | None = None
    custom_tag: str | None = None
    trail_price: Decimal | None = None
    trail_distance_ticks: int | None = None
    parent_order_id: int | None = None
    linked_order_id: int | None = None

    @property
    def is_working(self) -> bool:
        return self.status in WORKING_STATUSES

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def is_filled(self) -> bool:
        """A fill is status 2 with fillVolume > 0 and filledPrice set (§3)."""
        return (
            self.status == OrderStatus.FILLED
            and self.fill_volume > 0
            and self.filled_price is not None
        )

    @classmethod
    def from_json(cls, payload: Any) -> Order:
        f = _Fields(payload, "Order")
        size = f.int("size")
        if size < 0:
            raise MalformedResponse(f"Order: field 'size' = {size} is negative")
        return cls(
            id=f.int("id"),
            account_id=f.int("accountId"),
            contract_id=f.str("contractId"),
            created_at=f.timestamp("creationTimestamp"),
            status=f.enum(OrderStatus, "status"),
            type=f.enum(OrderType, "type"),
            side=f.enum(OrderSide, "side"),
            size=size,
            symbol_id=f.str("symbolId", required=False),
            updated_at=f.timestamp("updateTimestamp", required=False),
            limit_price=f.decimal("limitPrice", required=False),
            stop_price=f.decimal("stopPrice", required=False),
            fill_volume=f.int("fillVolume", "filledSize", required=False) or 0,
            filled_price=f.decimal("filledPrice", required=False),
            custom_tag=f.str("customTag", required=False),
            trail_price=f.decimal("trailPrice", required=False),
            trail_distance_ticks=f.int("trailDistance", required=False),
            parent_order_id=f.int("parentOrderId", required=False),
            linked_order_id=f.int("linkedOrderId", required=False),
        )


@dataclass(frozen=True)
class Position:
    """One net position per contract; `size` is always >= 0 (0 on the hub = the position closed)."""

    id: int
    account_id: int
    contract_id: str
    created_at: datetime
    type: PositionType
    size: int
    average_price: Decimal
    contract_display_name: str | None = None

    @property
    def is_closed(self) -> bool:
        return self.size == 0

    @property
    def signed_size(self) -> int:
        """Contracts held: positive long, negative short."""
        return -self.size if self.type == PositionType.SHORT else self.size

    @classmethod
    def from_json(cls, payload: Any) -> Position:
        f = _Fields(payload, "Position")
        size = f.int("size")
        if size < 0:
            raise MalformedResponse(f"Position: field 'size' = {size} is negative")
        return cls(
            id=f.int("id"),
            account_id=f.int("accountId"),
            contract_id=f.str("contractId"),
            created_at=f.timestamp("creationTimestamp"),
            type=f.enum(PositionType, "type"),
            size=size,
            average_price=f.decimal("averagePrice", required=size > 0) or Decimal(0),
            contract_display_name=f.str("contractDisplayName", required=False),
        )


@dataclass(frozen=True)
class HalfTrade:
    """One fill (a half-turn). The opening half has no P&L; the closing half carries the realised
    gross P&L. `fees_usd` is per half-turn. Voided trades are to be skipped by consumers."""

    id: int
    account_id: int
    contract_id: str
    created_at: datetime
    price: Decimal
    profit_and_loss_usd: Decimal | None
    fees_usd: Decimal
    side: OrderSide
    size: int
    voided: bool
    order_id: int
    commissions_usd: Decimal | None = None

    @classmethod
    def from_json(cls, payload: Any) -> HalfTrade:
        f = _Fields(payload, "HalfTrade")
        return cls(
            id=f.int("id"),
            account_id=f.int("accountId"),
            contract_id=f.str("contractId"),
            created_at=f.timestamp("creationTimestamp"),
            price=f.decimal("price"),
            profit_and_loss_usd=f.decimal("profitAndLoss", required=False),
            fees_usd=f.decimal("fees", required=False) or Decimal(0),
            side=f.enum(OrderSide, "side"),
            size=f.int("size"),
            voided=f.bool("voided", required=False) or False,
            order_id=f.int("orderId"),
            commissions_usd=f.decimal("commissions", required=False),
        )


# ------------------------------------------------------------------------ market-hub payloads


@dataclass(frozen=True)
class Quote:
    """A (possibly partial) quote update: every price field is optional (§6.3)."""

    contract_id: str
    symbol_id: str | None = None
    symbol_name: str | None = None
    last_price: Decimal | None = None
    best_bid: Decimal | None = None
    best_ask: Decimal | None = None
    change: Decimal | None = None
    change_percent: Decimal | None = None
    open_price: Decimal | None = None
    high_price: Decimal | None = None
    low_price: Decimal | None = None
    volume: int | None = None
    last_updated_at: datetime | None = None
    at: datetime | None = None

    @classmethod
    def from_json(cls, contract_id: str, payload: Any) -> Quote:
        f = _Fields(payload, "GatewayQuote")
        return cls(
            contract_id=contract_id,
            symbol_id=f.str("symbol", "symbolId", required=False),
            symbol_name=f.str("symbolName", required=False),
            last_price=f.decimal("lastPrice", required=False),
            best_bid=f.decimal("bestBid", required=False),
            best_ask=f.decimal("bestAsk", required=False),
            change=f.decimal("change", required=False),
            change_percent=f.decimal("changePercent", required=False),
            open_price=f.decimal("open", required=False),
            high_price=f.decimal("high", required=False),
            low_price=f.decimal("low", required=False),
            volume=f.int("volume", required=False),
            last_updated_at=f.timestamp("lastUpdated", required=False),
            at=f.timestamp("timestamp", required=False),
        )


@dataclass(frozen=True)
class MarketTrade:
    """A trade printed on the exchange (market hub), `side` = the aggressor."""

    contract_id: str
    price: Decimal
    volume: int
    at: datetime
    side: TradeLogType | None
    symbol_id: str | None = None

    @classmethod
    def from_json(cls, contract_id: str, payload: Any) -> MarketTrade:
        f = _Fields(payload, "GatewayTrade")
        return cls(
            contract_id=contract_id,
            price=f.decimal("price"),
            volume=f.int("volume", required=False) or 0,
            at=f.timestamp("timestamp"),
            side=f.enum(TradeLogType, "type", required=False),
            symbol_id=f.str("symbolId", required=False),
        )


@dataclass(frozen=True)
class DepthEntry:
    """One depth-of-market update; `type == DomType.RESET` means clear the book."""

    contract_id: str
    type: DomType
    price: Decimal | None
    volume: int
    current_volume: int | None
    at: datetime | None
    index: int | None = None

    @classmethod
    def from_json(cls, contract_id: str, payload: Any) -> DepthEntry:
        f = _Fields(payload, "GatewayDepth")
        kind = f.enum(DomType, "type")
        return cls(
            contract_id=contract_id,
            type=kind,
            price=f.decimal("price", required=kind != DomType.RESET),
            volume=f.int("volume", required=False) or 0,
            current_volume=f.int("currentVolume", required=False),
            at=f.timestamp("timestamp", required=False),
            index=f.int("index", required=False),
        )


# ------------------------------------------------------------------------------ request types

MAX_BRACKET_TICKS = 1000  # one bot reports |ticks| <= 1000 (§3); refuse beyond it


@dataclass(frozen=True)
class Bracket:
    """An attached protective order `ticks` away from the entry fill. `ticks` is the DISTANCE
    (positive); the request signs it by side when it is sent (see `PlaceOrderRequest.to_json`)."""

    ticks: int
    type: OrderType

    def __post_init__(self) -> None:
        if isinstance(self.ticks, bool) or not isinstance(self.ticks, int):
            raise InvalidRequest(f"bracket ticks must be an int, got {self.ticks!r}")
        if not 1 <= self.ticks <= MAX_BRACKET_TICKS:
            raise InvalidRequest(
                f"bracket distance must be 1..{MAX_BRACKET_TICKS} ticks, got {self.ticks}"
            )
        if self.type not in _PLACEABLE_TYPES:
            raise InvalidRequest(f"bracket type {self.type!r} cannot be placed")


_PLACEABLE_TYPES = frozenset(
    {
        OrderType.LIMIT,
        OrderType.MARKET,
        OrderType.STOP,
        OrderType.TRAILING_STOP,
        OrderType.JOIN_BID,
        OrderType.JOIN_ASK,
    }
)
# Which price each placeable type needs; every other price must be absent.
_PRICE_FOR_TYPE: dict[OrderType, str | None] = {
    OrderType.LIMIT: "limit_price",
    OrderType.MARKET: None,
    OrderType.STOP: "stop_price",
    OrderType.TRAILING_STOP: "trail_price",
    OrderType.JOIN_BID: None,
    OrderType.JOIN_ASK: None,
}
_PRICE_FIELDS = ("limit_price", "stop_price", "trail_price")


def _check_price(name: str, value: Any) -> None:
    if not isinstance(value, Decimal):
        raise InvalidRequest(f"{name} must be a Decimal, got {type(value).__name__}")
    if not value.is_finite() or value <= 0:
        raise InvalidRequest(f"{name} must be a positive finite price, got {value}")


def _check_size(size: Any) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise InvalidRequest(f"size must be a positive int, got {size!r}")


def new_custom_tag() -> str:
    """A fresh idempotency key (customTag must be unique within the account)."""
    return f"px-{secrets.token_hex(12)}"


@dataclass(frozen=True)
class PlaceOrderRequest:
    """A validated `Order/place` body.

    `custom_tag` is the idempotency key: it must be unique within the account, and the client uses
    it to find the order after a failure in transit. Leave it None to have one generated.
    """

    account_id: int
    contract_id: str
    type: OrderType
    side: OrderSide
    size: int
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None
    custom_tag: str | None = None
    stop_loss: Bracket | None = None
    take_profit: Bracket | None = None

    def __post_init__(self) -> None:
        _check_size(self.size)
        if not isinstance(self.type, OrderType) or self.type not in _PLACEABLE_TYPES:
            raise InvalidRequest(f"order type {self.type!r} cannot be placed")
        if not isinstance(self.side, OrderSide):
            raise InvalidRequest(f"side must be an OrderSide, got {self.side!r}")
        if not self.contract_id:
            raise InvalidRequest("contract_id is required")
        needed = _PRICE_FOR_TYPE[self.type]
        for name in _PRICE_FIELDS:
            value = getattr(self, name)
            if name == needed:
                if value is None:
                    raise InvalidRequest(f"a {self.type.name} order needs {name}")
                _check_price(name, value)
            elif value is not None:
                raise InvalidRequest(f"a {self.type.name} order takes no {name}")
        if self.custom_tag is not None and not (0 < len(self.custom_tag) <= 100):
            raise InvalidRequest("custom_tag must be 1..100 characters")

    def with_custom_tag(self, custom_tag: str) -> PlaceOrderRequest:
        return PlaceOrderRequest(**{**self.__dict__, "custom_tag": custom_tag})

    def signed_bracket_ticks(self, bracket: Bracket, *, is_stop_loss: bool) -> int:
        """Signed price offset the live gateway requires ("Ticks should be less than zero when
        longing"): long SL negative / TP positive; short SL positive / TP negative."""
        below_entry = is_stop_loss == (self.side == OrderSide.BID)
        return -bracket.ticks if below_entry else bracket.ticks

    def to_json(self, *, signed_bracket_ticks: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "accountId": self.account_id,
            "contractId": self.contract_id,
            "type": int(self.type),
            "side": int(self.side),
            "size": self.size,
        }
        for name, key in zip(_PRICE_FIELDS, ("limitPrice", "stopPrice", "trailPrice"), strict=True):
            if getattr(self, name) is not None:
                body[key] = getattr(self, name)
        if self.custom_tag is not None:
            body["customTag"] = self.custom_tag
        for bracket, key, is_sl in (
            (self.stop_loss, "stopLossBracket", True),
            (self.take_profit, "takeProfitBracket", False),
        ):
            if bracket is not None:
                ticks = (
                    self.signed_bracket_ticks(bracket, is_stop_loss=is_sl)
                    if signed_bracket_ticks
                    else bracket.ticks
                )
                body[key] = {"ticks": ticks, "type": int(bracket.type)}
        return body


@dataclass(frozen=True)
class ModifyOrderRequest:
    """A validated `Order/modify` body: at least one of size / limit / stop / trail."""

    account_id: int
    order_id: int
    size: int | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None

    def __post_init__(self) -> None:
        if self.size is not None:
            _check_size(self.size)
        for name in _PRICE_FIELDS:
            if getattr(self, name) is not None:
                _check_price(name, getattr(self, name))
        if all(getattr(self, n) is None for n in ("size", *_PRICE_FIELDS)):
            raise InvalidRequest("a modify must change size or a limit, stop or trail price")

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"accountId": self.account_id, "orderId": self.order_id}
        for name, key in (
            ("size", "size"),
            ("limit_price", "limitPrice"),
            ("stop_price", "stopPrice"),
            ("trail_price", "trailPrice"),
        ):
            if getattr(self, name) is not None:
                body[key] = getattr(self, name)
        return body

    def is_applied_to(self, order: Order) -> bool:
        """True when `order` already shows every requested change (used to reconcile a modify
        whose response was lost)."""
        return all(
            getattr(self, name) is None or getattr(self, name) == getattr(order, name)
            for name in ("size", *_PRICE_FIELDS)
        )


@dataclass(frozen=True)
class PlacedOrder:
    """The outcome of a place: the broker's order id and the customTag it carries.

    `recovered` is True when the place response was lost and the order was found by its tag.
    """

    order_id: int
    custom_tag: str
    recovered: bool = False
