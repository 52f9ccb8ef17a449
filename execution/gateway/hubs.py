"""Real-time events from the gateway's SignalR hubs (pysignalr), handed to ONE callable.

A `HubListener` serves one broker login: it connects to the user hub (accounts, orders, positions,
trades of its accounts) and the market hub (quotes, trades and optionally depth of its contracts),
parses every event into the typed objects of `types.py`, and calls `on_event(event)` for each, in
the order the hub sent them. That callable is the single path into the platform; keep it quick
(hand off to a queue, the channel layer or a Celery task) because the hub waits for it.

Connection management, per hub:
- every (re)connect is a fresh negotiate + WebSocket with the current token in `access_token`
  (the hubs keep the token of the connect, §1), followed by every Subscribe* call, because hubs
  forget subscriptions across connections (§6.1);
- a dropped connection is rebuilt after an exponential back-off with jitter (reset once a
  connection has stayed up), a refused token (401 / GatewayLogout) forces a fresh login first, and
  a token renewed by the REST client makes both hubs reconnect with the new one;
- `HubStateEvent`s tell `on_event` when a hub connects or drops, so the platform can reconcile by
  REST after a gap (events sent while disconnected are lost);
- `request_reconnect` rebuilds one hub's connection on demand (the market-feed watchdog of
  execution/hubs_process.py): at most one rebuild at a time, never a connect on a connection that
  is still open ("cannot connect while not disconnected" pile-ups, §11).

Market data: GatewayQuote may carry only some fields (§6.3, §11), so each quote is merged into the
last known quote of its contract before `on_event` sees it (`quote_merge`), and the exchange time
of the newest quote, trade or depth entry per contract is kept in `market_seen_at` (the feed's
freshness, judged against REST bars by the watchdog: a market hub can freeze while its connection
says it is healthy).

The token travels in the URL's query string (as the official sample does); it is redacted from
pysignalr's log lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import json
import logging
import random
import re
import signal
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlsplit, urlunsplit

from pysignalr.client import SignalRClient
from pysignalr.exceptions import AuthorizationError
from pysignalr.messages import CompletionMessage, Message
from pysignalr.protocol.json import JSONProtocol
from websockets.exceptions import InvalidStatus

from execution.gateway.errors import GatewayError, MalformedResponse
from execution.gateway.types import (
    Account,
    DepthEntry,
    HalfTrade,
    MarketTrade,
    Order,
    Position,
    Quote,
)

if TYPE_CHECKING:
    from execution.gateway.client import GatewayClient

logger = logging.getLogger("execution.gateway.hubs")

USER_HUB = "user"
MARKET_HUB = "market"

# ------------------------------------------------------------------------------------ events


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AccountEvent:
    account: Account
    action: int | None = None
    received_at: datetime = field(default_factory=_now)


@dataclass(frozen=True)
class OrderEvent:
    order: Order
    action: int | None = None
    received_at: datetime = field(default_factory=_now)


@dataclass(frozen=True)
class PositionEvent:
    """`position.size == 0` means the position closed."""

    position: Position
    action: int | None = None
    received_at: datetime = field(default_factory=_now)


@dataclass(frozen=True)
class TradeEvent:
    """One of our fills (a half-turn)."""

    trade: HalfTrade
    action: int | None = None
    received_at: datetime = field(default_factory=_now)


@dataclass(frozen=True)
class QuoteEvent:
    quote: Quote
    received_at: datetime = field(default_factory=_now)


@dataclass(frozen=True)
class MarketTradeEvent:
    trade: MarketTrade
    received_at: datetime = field(default_factory=_now)


@dataclass(frozen=True)
class DepthEvent:
    entry: DepthEntry
    received_at: datetime = field(default_factory=_now)


@dataclass(frozen=True)
class HubStateEvent:
    """A hub connected (and subscribed) or dropped. After `connected=True` following a drop, events
    may have been missed: reconcile by REST."""

    hub: str
    connected: bool
    reason: str | None = None
    received_at: datetime = field(default_factory=_now)


HubEvent = (
    AccountEvent
    | OrderEvent
    | PositionEvent
    | TradeEvent
    | QuoteEvent
    | MarketTradeEvent
    | DepthEvent
    | HubStateEvent
)
OnEvent = Callable[[HubEvent], Awaitable[None] | None]


class TokenSource(Protocol):
    """What the listener needs from the REST client (GatewayClient implements it)."""

    def token(self) -> str: ...

    def invalidate_token(self, token: str) -> None: ...


# ------------------------------------------------------------------------------- parsing


def _unwrap(argument: Any) -> list[tuple[Any, int | None]]:
    """User-hub payloads: the entity, a `{action, data}` wrapper, or (unverified) a list of them."""
    items = argument if isinstance(argument, list) else [argument]
    unwrapped: list[tuple[Any, int | None]] = []
    for item in items:
        if item is None:
            continue
        if isinstance(item, dict) and "data" in item and "action" in item:
            action = item.get("action")
            unwrapped.append((item["data"], action if isinstance(action, int) else None))
        else:
            unwrapped.append((item, None))
    return unwrapped


def parse_user_event(target: str, arguments: Sequence[Any]) -> list[HubEvent]:
    """GatewayUser* invocation -> typed events (MalformedResponse on a bad payload)."""
    builders: dict[str, Callable[[Any, int | None], HubEvent]] = {
        "GatewayUserAccount": lambda p, a: AccountEvent(Account.from_json(p), a),
        "GatewayUserOrder": lambda p, a: OrderEvent(Order.from_json(p), a),
        "GatewayUserPosition": lambda p, a: PositionEvent(Position.from_json(p), a),
        "GatewayUserTrade": lambda p, a: TradeEvent(HalfTrade.from_json(p), a),
    }
    build = builders[target]
    return [build(payload, action) for arg in arguments for payload, action in _unwrap(arg)]


def parse_market_event(target: str, arguments: Sequence[Any]) -> list[HubEvent]:
    """Gateway{Quote,Trade,Depth}(contractId, payload | [payload, null, ...]) -> typed events."""
    if len(arguments) < 2 or not isinstance(arguments[0], str):
        raise MalformedResponse(f"{target}: expected (contractId, payload), got {arguments!r}")
    contract_id, payload = arguments[0], arguments[1]
    items = [p for p in (payload if isinstance(payload, list) else [payload]) if p is not None]
    if target == "GatewayQuote":
        return [QuoteEvent(Quote.from_json(contract_id, p)) for p in items]
    if target == "GatewayTrade":
        return [MarketTradeEvent(MarketTrade.from_json(contract_id, p)) for p in items]
    return [DepthEvent(DepthEntry.from_json(contract_id, p)) for p in items]


USER_TARGETS = ("GatewayUserAccount", "GatewayUserOrder", "GatewayUserPosition", "GatewayUserTrade")
MARKET_TARGETS = ("GatewayQuote", "GatewayTrade", "GatewayDepth")


def quote_merge(last: Quote | None, update: Quote) -> Quote:
    """The last known quote of the contract with every field the update carries (a GatewayQuote
    may be partial: a field it leaves out keeps its last value)."""
    if last is None:
        return update
    carried = {
        f.name: getattr(update, f.name)
        for f in dataclasses.fields(update)
        if getattr(update, f.name) is not None
    }
    return dataclasses.replace(last, **carried)


def _exchange_time(event: HubEvent) -> tuple[str, datetime] | None:
    """(contract, exchange time) of a market event, for the feed's freshness."""
    match event:
        case MarketTradeEvent(trade=trade):
            return trade.contract_id, trade.at
        case QuoteEvent(quote=quote) if quote.at or quote.last_updated_at:
            return quote.contract_id, quote.at or quote.last_updated_at  # type: ignore[return-value]
        case DepthEvent(entry=entry) if entry.at is not None:
            return entry.contract_id, entry.at
    return None


class DecimalJSONProtocol(JSONProtocol):
    """pysignalr's JSON hub protocol, but numbers with a fraction decode to Decimal (prices are
    never floats, not even for a moment)."""

    def decode(self, raw_message: str | bytes) -> list[Message]:
        text = raw_message.decode() if isinstance(raw_message, bytes) else raw_message
        messages: list[Message] = []
        for item in text.split(self.record_separator):
            if not item:
                continue
            payload = json.loads(item, parse_float=Decimal)
            if payload:
                messages.append(self.parse_message(payload))
        return messages


# ------------------------------------------------------------------------------ redaction

_TOKEN_IN_TEXT = re.compile(r"(access_token=)[^&\s'\"`]+", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+")


def redact(text: str) -> str:
    return _BEARER.sub(r"\1***", _TOKEN_IN_TEXT.sub(r"\1***", text))


class _RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


_REDACTOR = _RedactTokens()
for _name in ("pysignalr", "pysignalr.client", "pysignalr.transport", "websockets.client"):
    if _REDACTOR not in logging.getLogger(_name).filters:
        logging.getLogger(_name).addFilter(_REDACTOR)


def hub_url_with_token(url: str, token: str) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, f"access_token={quote(token, safe='')}") if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


# ------------------------------------------------------------------------------- listener


@dataclass
class HubStats:
    connects: int = 0
    drops: int = 0
    events: int = 0
    malformed: int = 0
    handler_errors: int = 0


class _TokenRefused(Exception):
    """The hub refused our token (401 on negotiate/upgrade, or GatewayLogout)."""


class _Hub:
    """One hub connection, rebuilt by `HubListener._supervise` whenever it needs replacing."""

    def __init__(self, name: str, url: str, targets: Sequence[str]) -> None:
        self.name = name
        self.url = url
        self.targets = targets
        self.client: SignalRClient | None = None
        self.connected = asyncio.Event()
        self.dropped = asyncio.Event()
        self.logged_out = asyncio.Event()
        self.reconnect = asyncio.Event()  # request_reconnect: end this connection, build a new one
        self.reconnect_reason = ""
        self.subscribing: asyncio.Task[None] | None = None
        self.stats = HubStats()


class HubListener:
    """User + market hub for one broker login; see the module docstring."""

    def __init__(
        self,
        token_source: TokenSource,
        *,
        user_hub_url: str,
        market_hub_url: str,
        account_ids: Iterable[int],
        contract_ids: Iterable[str] = (),
        on_event: OnEvent,
        subscribe_market_trades: bool = True,
        subscribe_market_depth: bool = False,
        reconnect_base_seconds: float = 0.5,
        reconnect_max_seconds: float = 60.0,
        stable_after_seconds: float = 30.0,
        token_check_seconds: float = 60.0,
        connect_timeout_seconds: int = 10,
        subscribe_timeout_seconds: float = 10.0,
    ) -> None:
        self._tokens = token_source
        self.account_ids = tuple(dict.fromkeys(account_ids))
        self.contract_ids = list(dict.fromkeys(contract_ids))
        self._on_event = on_event
        self._market_trades = subscribe_market_trades
        self._market_depth = subscribe_market_depth
        self._backoff_base = reconnect_base_seconds
        self._backoff_max = reconnect_max_seconds
        self._stable_after = stable_after_seconds
        self._token_check = token_check_seconds
        self._connect_timeout = connect_timeout_seconds
        self._subscribe_timeout = subscribe_timeout_seconds
        self.user = _Hub(USER_HUB, user_hub_url, USER_TARGETS)
        self.market = _Hub(MARKET_HUB, market_hub_url, MARKET_TARGETS)
        self.quotes: dict[str, Quote] = {}  # contract -> last known (merged) quote
        self.market_seen_at: dict[str, datetime] = {}  # contract -> newest market event

    @classmethod
    def for_client(
        cls,
        client: GatewayClient,
        *,
        account_ids: Iterable[int],
        contract_ids: Iterable[str] = (),
        on_event: OnEvent,
        **options: Any,
    ) -> HubListener:
        """A listener for the login behind `client`, at the hub URLs of its config."""
        return cls(
            client,
            user_hub_url=client.config.user_hub_url,
            market_hub_url=client.config.market_hub_url,
            account_ids=account_ids,
            contract_ids=contract_ids,
            on_event=on_event,
            **options,
        )

    # -- subscriptions --------------------------------------------------------------------

    def _user_subscriptions(self) -> list[tuple[str, list[Any]]]:
        calls: list[tuple[str, list[Any]]] = [("SubscribeAccounts", [])]
        for account_id in self.account_ids:
            calls += [
                ("SubscribeOrders", [account_id]),
                ("SubscribePositions", [account_id]),
                ("SubscribeTrades", [account_id]),
            ]
        return calls

    def _contract_subscriptions(
        self, contract_id: str, prefix: str = "Subscribe"
    ) -> list[tuple[str, list[Any]]]:
        calls: list[tuple[str, list[Any]]] = [(f"{prefix}ContractQuotes", [contract_id])]
        if self._market_trades:
            calls.append((f"{prefix}ContractTrades", [contract_id]))
        if self._market_depth:
            calls.append((f"{prefix}ContractMarketDepth", [contract_id]))
        return calls

    def _subscriptions(self, hub: _Hub) -> list[tuple[str, list[Any]]]:
        if hub is self.user:
            return self._user_subscriptions()
        return [c for cid in self.contract_ids for c in self._contract_subscriptions(cid)]

    async def subscribe_contract(self, contract_id: str) -> None:
        """Add a contract to the market hub now and after every reconnect (e.g. a rollover)."""
        if contract_id in self.contract_ids:
            return
        self.contract_ids.append(contract_id)
        await self._send_now(self.market, self._contract_subscriptions(contract_id))

    async def unsubscribe_contract(self, contract_id: str) -> None:
        if contract_id not in self.contract_ids:
            return
        self.contract_ids.remove(contract_id)
        await self._send_now(self.market, self._contract_subscriptions(contract_id, "Unsubscribe"))

    async def _send_now(self, hub: _Hub, calls: list[tuple[str, list[Any]]]) -> None:
        if hub.client is None or not hub.connected.is_set():
            return  # sent on the next connect
        await self._invoke_all(hub, hub.client, calls)

    async def _invoke_all(
        self, hub: _Hub, client: SignalRClient, calls: list[tuple[str, list[Any]]]
    ) -> None:
        """Send every call with an invocation id and wait for the hub's completions, so
        "subscribed" means the hub has processed the subscription (events that follow are ours).
        A refused call is logged; completions are awaited `subscribe_timeout` in all."""
        loop = asyncio.get_running_loop()
        pending: list[tuple[str, list[Any], asyncio.Future[CompletionMessage]]] = []
        for method, args in calls:
            future: asyncio.Future[CompletionMessage] = loop.create_future()

            async def completed(message: Any, future: asyncio.Future = future) -> None:
                if not future.done():
                    future.set_result(message)

            await client.send(method, args, on_invocation=completed)
            pending.append((method, args, future))
        if pending:
            await asyncio.wait([f for _, _, f in pending], timeout=self._subscribe_timeout)
        for method, args, future in pending:
            if not future.done():
                logger.warning("%s hub: no completion for %s%s", hub.name, method, args)
                future.cancel()
            elif getattr(future.result(), "error", None):
                error = future.result().error
                logger.error("%s hub: %s%s refused: %s", hub.name, method, args, error)

    # -- dispatch ---------------------------------------------------------------------------

    async def _emit(self, hub: _Hub, event: HubEvent) -> None:
        hub.stats.events += 1
        try:
            result = self._on_event(event)
            if inspect.isawaitable(result):
                await result
        except Exception:
            hub.stats.handler_errors += 1
            logger.exception("on_event failed for %s", type(event).__name__)

    def _handler(self, hub: _Hub, target: str) -> Callable[[list[Any]], Awaitable[None]]:
        parse = parse_user_event if hub is self.user else parse_market_event

        async def handle(arguments: list[Any]) -> None:
            try:
                events = parse(target, arguments)
            except Exception as exc:  # a raise here would kill pysignalr's receive loop
                hub.stats.malformed += 1
                logger.error("%s hub: dropped malformed %s: %s", hub.name, target, exc)
                return
            for event in events:
                if isinstance(event, QuoteEvent):
                    merged = quote_merge(self.quotes.get(event.quote.contract_id), event.quote)
                    self.quotes[merged.contract_id] = merged
                    event = QuoteEvent(merged, event.received_at)
                seen = _exchange_time(event)
                if seen is not None:
                    contract_id, at = seen
                    latest = self.market_seen_at.get(contract_id)
                    self.market_seen_at[contract_id] = at if latest is None else max(latest, at)
                await self._emit(hub, event)

        return handle

    def request_reconnect(self, hub_name: str, reason: str) -> bool:
        """Rebuild the named hub's connection (fresh negotiate, token and subscriptions). Only a
        connected, subscribed hub is rebuilt; while one is being (re)built the request is refused
        (False): one reconnect at a time."""
        hub = self.market if hub_name == MARKET_HUB else self.user
        if not hub.connected.is_set() or hub.reconnect.is_set():
            return False
        logger.warning("%s hub: reconnect requested (%s)", hub.name, reason)
        hub.reconnect_reason = reason
        hub.reconnect.set()
        return True

    # -- connection -------------------------------------------------------------------------

    def _build(self, hub: _Hub, token: str) -> SignalRClient:
        client = SignalRClient(
            hub_url_with_token(hub.url, token),
            protocol=DecimalJSONProtocol(),
            connection_timeout=self._connect_timeout,
            retry_count=1,  # reconnection is ours (fresh negotiate + token), not pysignalr's
        )
        for target in hub.targets:
            client.on(target, self._handler(hub, target))

        async def on_logout(arguments: list[Any]) -> None:
            logger.warning("%s hub: GatewayLogout received", hub.name)
            hub.logged_out.set()

        async def confirm_subscriptions() -> None:
            try:
                await self._invoke_all(hub, client, self._subscriptions(hub))
            except Exception as exc:  # the connection went away meanwhile; the session retries
                logger.warning("%s hub: subscribing failed: %s", hub.name, redact(str(exc)))
                return
            hub.stats.connects += 1
            hub.connected.set()
            await self._emit(hub, HubStateEvent(hub.name, connected=True))

        async def on_open() -> None:
            # Completions are read by the receive loop, which starts after this callback
            # returns: wait for them in a task of their own.
            hub.subscribing = asyncio.create_task(confirm_subscriptions())

        async def on_close() -> None:
            # Also while still subscribing: the session rebuilds the connection either way
            # (pysignalr's own reconnect would skip negotiate and keep a stale token).
            hub.connected.clear()
            hub.dropped.set()

        async def on_error(message: CompletionMessage) -> None:
            logger.warning("%s hub: invocation failed: %s", hub.name, message.error)

        client.on("GatewayLogout", on_logout)
        client.on_open(on_open)
        client.on_close(on_close)
        client.on_error(on_error)
        return client

    async def _backoff(self, failures: int, stop: asyncio.Event) -> None:
        cap = min(self._backoff_max, self._backoff_base * 2 ** max(0, failures - 1))
        delay = random.uniform(cap / 2, cap)  # noqa: S311 (jitter, not crypto)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)

    async def _watch_token(self, token: str) -> None:
        """Returns when the REST client's token no longer equals `token` (renewed)."""
        while True:
            await asyncio.sleep(self._token_check)
            try:
                current = await asyncio.to_thread(self._tokens.token)
            except GatewayError as exc:
                logger.warning("token check failed: %s", exc)
                continue
            if current != token:
                return

    async def _session(self, hub: _Hub, token: str, stop: asyncio.Event) -> str:
        """Run one connection until it drops, the token changes, the hub logs us out or `stop`.
        Returns why it ended; raises what pysignalr raised."""
        hub.dropped.clear()
        hub.logged_out.clear()
        hub.connected.clear()
        hub.reconnect.clear()
        hub.client = self._build(hub, token)
        waiters = {
            "run": asyncio.create_task(hub.client.run()),
            "dropped": asyncio.create_task(hub.dropped.wait()),
            "logout": asyncio.create_task(hub.logged_out.wait()),
            "reconnect": asyncio.create_task(hub.reconnect.wait()),
            "token": asyncio.create_task(self._watch_token(token)),
            "stop": asyncio.create_task(stop.wait()),
        }
        try:
            done, _ = await asyncio.wait(waiters.values(), return_when=asyncio.FIRST_COMPLETED)
            run = waiters["run"]
            if run in done and run.exception() is not None:
                raise run.exception()  # type: ignore[misc]
            return next(name for name, task in waiters.items() if task in done)
        finally:
            tasks = [*waiters.values(), *([hub.subscribing] if hub.subscribing else [])]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            hub.subscribing = None
            if hub.connected.is_set():
                hub.connected.clear()
            hub.client = None

    async def _invalidate(self, token: str) -> None:
        """The hub refused `token`: have the REST client log in again (a failure here is retried
        by the next connection attempt, never allowed to end the listener)."""
        try:
            await asyncio.to_thread(self._tokens.invalidate_token, token)
        except GatewayError as exc:
            logger.warning("re-login after a refused hub token failed: %s", exc)

    async def _supervise(self, hub: _Hub, stop: asyncio.Event) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                token = await asyncio.to_thread(self._tokens.token)
            except GatewayError as exc:
                failures += 1
                logger.warning("%s hub: no token (%s); retrying", hub.name, exc)
                await self._backoff(failures, stop)
                continue
            started = loop.time()
            connects_before = hub.stats.connects
            try:
                reason = await self._session(hub, token, stop)
            except (AuthorizationError, InvalidStatus) as exc:
                reason = "refused"
                if isinstance(exc, InvalidStatus) and exc.response.status_code != 401:
                    reason = f"http {exc.response.status_code}"
                else:
                    await self._invalidate(token)
            except Exception as exc:  # network errors, server Close with error, ...
                reason = redact(f"{type(exc).__name__}: {exc}")
            if reason == "reconnect":
                reason = f"reconnect requested: {hub.reconnect_reason}"
            if hub.stats.connects > connects_before:
                hub.stats.drops += 1
                await self._emit(hub, HubStateEvent(hub.name, connected=False, reason=reason))
            if reason == "stop":
                return
            if reason == "logout":
                await self._invalidate(token)
            if reason == "token" or reason.startswith("reconnect requested"):
                failures = 0
                continue  # reconnect at once (the old connection is closed by now)
            failures = 1 if loop.time() - started >= self._stable_after else failures + 1
            logger.warning("%s hub: connection ended (%s); reconnecting", hub.name, reason)
            await self._backoff(failures, stop)

    async def run(self, stop: asyncio.Event) -> None:
        """Run both hubs until `stop` is set (the market hub too when it has no contracts yet, so
        `subscribe_contract` takes effect at once)."""
        await asyncio.gather(self._supervise(self.user, stop), self._supervise(self.market, stop))

    async def wait_connected(self, timeout: float) -> None:
        """Wait until both hubs are connected and subscribed (tests, start-up checks)."""
        await asyncio.wait_for(
            asyncio.gather(self.user.connected.wait(), self.market.connected.wait()), timeout
        )


async def run_listeners(listeners: Iterable[HubListener], stop_event: asyncio.Event) -> None:
    """Run many listeners (one per broker login) until `stop_event` is set."""
    await asyncio.gather(*(listener.run(stop_event) for listener in listeners))


def run_listeners_forever(listeners: Sequence[HubListener]) -> None:
    """Blocking entry point for a management command / Procfile process: runs until SIGINT or
    SIGTERM, then closes every hub connection cleanly."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_listeners(listeners, stop)

    asyncio.run(main())
