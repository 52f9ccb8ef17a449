"""The simulated gateway: one `Engine` that holds the state (users, accounts, orders, positions,
trades, quotes, the clock) and answers the REST requests, wired from one mixin per idea:

* `simulator.clock.Clock`: the clock and the order of events (bars, their points, quotes);
* `simulator.logins.Logins`: users and session tokens;
* `simulator.history.MarketHistory`: the series, contracts, trading hours and bar history;
* `simulator.matching.Matching`: matching, fills, brackets, positions and P&L (the fill rules).

Everything here is synchronous and single-threaded (the server's event loop owns the engine), and
every change is written through to the SQLite store in one transaction per operation.

Order requests
--------------
* Bracket ticks are signed price offsets, as the live gateway requires: long entry -> stop-loss
  ticks < 0 and take-profit ticks > 0; short entry -> the opposite. With `bracket_ticks="signed"`
  (default) a wrong sign is rejected with errorCode 2 and the live gateway's message; with
  `"magnitude"` the sign is ignored and |ticks| is applied on the protective/profit side (what
  the docs' example and the SDKs send).
* JoinBid/JoinAsk become limit orders at the best bid/ask when placed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from markets import fills
from markets.ticks import ContractSpec, OffTick
from simulator.clock import Clock, shared_point_offsets
from simulator.history import MarketHistory
from simulator.logins import Logins
from simulator.market import parse_contract_id, root_of, spec_for_root
from simulator.matching import Matching
from simulator.records import (
    BRACKET_MODES,
    BUY,
    JOIN_ASK,
    JOIN_BID,
    LIMIT,
    MARKET,
    MAX_BRACKET_TICKS,
    OPEN,
    SELL,
    STOP,
    STOP_LIMIT,
    SUSPENDED,
    TRAILING,
    US,
    WORKING,
    Account,
    GatewayError,
    Order,
    Position,
    Quote,
    SimConfig,
    Trade,
    _ts,
)
from simulator.store import Store

__all__ = ["Engine"]


Event = tuple[str, Any, str, Any]  # (channel, key, target, payload)


class Engine(Logins, MarketHistory, Clock, Matching):
    """The simulated gateway's state and request handling (see the module docstrings)."""

    def __init__(self, config: SimConfig, store: Store | None = None) -> None:
        self.config = config
        self.store = store or Store(config.store_path)
        self.events: list[Event] = []
        self.on_events: Callable[[list[Event]], None] | None = None
        meta = self.store.get("meta", "state") or {}
        self.secret = bytes.fromhex(meta.get("secret") or secrets.token_hex(32))
        self.next_ids: dict[str, int] = meta.get(
            "ids", {"account": 10_001, "order": 700_001, "trade": 900_001, "position": 500_001}
        )
        self.tokens_not_before: int = meta.get("tokens_not_before", 0)
        self.users: dict[str, dict[str, Any]] = {u["name"]: u for u in self.store.all("users")}
        self.accounts = {a["id"]: Account(**a) for a in self.store.all("accounts")}
        self.orders = {o["id"]: Order(**o) for o in self.store.all("orders")}
        self.positions = {
            (p["account_id"], p["contract_id"]): Position(**p) for p in self.store.all("positions")
        }
        self.trades = {t["id"]: Trade(**t) for t in self.store.all("trades")}
        self.revoked = {s["jti"] for s in self.store.all("sessions")}
        clock = meta.get("clock")
        self.series = self._build_series(clock)
        self.point_offsets = shared_point_offsets(self.series)
        self.catching_up = False  # the bar being played prints only its 4 coarse points
        self.quotes = {root: Quote(**q) for root, q in meta.get("quotes", {}).items()}
        if clock:
            self.now_us, self.cur_t, self.emitted = (
                clock["now_us"],
                clock["cur_t"],
                clock["emitted"],
            )
        else:
            self.now_us, self.cur_t, self.emitted = self._start_us(), None, 0
        for root, series in self.series.items():
            if root not in self.quotes:
                self.quotes[root] = self._initial_quote(series)
        with self.store.batch():
            for name, api_key in config.users:
                self.add_user(name, api_key)
            self._save_meta()
        self.events.clear()

    # -- set-up ---------------------------------------------------------------------------------
    def add_account(self, user: str, balance: Decimal, name: str | None = None) -> Account:
        if user not in self.users:
            raise ValueError(f"unknown simulated user {user!r}")
        account_id = self._next_id("account")
        account = Account(
            account_id,
            user,
            name or f"PRAC-V2-{user}-{account_id}",
            str(balance),
            bracket_mode=self.config.bracket_mode,
            bracket_refusal_places_entry=self.config.bracket_refusal_places_entry,
        )
        with self.store.batch():
            self.accounts[account_id] = account
            self._save_account(account)
            self._save_meta()
        return account

    def account_set_bracket_mode(
        self, account_id: int, mode: str, *, refusal_places_entry: bool = False
    ) -> Account:
        """Switch: the account's TopstepX bracket setting (see SimConfig.bracket_mode)."""
        if mode not in BRACKET_MODES:
            raise ValueError(f"bracket mode must be one of {BRACKET_MODES}, got {mode!r}")
        account = self.accounts.get(account_id)
        if account is None:
            raise ValueError(f"unknown account {account_id}")
        account.bracket_mode = mode
        account.bracket_refusal_places_entry = bool(refusal_places_entry)
        self._save_account(account)
        return account

    def _next_id(self, kind: str) -> int:
        value = self.next_ids[kind]
        self.next_ids[kind] = value + 1
        return value

    # -- persistence ------------------------------------------------------------------------------
    def _save_meta(self) -> None:
        self.store.put(
            "meta",
            "state",
            {
                "secret": self.secret.hex(),
                "ids": self.next_ids,
                "tokens_not_before": self.tokens_not_before,
                "clock": {
                    "now_us": self.now_us,
                    "cur_t": self.cur_t,
                    "emitted": self.emitted,
                    "origin": self.origin,
                    "market": self._market_key,
                },
                "quotes": {root: asdict(q) for root, q in self.quotes.items()},
            },
        )

    def _save_order(self, order: Order) -> None:
        self.store.put("orders", order.id, asdict(order))

    def _save_account(self, account: Account) -> None:
        self.store.put("accounts", account.id, asdict(account))

    def _save_position(self, pos: Position) -> None:
        self.store.put("positions", f"{pos.account_id}:{pos.contract_id}", asdict(pos))

    def _flush(self) -> None:
        """Hand the events of one operation to the hubs (or drop them when nobody listens)."""
        batch, self.events = self.events, []
        if batch and self.on_events is not None:
            self.on_events(batch)

    # -- accounts -------------------------------------------------------------------------
    def account_of(self, user: str, account_id: int | None) -> Account:
        account = self.accounts.get(account_id) if isinstance(account_id, int) else None
        if account is None or account.user != user:
            raise GatewayError(1, "Account not found")
        return account

    def account_list(self, user: str, only_active: bool) -> list[dict[str, Any]]:
        rows = [a for a in self.accounts.values() if a.user == user]
        if only_active:
            rows = [a for a in rows if a.can_trade]
        return [self.account_payload(a) for a in sorted(rows, key=lambda a: a.id)]

    @staticmethod
    def account_payload(a: Account) -> dict[str, Any]:
        return {
            "id": a.id,
            "name": a.name,
            "balance": Decimal(a.balance),
            "canTrade": a.can_trade,
            "isVisible": a.is_visible,
            "simulated": a.simulated,
        }

    # -- order API ------------------------------------------------------------------------------------
    def place_order(self, user: str, f: Any) -> int:
        """Order/place. `f` is a wire.Fields. Raises GatewayError with the endpoint's codes."""
        account = self.account_of(user, f.int("accountId", None))
        spec = parse_contract_id(f.str("contractId") or "")
        if spec is None or spec.contract_id not in self.series:
            raise GatewayError(8, "Contract not found")
        contract_id = f.str("contractId").strip().upper()
        root = spec.contract_id
        order_type, side, size = f.int("type", None), f.int("side", None), f.int("size", None)
        if order_type == STOP_LIMIT:  # a type orders report, never one Order/place takes (§2)
            raise GatewayError(2, "Invalid order type 3: StopLimit orders cannot be placed")
        if order_type not in (LIMIT, MARKET, STOP, TRAILING, JOIN_BID, JOIN_ASK):
            raise GatewayError(2, f"Invalid order type {order_type}")
        if side not in (BUY, SELL):
            raise GatewayError(2, f"Invalid order side {side}")
        if size is None or size <= 0:
            raise GatewayError(2, "Invalid order size")
        if not account.can_trade:
            raise GatewayError(4, "The account cannot trade")
        if Decimal(account.balance) <= 0:
            raise GatewayError(3, "Insufficient funds: the account balance is not positive")
        if not self.is_open(root):
            raise GatewayError(5, "Order rejected: the market is outside of trading hours")
        tag = f.str("customTag")
        if tag is not None and any(
            o.account_id == account.id and o.custom_tag == tag for o in self.orders.values()
        ):
            raise GatewayError(
                2,
                f"An order with customTag '{tag}' already exists for this "
                "account; customTag must be unique",
            )
        q = self.quotes[root]
        limit = self._price(f, "limitPrice", spec, rejected_code=2)
        stop = self._price(f, "stopPrice", spec, rejected_code=2)
        trail = None
        if order_type == LIMIT and limit is None:
            raise GatewayError(2, "A limit order requires limitPrice")
        if order_type == STOP and stop is None:
            raise GatewayError(2, "A stop order requires stopPrice")
        if order_type in (JOIN_BID, JOIN_ASK):
            if q.bid is None or q.ask is None:
                raise GatewayError(2, "No quote to join yet")
            limit = q.bid if order_type == JOIN_BID else q.ask
        if order_type == TRAILING:
            stop, trail = self._trailing(f, spec, side, q.last)
        if order_type not in (LIMIT, JOIN_BID, JOIN_ASK):
            limit = None
        if order_type not in (STOP, TRAILING):
            stop = None
        legs = self._bracket_legs(f, side)
        refusal = self._bracket_mode_refusal(account) if legs else None
        if refusal is not None and not account.bracket_refusal_places_entry:
            raise refusal
        if refusal is not None:
            legs = []  # as reported: the entry goes in unprotected, and the answer still fails
        now_s = self.now_us // US
        eligible = (self.cur_t + 1) if (self.cur_t is not None and self.emitted) else now_s
        with self.store.batch():
            order = Order(
                self._next_id("order"),
                account.id,
                contract_id,
                order_type,
                side,
                size,
                OPEN,
                self.now_us,
                self.now_us,
                eligible,
                limit,
                stop,
                trail,
                tag,
            )
            self.orders[order.id] = order
            self._save_order(order)
            self._order_event(order)
            children = []
            for role, ticks, leg_type in legs:
                child = Order(
                    self._next_id("order"),
                    account.id,
                    contract_id,
                    leg_type,
                    1 - side,
                    size,
                    SUSPENDED,
                    self.now_us,
                    self.now_us,
                    eligible,
                    parent_id=order.id,
                    role=role,
                    bracket_offset=ticks,
                    bracket_type=leg_type,
                )
                self.orders[child.id] = child
                children.append(child)
            if len(children) == 2:
                children[0].linked_id, children[1].linked_id = children[1].id, children[0].id
            for child in children:
                self._save_order(child)
                self._order_event(child)
            self._fill_at_once_on_a_wall_clock(order)
            self._save_meta()
        self._flush()
        if refusal is not None:
            refusal.payload = {"orderId": order.id}
            raise refusal
        return order.id

    @staticmethod
    def _bracket_mode_refusal(account: Account) -> GatewayError | None:
        """Brackets need the account's "Auto OCO Brackets" setting (projectx-gateway.md §11)."""
        if account.bracket_mode == "auto_oco":
            return None
        return GatewayError(
            2,
            "Brackets cannot be used with Position Brackets. Enable Auto OCO Brackets in the "
            "account's risk settings to attach a stop loss and take profit to an order.",
        )

    @staticmethod
    def _price(f: Any, name: str, spec: ContractSpec, *, rejected_code: int) -> int | None:
        """A price field in ticks, or None when absent. Like the gateway, a price that is zero,
        negative or off the contract's tick grid is refused with the endpoint's rejection code
        (Order/place 2 OrderRejected, Order/modify 3 Rejected), whatever the order type."""
        value = f.decimal(name)
        if value is None:
            return None
        if value <= 0:
            raise GatewayError(rejected_code, f"Invalid {name} {value}: it must be above zero")
        try:
            return spec.to_ticks(value)
        except OffTick:
            raise GatewayError(
                rejected_code,
                f"Invalid {name} {value}: not a multiple of the tick size {spec.tick_size}",
            ) from None

    def _trailing(self, f: Any, spec: ContractSpec, side: int, last: int | None) -> tuple[int, int]:
        distance = f.int("trailDistance", None)
        level = self._price(f, "trailPrice", spec, rejected_code=2)
        if last is None:
            raise GatewayError(2, "No market price to trail yet")
        if distance is None:
            if level is None:
                raise GatewayError(2, "A trailing stop requires trailPrice (or trailDistance)")
            distance = last - level if side == SELL else level - last
        if distance <= 0:
            raise GatewayError(
                2, "Trailing stop price must be on the protective side of the market"
            )
        return fills.trail_initial_level(side, last, distance), distance

    def _bracket_legs(self, f: Any, side: int) -> list[tuple[str, int, int]]:
        legs = []
        for name, role, allowed in (
            ("stopLossBracket", "sl", (STOP, TRAILING)),
            ("takeProfitBracket", "tp", (LIMIT,)),
        ):
            sub = f.sub(name)
            if sub is None:
                continue
            ticks = sub.int("ticks", None)
            leg_type = sub.int("type", allowed[0])
            if leg_type not in allowed:
                raise GatewayError(2, f"Invalid {name} type {leg_type}")
            if not ticks or abs(ticks) > MAX_BRACKET_TICKS:
                raise GatewayError(
                    2, f"{name} ticks must be non-zero and at most {MAX_BRACKET_TICKS} in size"
                )
            # Protective leg sits against the position, profit leg with it (signed offsets).
            want_negative = (role == "sl") == (side == BUY)
            if self.config.bracket_ticks == "signed" and (ticks < 0) != want_negative:
                word = "less" if want_negative else "greater"
                action = "longing" if side == BUY else "shorting"
                kind = "stop loss" if role == "sl" else "take profit"
                raise GatewayError(
                    2, f"Invalid {kind} ticks: ticks should be {word} than zero when {action}"
                )
            legs.append((role, -abs(ticks) if want_negative else abs(ticks), leg_type))
        return legs

    def _order_of(self, user: str, f: Any, missing_code: int) -> tuple[Account, Order]:
        account = self.account_of(user, f.int("accountId", None))
        order = self.orders.get(f.int("orderId", None))
        if order is None or order.account_id != account.id:
            raise GatewayError(missing_code, "Order not found")
        return account, order

    def cancel_order(self, user: str, f: Any) -> None:
        _, order = self._order_of(user, f, 2)
        if order.status not in (*WORKING, SUSPENDED):
            raise GatewayError(3, f"Order {order.id} is not working (status {order.status})")
        with self.store.batch():
            self._cancel(order)
            self._save_meta()
        self._flush()

    def modify_order(self, user: str, f: Any) -> None:
        _, order = self._order_of(user, f, 2)
        if order.status not in WORKING:
            raise GatewayError(3, f"Order {order.id} is not working (status {order.status})")
        spec = spec_for_root(root_of(order.contract_id))
        size = f.int("size", None)
        limit = self._price(f, "limitPrice", spec, rejected_code=3)
        stop = self._price(f, "stopPrice", spec, rejected_code=3)
        trail = self._price(f, "trailPrice", spec, rejected_code=3)
        if size is not None and size <= 0:
            raise GatewayError(3, "Invalid order size")
        if limit is not None and order.type not in (LIMIT, JOIN_BID, JOIN_ASK):
            raise GatewayError(3, "limitPrice applies to limit orders only")
        if stop is not None and order.type not in (STOP, TRAILING):
            raise GatewayError(3, "stopPrice applies to stop orders only")
        if trail is not None and order.type != TRAILING:
            raise GatewayError(3, "trailPrice applies to trailing stops only")
        with self.store.batch():
            order.size = size or order.size
            order.limit_ticks = order.limit_ticks if limit is None else limit
            order.stop_ticks = order.stop_ticks if stop is None else stop
            if trail is not None:  # a trailing stop's trailPrice is its current level
                order.stop_ticks = trail
            order.updated_us = self.now_us
            self._save_order(order)
            self._order_event(order)
        self._flush()

    def order_search(self, user: str, f: Any) -> list[dict[str, Any]]:
        account = self.account_of(user, f.int("accountId", None))
        start, end = f.ts("startTimestamp"), f.ts("endTimestamp")
        rows = [
            o
            for o in self.orders.values()
            if o.account_id == account.id
            and (start is None or o.created_us >= start.timestamp() * US)
            and (end is None or o.created_us <= end.timestamp() * US)
        ]
        return [self.order_payload(o) for o in sorted(rows, key=lambda o: o.id)]

    def order_search_open(self, user: str, f: Any) -> list[dict[str, Any]]:
        account = self.account_of(user, f.int("accountId", None))
        rows = [
            o for o in self.orders.values() if o.account_id == account.id and o.status in WORKING
        ]
        return [self.order_payload(o) for o in sorted(rows, key=lambda o: o.id)]

    def order_by_id(self, user: str, f: Any) -> dict[str, Any]:
        _, order = self._order_of(user, f, 1)
        return self.order_payload(order)

    def order_query(self, user: str, f: Any) -> tuple[list[dict[str, Any]], int]:
        filt = f.sub("filter") or f
        account = self.account_of(user, filt.int("accountId", None))
        statuses = filt.int_list("statuses")
        contract = filt.str("contractId")
        after, before = filt.ts("createdAfter"), filt.ts("createdBefore")
        rows = [
            o
            for o in self.orders.values()
            if o.account_id == account.id
            and (not statuses or o.status in statuses)
            and (not contract or o.contract_id == contract.strip().upper())
            and (after is None or o.created_us >= after.timestamp() * US)
            and (before is None or o.created_us <= before.timestamp() * US)
        ]
        by_id = f.int("sortBy", 0) == 1
        rows.sort(
            key=(lambda o: o.id) if by_id else (lambda o: (o.created_us, o.id)),
            reverse=f.int("sortDirection", 0) == 1,
        )
        offset, size = max(f.int("pageOffset", 0), 0), f.int("pageSize", None)
        page = rows[offset : offset + size] if size and size > 0 else rows[offset:]
        return [self.order_payload(o) for o in page], len(rows)

    # -- positions & trades ----------------------------------------------------------------------
    def positions_open(self, user: str, f: Any) -> list[dict[str, Any]]:
        account = self.account_of(user, f.int("accountId", None))
        rows = [p for (acc, _), p in self.positions.items() if acc == account.id and p.net]
        return [self.position_payload(p) for p in sorted(rows, key=lambda p: p.id)]

    def close_position(self, user: str, f: Any, *, partial: bool) -> None:
        codes = {"position": 2, "contract": 3, "size": 5, "closed": 6 if partial else 5}
        account = self.account_of(user, f.int("accountId", None))
        spec = parse_contract_id(f.str("contractId") or "")
        if spec is None or spec.contract_id not in self.series:
            raise GatewayError(codes["contract"], "Contract not found")
        contract_id = f.str("contractId").strip().upper()
        pos = self.positions.get((account.id, contract_id))
        if pos is None or pos.net == 0:
            raise GatewayError(codes["position"], "Position not found")
        size = abs(pos.net)
        if partial:
            size = f.int("size", None)
            if size is None or size <= 0 or size >= abs(pos.net):
                raise GatewayError(codes["size"], "Invalid close size")
        if not self.is_open(spec.contract_id):
            raise GatewayError(codes["closed"], "Outside of trading hours")
        now_s = self.now_us // US
        eligible = (self.cur_t + 1) if (self.cur_t is not None and self.emitted) else now_s
        with self.store.batch():
            order = Order(
                self._next_id("order"),
                account.id,
                contract_id,
                MARKET,
                SELL if pos.net > 0 else BUY,
                size,
                OPEN,
                self.now_us,
                self.now_us,
                eligible,
            )
            self.orders[order.id] = order
            self._save_order(order)
            self._order_event(order)
            self._fill_at_once_on_a_wall_clock(order)
            self._save_meta()
        self._flush()

    def trade_search(self, user: str, f: Any) -> list[dict[str, Any]]:
        account = self.account_of(user, f.int("accountId", None))
        start, end = f.ts("startTimestamp"), f.ts("endTimestamp")
        rows = [
            t
            for t in self.trades.values()
            if t.account_id == account.id
            and (start is None or t.created_us >= start.timestamp() * US)
            and (end is None or t.created_us <= end.timestamp() * US)
        ]
        return [self.trade_payload(t) for t in sorted(rows, key=lambda t: t.id)]

    def state(self) -> dict[str, Any]:
        """The control API's view: clock and every account with its unrealised P&L."""
        return {
            "now": self.now(),
            "barOpen": None if self.cur_t is None else _ts(self.cur_t * US),
            "pointsEmitted": self.emitted,
            "accounts": [
                {**self.account_payload(a), "user": a.user, "unrealizedPnl": self.unrealized(a.id)}
                for a in sorted(self.accounts.values(), key=lambda a: a.id)
            ],
            "lastPrices": {
                root: None if q.last is None else self.series[root].spec.from_ticks(q.last)
                for root, q in self.quotes.items()
                if root in self.series
            },
        }
