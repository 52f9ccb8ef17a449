"""The simulator's brain: clock, quotes, accounts, orders, the matching engine, positions, P&L.

Everything here is synchronous and single-threaded (the server's event loop owns the engine), and
every change is written through to the SQLite store in one transaction per operation.

The clock and the order of events
---------------------------------
Time moves in 1-minute bars. Each bar is played along ONE intrabar path, its series' `points(bar)`
(a quote, a trade and a depth update each) at `point_offsets` seconds into the bar, then at +60 s
the bar completes. By default the path is `markets.fills.intrabar_path(o, h, l, c)` (O-L-H-C for
an up bar, O-H-L-C for a down bar) at +0, +15, +30 and +45 s, volume split evenly; the demo's
session market (simulator/session_walk.py) prints a price every second on the same O-L-H-C order.
Clock modes:
* stepped: nothing moves until a test calls `step(n_bars)` / `step_until(t)`;
* real time (speed 1) or accelerated (speed N): a driver calls `advance_to(t)` with
  `t = start + N * elapsed wall time`. In real time over a contiguous market the clock catches up
  with the wall clock after a restart (missed bars are matched, nothing is skipped; a bar that
  ended a minute or more before the target prints only its 4 coarse points, same fills).

Fill rules (parity with the backtester; every fill decision is a call into markets/fills.py)
------------------------------------------------------------------------------------------------
* A MARKET order (and the market order of `Position/closeContract`) fills with
  `fill_price(MARKET, ...)` on a single price. Stepped clock: the next price the clock emits,
  i.e. the next bar's open, exactly as the backtester fills a market order decided on the
  previous close. Real-time or accelerated clock: at once, at the last price printed (as the
  gateway fills it), and at the next print only if nothing has printed yet. Bracket children of
  an entry filled at once work from the next bar.
* Resting orders (limit, stop, trailing stop, join bid/ask) are matched against a bar only when
  the bar completes, with `fill_price` / `trailing_stop_step`. An order that arrives while a bar
  is being played acts from the NEXT bar (no look-ahead inside the bar); an order that arrives
  between bars (always so in stepped mode) acts from the next bar to open.
* Bracket children (stopLossBracket / takeProfitBracket) are created with status 8 Suspended and
  priced from the entry's fill price when it fills. If the entry filled at a bar's open (a market
  entry), the children already work on that bar (the backtester attaches the bracket to the
  position from its entry bar); if the entry filled later in the bar (at a path point or at the
  bar's completion), they work from the next bar. When both legs work on a bar they are judged
  together by `bracket_exit` (stop-loss first when a bar touches both: the conservative rule);
  one leg filling cancels the other (OCO). When a position goes flat any other way, its
  remaining bracket children are cancelled.
* Bracket ticks are signed price offsets, as the live gateway requires: long entry -> stop-loss
  ticks < 0 and take-profit ticks > 0; short entry -> the opposite. With `bracket_ticks="signed"`
  (default) a wrong sign is rejected with errorCode 2 and the live gateway's message; with
  `"magnitude"` the sign is ignored and |ticks| is applied on the protective/profit side (what
  the docs' example and the SDKs send).
* Orders fill completely or not at all (no partial fills). JoinBid/JoinAsk become limit orders
  at the best bid/ask when placed. Quotes: a trade on an up-tick printed at the ask (bid one tick
  below), on a down-tick at the bid (ask one tick above).
* Positions net per (account, contract). Realised P&L uses FIFO lots (exact to the cent);
  `averagePrice` is the size-weighted average of open lots. Each fill is one half-turn trade:
  `profitAndLoss` null when it only opened or added, else the gross P&L of the part it closed;
  `fees` = fee per side x size. Balance += P&L - fees at every fill.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from markets import fills
from markets.ticks import CONTRACT_SPECS, ContractSpec, OffTick
from simulator import tokens
from simulator.market import (
    BAR_SECONDS,
    COARSE_OFFSETS,
    DataFileError,
    RandomWalkSeries,
    ReplaySeries,
    Series,
    Unit,
    aggregate,
    aggregate_columns,
    bucket_end,
    contract_expiry,
    front_month_id,
    load_csv_ticks,
    parse_contract_id,
    trading_date,
)
from simulator.records import (
    BRACKET_MODES,
    BUY,
    CANCELLED,
    FILLED,
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
    NotAuthenticated,
    Order,
    Position,
    Quote,
    SimConfig,
    Trade,
    _dec,
    _ts,
)
from simulator.session_walk import SessionWalkSeries, history_origin
from simulator.store import Store

__all__ = ["Engine"]


Event = tuple[str, Any, str, Any]  # (channel, key, target, payload)


class Engine:
    """The simulated gateway's state and rules (see module docstring)."""

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
        self.point_offsets = _shared_point_offsets(self.series)
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

    # -- set-up ----------------------------------------------------------------------------------
    def _start_us(self) -> int:
        if self.config.start is not None:
            return int(self.config.start.timestamp()) * US
        if self.config.replay_mode == "calendar" and self.config.data:
            first = min(s.first_time() for s in self.series.values())
            return (first + self.config.history_minutes * 60) * US
        if self._session_market:
            now_s = int(datetime.now(UTC).timestamp())
            return (now_s - now_s % 60) * US
        return self.origin * US + self.config.history_minutes * 60 * US

    @property
    def _market_key(self) -> str | None:
        """What the stored origin was chosen for: a store written for another market (or for a
        shorter history) gets a new origin, so the demo always has its history."""
        return f"sessions:{self.config.history_sessions}" if self._session_market else None

    @property
    def _session_market(self) -> bool:
        """The demo's calendar-true walk (`market="sessions"`); replayed data overrides it."""
        return self.config.market == "sessions" and not self.config.data

    def _build_series(self, clock: dict[str, Any] | None) -> dict[str, Series]:
        cfg = self.config
        if cfg.market not in ("continuous", "sessions"):
            raise ValueError(f"market must be 'continuous' or 'sessions', got {cfg.market!r}")
        if clock and "origin" in clock and clock.get("market") == self._market_key:
            self.origin = clock["origin"]
        elif self._session_market:
            self.origin = history_origin(cfg.start or datetime.now(UTC), cfg.history_sessions)
        else:
            start = cfg.start or datetime.now(UTC)
            start_s = int(start.timestamp())
            self.origin = start_s - start_s % 60 - cfg.history_minutes * 60
        arrays = {}
        for root, path in cfg.data.items():
            spec = _spec_for_root(root)
            arrays[spec.contract_id] = load_csv_ticks(Path(path), spec)
        series: dict[str, Series] = {}
        for spec in CONTRACT_SPECS.values():
            root = spec.contract_id
            if root in arrays:
                skip = 0
                if cfg.replay_from is not None and cfg.replay_mode == "shifted":
                    times = arrays[root]["t"]
                    skip = int((times < int(cfg.replay_from.timestamp())).sum())
                series[root] = ReplaySeries(
                    spec, arrays[root], mode=cfg.replay_mode, origin=self.origin, skip=skip
                )
            elif cfg.replay_mode == "calendar" and cfg.data:
                continue  # calendar mode trades only the products it has real data for
            elif self._session_market:
                series[root] = SessionWalkSeries(spec, seed=cfg.seed, origin=self.origin)
            else:
                series[root] = RandomWalkSeries(spec, seed=cfg.seed, origin=self.origin)
        return series

    def _initial_quote(self, series: Series) -> Quote:
        """Before the first print, quote the close of the last bar before the clock."""
        prev = series.prev_time(self.now_us // US)
        bar = series.bar_at(prev) if prev is not None else None
        if bar is None:
            return Quote()
        close = bar[4]
        return Quote(last=close, bid=close - 1, ask=close, updated_us=self.now_us)

    def add_user(self, name: str, api_key: str, *, balance: Decimal | None = None) -> Account:
        """Register (or update the key of) a user; give them one practice account if none."""
        if not name or not api_key:
            raise ValueError("a simulated user needs a name and an API key")
        with self.store.batch():
            self.users[name] = {**self.users.get(name, {}), "name": name, "api_key": api_key}
            self.store.put("users", name, self.users[name])
            owned = [a for a in self.accounts.values() if a.user == name]
            if owned:
                return owned[0]
            return self.add_account(name, balance or self.config.starting_balance)

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

    def user_set_token_ttl(self, user: str, ttl_seconds: int | None) -> None:
        """Switch: the lifetime of tokens issued to `user` from now on (None: the default)."""
        if user not in self.users:
            raise ValueError(f"unknown simulated user {user!r}")
        if ttl_seconds is not None and int(ttl_seconds) < 1:
            raise ValueError("the token lifetime must be at least 1 second")
        record = self.users[user]
        record["token_ttl_seconds"] = None if ttl_seconds is None else int(ttl_seconds)
        self.store.put("users", user, record)

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

    # -- auth ---------------------------------------------------------------------------------------
    def login(self, user: str | None, api_key: str | None, now_s: int) -> str:
        record = self.users.get(user or "")
        if record is None:
            raise GatewayError(1, "User not found")
        if not api_key or not secrets.compare_digest(record["api_key"], api_key):
            raise GatewayError(3, "Invalid credentials")
        token, _ = tokens.encode(
            self.secret,
            user=record["name"],
            issued_at=now_s,
            ttl_seconds=record.get("token_ttl_seconds") or self.config.token_ttl_seconds,
        )
        return token

    def authenticate(self, token: str | None, now_s: int) -> tokens.Claims:
        """The claims of a live session token; NotAuthenticated otherwise (-> HTTP 401)."""
        try:
            claims = self.check_token(token, now_s)
        except (tokens.InvalidToken, GatewayError) as exc:
            raise NotAuthenticated(str(exc)) from None
        return claims

    def check_token(self, token: str | None, now_s: int) -> tokens.Claims:
        """Decode and check revocation/expiry; raises InvalidToken, TokenExpired, GatewayError."""
        claims = tokens.decode(self.secret, token or "", now=now_s)
        if claims.issued_at < self.tokens_not_before:
            raise tokens.TokenExpired(claims)
        if claims.session_id in self.revoked:
            raise GatewayError(2, "Session not found")
        if claims.user not in self.users:
            raise tokens.InvalidToken("unknown user")
        return claims

    def logout(self, claims: tokens.Claims) -> None:
        self.revoked.add(claims.session_id)
        self.store.put("sessions", claims.session_id, {"jti": claims.session_id})

    def expire_tokens(self, now_s: int) -> None:
        """Fault: every token issued so far is expired from now on."""
        self.tokens_not_before = now_s + 1
        self._save_meta()

    # -- accounts & contracts -------------------------------------------------------------------------
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

    def now(self) -> datetime:
        return _ts(self.now_us)

    def trading_date(self) -> date:
        return trading_date(self.now_us // US)

    def front_month(self, spec: ContractSpec) -> str:
        """The front month on the clock's trading date (the roll-date switch applied)."""
        return front_month_id(spec, self.trading_date(), roll_on=self.config.roll_on)

    def is_expired(self, contract_id: str | None) -> bool:
        """Past its last trading date: its second and minute history is gone (§11)."""
        try:
            return self.trading_date() > contract_expiry(contract_id or "", self.config.roll_on)
        except ValueError:
            return False

    def contract_payload(
        self, spec: ContractSpec, contract_id: str | None = None
    ) -> dict[str, Any]:
        front = self.front_month(spec)
        cid = contract_id or front
        expiry = cid.rsplit(".", 1)[1]
        return {
            "id": cid,
            "name": f"{spec.contract_id}{expiry}",
            "description": _DESCRIPTIONS.get(spec.symbol, spec.symbol),
            "tickSize": spec.tick_size,
            "tickValue": spec.tick_value,
            "activeContract": cid == front,
            "symbolId": spec.symbol_id,
        }

    def contracts(self, search: str | None) -> list[dict[str, Any]]:
        text = (search or "").strip().upper()
        rows = []
        for spec in CONTRACT_SPECS.values():
            if spec.contract_id not in self.series:
                continue
            payload = self.contract_payload(spec)
            haystack = [
                spec.symbol,
                spec.contract_id,
                payload["name"],
                payload["description"].upper(),
            ]
            if not text or any(text in h for h in haystack):
                rows.append(payload)
        return rows

    def contract(self, contract_id: str | None) -> tuple[ContractSpec, str]:
        spec = parse_contract_id(contract_id or "")
        if spec is None or spec.contract_id not in self.series:
            raise GatewayError(1, "Contract not found")
        return spec, contract_id.strip().upper()  # type: ignore[union-attr]

    # -- market state -------------------------------------------------------------------------------
    def is_open(self, root: str) -> bool:
        """Calendar replays and the session market are closed in gaps of an hour or more (halts,
        nights, weekends)."""
        series = self.series[root]
        if series.always_open:
            return True
        now_s = self.now_us // US
        if self.cur_t is not None and series.bar_at(self.cur_t) is not None:
            return True
        nxt, prev = series.next_time(now_s), series.prev_time(now_s)
        if nxt is None or prev is None:
            return False
        return nxt - (prev + BAR_SECONDS) < 3600

    def _partial(self, root: str) -> tuple[int, int, int, int, int, int] | None:
        if self.cur_t is None or self.emitted == 0:
            return None
        series = self.series[root]
        bar = series.bar_at(self.cur_t)
        if bar is None:
            return None
        path, vols = zip(*series.points(bar)[: self.emitted], strict=True)
        return (self.cur_t, path[0], max(path), min(path), path[-1], sum(vols))

    def history(
        self, root: str, start: datetime, end: datetime, unit: Unit, limit: int, partial: bool
    ) -> list[dict[str, Any]]:
        """Bars of `unit` with open time in [start, end], newest first, at most `limit`.

        Only the time span the newest `limit` bars can cover is scanned (20,000 one-minute bars
        out of four years is a two-week read, not 1.5M rows); the window doubles back when
        gaps (nights, weekends) leave it short, until `start`.
        """
        spec = self.series[root].spec
        now_s = self.now_us // US
        lo, hi = int(start.timestamp()), min(int(end.timestamp()) + 1, now_s + 1)
        span = _MAX_BUCKET_SECONDS.get(unit.code, 0) * unit.number * (limit + 2)
        while True:
            window_lo = lo if unit.code == 7 else max(lo, hi - span)
            bars = self._aggregate_range(root, window_lo, hi, unit, partial)
            if window_lo == lo or len(bars) > limit:
                break
            span *= 2
        if not partial and bars and unit.code != 7 and bucket_end(unit, bars[-1][0]) > now_s:
            bars.pop()
        bars = bars[-limit:]
        bars.reverse()
        tick = spec.tick_size  # validated when the spec was built: plain products are exact
        return [
            {
                "t": _ts(b[0] * US),
                "o": b[1] * tick,
                "h": b[2] * tick,
                "l": b[3] * tick,
                "c": b[4] * tick,
                "v": b[5],
            }
            for b in bars
        ]

    def _aggregate_range(
        self, root: str, lo: int, hi: int, unit: Unit, partial: bool
    ) -> list[list[int]]:
        series = self.series[root]
        now_s = self.now_us // US
        complete_until = self.cur_t if self.cur_t is not None else now_s
        part = self._partial(root) if partial or unit.code in (1, 7) else None
        if unit.code in (1, 7):  # second and tick bars: the minute bars' path points
            rows = _as_points(series, list(series.bars(lo, min(hi, complete_until))))
            if part is not None and lo <= part[0] < hi:
                bar = series.bar_at(part[0])
                rows += _as_points(series, [bar])[: self.emitted] if bar else []
            return aggregate(rows, unit)
        cols = series.columns(lo, min(hi, complete_until))
        if partial and part is not None and lo <= part[0] < hi:
            cols = tuple(np.append(col, value) for col, value in zip(cols, part, strict=True))
        return aggregate_columns(cols, unit)  # type: ignore[arg-type]

    # -- the clock ------------------------------------------------------------------------------------
    def step(self, n_bars: int = 1) -> int:
        """Play the next `n_bars` bars completely (stepped mode). Returns how many were played."""
        played = 0
        with self.store.batch():
            while played < n_bars:
                if self.cur_t is None and not self._open_next_bar():
                    break
                assert self.cur_t is not None
                self._run_until((self.cur_t + BAR_SECONDS) * US)
                played += 1
            self._save_meta()
        self._flush()
        return played

    def step_until(self, at: datetime) -> None:
        """Play every bar event up to `at` (and set the clock to `at`)."""
        target = int(at.timestamp() * US)
        with self.store.batch():
            self._run_until(target)
            self.now_us = max(self.now_us, target)
            self._save_meta()
        self._flush()

    advance_to = step_until

    def _open_next_bar(self) -> bool:
        now_s = -(-self.now_us // US)
        nexts = [t for t in (s.next_time(now_s) for s in self.series.values()) if t is not None]
        if not nexts:
            return False
        self.cur_t, self.emitted, self.catching_up = min(nexts), 0, False
        return True

    def _run_until(self, target_us: int) -> None:
        while True:
            if self.cur_t is None:
                if not self._open_next_bar():
                    return
                assert self.cur_t is not None
                if self.cur_t * US >= target_us:  # a bar opening exactly at the target waits:
                    self.cur_t = None  # after step(1) the next market order gets the next open
                    return
                # A bar that ended a minute before the target is history being caught up (a
                # restart): its four coarse points fill orders as its every second would, at a
                # fifteenth of the cost.
                self.catching_up = (self.cur_t + 2 * BAR_SECONDS) * US <= target_us
            offsets = COARSE_OFFSETS if self.catching_up else self.point_offsets
            if self.emitted < len(offsets):
                at = (self.cur_t + offsets[self.emitted]) * US
                if at > target_us:
                    return
                self.now_us = max(self.now_us, at)
                self._emit_point(self.emitted)
                self.emitted += 1
                continue
            at = (self.cur_t + BAR_SECONDS) * US
            if at > target_us:
                return
            self.now_us = max(self.now_us, at)
            self._complete_bar()
            self.cur_t, self.emitted = None, 0
            self._save_meta()

    def _emit_point(self, index: int) -> None:
        assert self.cur_t is not None
        for root, series in self.series.items():
            bar = series.bar_at(self.cur_t)
            if bar is None:
                continue
            points = series.coarse_points(bar) if self.catching_up else series.points(bar)
            price, volume = points[index]
            self._print(root, series.spec, price, volume)
            for order in self._working(root):
                if order.type == MARKET:
                    fill = fills.fill_price(MARKET, order.side, price, price, price, price)
                    self._fill(order, fill, children_from=self.cur_t if index == 0 else None)

    def _print(self, root: str, spec: ContractSpec, price: int, volume: int) -> None:
        q = self.quotes[root]
        session = trading_date(self.now_us // US).isoformat()
        if q.session != session:
            q.prev_close = q.last
            q.session, q.open, q.high, q.low, q.volume = session, price, price, price, 0
        up = q.last is None or price >= q.last
        q.bid, q.ask = (price - 1, price) if up else (price, price + 1)
        q.last, q.updated_us = price, self.now_us
        q.high, q.low = max(q.high or price, price), min(q.low or price, price)
        q.volume += volume
        when = _ts(self.now_us)
        ref = q.prev_close if q.prev_close is not None else q.open
        change = spec.from_ticks(price - ref)
        self.events.append(
            (
                "market",
                root,
                "GatewayQuote",
                {
                    "symbol": spec.symbol_id,
                    "symbolName": f"/{spec.symbol}",
                    "lastPrice": spec.from_ticks(price),
                    "bestBid": spec.from_ticks(q.bid),
                    "bestAsk": spec.from_ticks(q.ask),
                    "change": change,
                    "changePercent": (change / spec.from_ticks(ref) * 100).quantize(
                        Decimal("0.0001")
                    )
                    if ref
                    else Decimal(0),
                    "open": spec.from_ticks(q.open),
                    "high": spec.from_ticks(q.high),
                    "low": spec.from_ticks(q.low),
                    "volume": q.volume,
                    "lastUpdated": when,
                    "timestamp": when,
                },
            )
        )
        self.events.append(
            (
                "market",
                root,
                "GatewayTrade",
                [
                    {
                        "symbolId": spec.symbol_id,
                        "price": spec.from_ticks(price),
                        "timestamp": when,
                        "type": 0 if up else 1,
                        "volume": volume,
                    }
                ],
            )
        )
        depth = [
            {
                "timestamp": when,
                "type": 5,
                "price": spec.from_ticks(price),
                "volume": volume,
                "currentVolume": volume,
            }
        ]
        for level in range(5):
            size = 5 + (price * 7 + level * 13) % 40  # deterministic synthetic book
            depth.append(
                {
                    "timestamp": when,
                    "type": 4 if level == 0 else 2,
                    "price": spec.from_ticks(q.bid - level),
                    "volume": size,
                    "currentVolume": size,
                }
            )
            depth.append(
                {
                    "timestamp": when,
                    "type": 3 if level == 0 else 1,
                    "price": spec.from_ticks(q.ask + level),
                    "volume": size + 3,
                    "currentVolume": size + 3,
                }
            )
        self.events.append(("market", root, "GatewayDepth", depth))

    def _working(self, root: str) -> list[Order]:
        return sorted(
            (
                o
                for o in self.orders.values()
                if o.status in WORKING and _root_of(o.contract_id) == root
            ),
            key=lambda o: o.id,
        )

    def _complete_bar(self) -> None:
        assert self.cur_t is not None
        t = self.cur_t
        for root, series in self.series.items():
            bar = series.bar_at(t)
            if bar is None:
                continue
            _, o, h, low, c, _ = bar
            done: set[int] = set()
            for order in self._working(root):
                if order.id in done or order.status not in WORKING or order.type == MARKET:
                    continue
                if order.eligible_from > t:
                    continue
                sibling = self.orders.get(order.linked_id) if order.linked_id else None
                if sibling is not None and sibling.status in WORKING and sibling.eligible_from <= t:
                    done.update((order.id, sibling.id))
                    self._match_bracket(order, sibling, o, h, low, c)
                else:
                    done.add(order.id)
                    self._match_single(order, o, h, low, c)

    def _match_single(self, order: Order, o: int, h: int, low: int, c: int) -> None:
        if order.type == TRAILING:
            assert order.stop_ticks is not None
            assert order.trail_ticks is not None
            price, level = fills.trailing_stop_step(
                order.side, order.stop_ticks, o, h, low, order.trail_ticks
            )
            if price is None:
                self._retrail(order, level)
                return
        else:
            price = fills.fill_price(
                order.type if order.type in (LIMIT, STOP) else LIMIT,
                order.side,
                o,
                h,
                low,
                c,
                limit_ticks=order.limit_ticks,
                stop_ticks=order.stop_ticks,
            )
        if price is not None:
            self._fill(order, price, children_from=None)

    def _match_bracket(self, a: Order, b: Order, o: int, h: int, low: int, c: int) -> None:
        sl, tp = (a, b) if a.role == "sl" else (b, a)
        entry_side = BUY if sl.side == SELL else SELL
        try:
            result = fills.bracket_exit(
                entry_side, o, h, low, c, stop_ticks=sl.stop_ticks, target_ticks=tp.limit_ticks
            )
        except ValueError:  # legs modified across each other: judge them one by one, SL first
            self._match_single(sl, o, h, low, c)
            if tp.status in WORKING:
                self._match_single(tp, o, h, low, c)
            return
        if result is None:
            if sl.type == TRAILING:
                assert sl.stop_ticks is not None
                assert sl.trail_ticks is not None
                self._retrail(
                    sl, fills.trail_stop_level(sl.side, sl.stop_ticks, h, low, sl.trail_ticks)
                )
            return
        leg, price = result
        self._fill(sl if leg == fills.STOP_LOSS else tp, price, children_from=None)

    def _retrail(self, order: Order, level: int) -> None:
        if level != order.stop_ticks:
            order.stop_ticks, order.updated_us = level, self.now_us
            self._save_order(order)
            self._order_event(order)

    # -- fills, positions, P&L --------------------------------------------------------------------
    def _fill(self, order: Order, price: int, *, children_from: int | None) -> None:
        """Fill `order` completely at `price` ticks; children work from `children_from` (or the
        next bar) and the documented event order is emitted: trade, order, position, account."""
        account = self.accounts[order.account_id]
        spec = _spec_for_root(_root_of(order.contract_id))
        signed = order.size if order.side == BUY else -order.size
        pnl = self._apply_position(order, price, signed, spec)
        fees = spec.fee_per_side_usd * order.size
        balance = Decimal(account.balance) + (pnl or 0) - fees
        account.balance = str(balance)
        trade = Trade(
            self._next_id("trade"),
            account.id,
            order.contract_id,
            self.now_us,
            price,
            None if pnl is None else str(pnl),
            str(fees),
            order.side,
            order.size,
            order.id,
        )
        self.trades[trade.id] = trade
        order.status, order.fill_volume, order.filled_ticks = FILLED, order.size, price
        order.updated_us = self.now_us
        self.store.put("trades", trade.id, asdict(trade))
        self._save_order(order)
        self._save_account(account)
        self.events.append(("trades", account.id, "GatewayUserTrade", self.trade_payload(trade)))
        self._order_event(order)
        pos = self.positions.get((account.id, order.contract_id))
        if pos is not None:
            payload = self.position_payload(pos)
            if pos.net == 0:  # size 0 = closed; keep the side it had (a sell closed a long)
                payload["type"] = 1 if order.side == SELL else 2
            self.events.append(("positions", account.id, "GatewayUserPosition", payload))
            if pos.net == 0:
                del self.positions[(account.id, order.contract_id)]
                self.store.delete("positions", f"{account.id}:{order.contract_id}")
        self.events.append(
            ("accounts", account.id, "GatewayUserAccount", self.account_payload(account))
        )
        self._after_fill(order, price, children_from)
        self._save_meta()

    def _apply_position(
        self, order: Order, price: int, signed: int, spec: ContractSpec
    ) -> Decimal | None:
        key = (order.account_id, order.contract_id)
        pos = self.positions.get(key)
        if pos is None or pos.net == 0:
            pos = Position(
                self._next_id("position"), order.account_id, order.contract_id, self.now_us, []
            )
            self.positions[key] = pos
        pnl: Decimal | None = None
        remaining = signed
        while remaining and pos.lots and (pos.lots[0][1] > 0) != (remaining > 0):
            lot_price, lot_qty = pos.lots[0]
            qty = min(abs(lot_qty), abs(remaining))
            direction = 1 if lot_qty > 0 else -1
            pnl = (pnl or Decimal(0)) + spec.pnl_usd(lot_price, price, qty * direction)
            lot_qty -= qty * direction
            remaining += qty * direction
            if lot_qty == 0:
                pos.lots.pop(0)
            else:
                pos.lots[0][1] = lot_qty
        if remaining:
            if not pos.lots:
                pos.created_us = self.now_us if pos.net == 0 else pos.created_us
            pos.lots.append([price, remaining])
        self._save_position(pos)
        return pnl

    def _after_fill(self, order: Order, price: int, children_from: int | None) -> None:
        assert self.cur_t is not None or children_from is None
        eligible = (
            children_from
            if children_from is not None
            else ((self.cur_t + 1) if self.cur_t is not None else self.now_us // US + 1)
        )
        for child in self._children(order):
            if child.status != SUSPENDED:
                continue
            assert child.bracket_offset is not None
            level = price + child.bracket_offset
            if child.type == TRAILING:
                child.trail_ticks = abs(child.bracket_offset)
                child.stop_ticks = fills.trail_initial_level(child.side, price, child.trail_ticks)
            elif child.type == LIMIT:
                child.limit_ticks = level
            else:
                child.stop_ticks = level
            child.status, child.eligible_from, child.updated_us = OPEN, eligible, self.now_us
            self._save_order(child)
            self._order_event(child)
        if order.linked_id:
            sibling = self.orders.get(order.linked_id)
            if sibling is not None and sibling.status in (*WORKING, SUSPENDED):
                self._cancel(sibling)
        if (order.account_id, order.contract_id) not in self.positions:
            for other in self.orders.values():  # flat: orphaned bracket legs are cancelled
                if (
                    other.account_id == order.account_id
                    and other.contract_id == order.contract_id
                    and other.role
                    and other.status in WORKING
                ):
                    self._cancel(other)

    def _children(self, order: Order) -> list[Order]:
        return [o for o in self.orders.values() if o.parent_id == order.id]

    def _cancel(self, order: Order) -> None:
        order.status, order.updated_us = CANCELLED, self.now_us
        self._save_order(order)
        self._order_event(order)
        for child in self._children(order):
            if child.status == SUSPENDED:
                self._cancel(child)

    # -- payloads ----------------------------------------------------------------------------------
    def order_payload(self, o: Order) -> dict[str, Any]:
        spec = _spec_for_root(_root_of(o.contract_id))
        price = spec.from_ticks
        return {
            "id": o.id,
            "accountId": o.account_id,
            "contractId": o.contract_id,
            "symbolId": spec.symbol_id,
            "creationTimestamp": _ts(o.created_us),
            "updateTimestamp": _ts(o.updated_us),
            "status": o.status,
            "type": o.type,
            "side": o.side,
            "size": o.size,
            "limitPrice": None if o.limit_ticks is None else price(o.limit_ticks),
            "stopPrice": None if o.stop_ticks is None else price(o.stop_ticks),
            "fillVolume": o.fill_volume,
            "filledPrice": None if o.filled_ticks is None else price(o.filled_ticks),
            "customTag": o.custom_tag,
            "trailPrice": price(o.stop_ticks)
            if o.type == TRAILING and o.stop_ticks is not None
            else None,
            "trailDistance": o.trail_ticks,
            "parentOrderId": o.parent_id,
            "linkedOrderId": o.linked_id,
        }

    def position_payload(self, p: Position) -> dict[str, Any]:
        spec = _spec_for_root(_root_of(p.contract_id))
        net = p.net
        cost = sum(px * q for px, q in p.lots)
        avg = (Decimal(cost) / Decimal(net) * spec.tick_size) if net else Decimal(0)
        return {
            "id": p.id,
            "accountId": p.account_id,
            "contractId": p.contract_id,
            "contractDisplayName": f"{spec.contract_id}{p.contract_id.rsplit('.', 1)[1]}",
            "creationTimestamp": _ts(p.created_us),
            "type": 1 if net > 0 else 2 if net else 0,
            "size": abs(net),
            "averagePrice": avg.quantize(Decimal("0.000000001")),
        }

    def trade_payload(self, t: Trade) -> dict[str, Any]:
        spec = _spec_for_root(_root_of(t.contract_id))
        return {
            "id": t.id,
            "accountId": t.account_id,
            "contractId": t.contract_id,
            "creationTimestamp": _ts(t.created_us),
            "price": spec.from_ticks(t.price_ticks),
            "profitAndLoss": _dec(t.pnl),
            "fees": Decimal(t.fees),
            "side": t.side,
            "size": t.size,
            "voided": t.voided,
            "orderId": t.order_id,
        }

    def _order_event(self, order: Order) -> None:
        self.events.append(
            ("orders", order.account_id, "GatewayUserOrder", self.order_payload(order))
        )

    def _flush(self) -> None:
        """Hand the events of one operation to the hubs (or drop them when nobody listens)."""
        batch, self.events = self.events, []
        if batch and self.on_events is not None:
            self.on_events(batch)

    def unrealized(self, account_id: int) -> Decimal:
        total = Decimal(0)
        for (acc, cid), pos in self.positions.items():
            if acc != account_id:
                continue
            spec = _spec_for_root(_root_of(cid))
            last = self.quotes[spec.contract_id].last
            if last is not None:
                total += sum((spec.pnl_usd(px, last, q) for px, q in pos.lots), Decimal(0))
        return total

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

    def _fill_at_once_on_a_wall_clock(self, order: Order) -> None:
        """On a clock driven by wall time a market order fills at once at the last price, as the
        gateway fills it; the stepped clock leaves it for the next price it plays (the
        backtester's next-open rule). Either way the rule is `fill_price(MARKET, ...)` on one
        price: only when it is applied differs."""
        if order.type != MARKET or self.config.speed is None:
            return
        last = self.quotes[_root_of(order.contract_id)].last
        if last is None:
            return  # nothing printed yet: the first price the clock plays fills it
        self._fill(
            order, fills.fill_price(MARKET, order.side, last, last, last, last), children_from=None
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
        spec = _spec_for_root(_root_of(order.contract_id))
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


# The longest a bucket of one unit can last, in seconds (months: 31 days; ticks: unbounded).
_MAX_BUCKET_SECONDS = {
    1: 1,
    2: 60,
    3: 3600,
    4: 86_400 + 3600,
    5: 7 * 86_400 + 3600,
    6: 31 * 86_400 + 3600,
}


def _as_points(series: Series, bars: list[Any]) -> list[tuple[int, int, int, int, int, int]]:
    """Each 1-minute bar as the trades its path prints (for second and tick bars)."""
    out = []
    for bar in bars:
        for offset, (p, vol) in zip(series.point_offsets, series.points(bar), strict=True):
            out.append((bar[0] + offset, p, p, p, p, vol))
    return out


def _shared_point_offsets(series: dict[str, Series]) -> tuple[int, ...]:
    """The seconds into a bar at which the clock prints: one schedule for every product."""
    schedules = {s.point_offsets for s in series.values()} or {Series.point_offsets}
    if len(schedules) > 1:
        raise ValueError("every product of one simulator must print on the same schedule")
    return schedules.pop()


def _root_of(contract_id: str) -> str:
    return contract_id.split(".")[3]


def _spec_for_root(root: str) -> ContractSpec:
    for spec in CONTRACT_SPECS.values():
        if root.upper() in (spec.contract_id, spec.symbol):
            return spec
    raise DataFileError(
        f"unknown product {root!r}; known roots: "
        f"{', '.join(s.contract_id for s in CONTRACT_SPECS.values())}"
    )


_DESCRIPTIONS = {
    "ES": "E-Mini S&P 500",
    "MES": "Micro E-mini S&P 500",
    "NQ": "E-Mini NASDAQ 100",
    "MNQ": "Micro E-mini Nasdaq-100",
    "RTY": "E-mini Russell 2000",
    "YM": "E-mini Dow ($5)",
    "CL": "Crude Oil",
    "GC": "Gold",
}
