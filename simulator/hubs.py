"""The user and market hubs: the SignalR JSON hub protocol over aiohttp WebSockets.

What is spoken (docs/projectx-gateway.md §6.4): negotiate (optional for clients; versions 0 and 1
answered as ASP.NET Core does), WebSocket with `access_token` in the query (or an Authorization
header), the `{"protocol":"json","version":N}` handshake (N <= 2, as ASP.NET Core 8+) answered
by `{}`, messages framed by 0x1E (several per frame allowed), invocations with or without
`invocationId` (a Completion answers those that have one), Ping every ~15 s, Close.
Events are pushed as type-1 invocations without an id: user-hub events carry one argument (the
entity), market-hub events two (`contractId`, payload), trades and depth as arrays.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from simulator.wire import dumps

__all__ = ["RS", "HubConnection", "HubManager"]

RS = "\x1e"
log = logging.getLogger("simulator.hubs")

# ASP.NET Core's highest negotiate version (HttpConnectionDispatcher: a higher request is answered
# with this one) and the JSON hub protocol's version: since ASP.NET Core 8 it is 2 and any
# handshake version <= 2 is accepted (`IsVersionSupported(v) => v <= Version`; 3.x accepted only
# 1). Clients such as signalrcore send the negotiate version, 0, as their protocol version.
# Version 2 only adds stateful-reconnect messages, which are off unless negotiate offers them
# (`useStatefulReconnect`), and this server never does.
NEGOTIATE_VERSION = 1
JSON_PROTOCOL_VERSION = 2
_HANDSHAKE_FAILED = (
    "An unexpected error occurred during connection handshake. InvalidDataException: "
)
_ABSENT = object()

_USER_METHODS = {
    "subscribeaccounts": ("accounts", True),
    "unsubscribeaccounts": ("accounts", False),
    "subscribeorders": ("orders", True),
    "unsubscribeorders": ("orders", False),
    "subscribepositions": ("positions", True),
    "unsubscribepositions": ("positions", False),
    "subscribetrades": ("trades", True),
    "unsubscribetrades": ("trades", False),
}
_MARKET_METHODS = {
    "subscribecontractquotes": ("GatewayQuote", True),
    "unsubscribecontractquotes": ("GatewayQuote", False),
    "subscribecontracttrades": ("GatewayTrade", True),
    "unsubscribecontracttrades": ("GatewayTrade", False),
    "subscribecontractmarketdepth": ("GatewayDepth", True),
    "unsubscribecontractmarketdepth": ("GatewayDepth", False),
}


class HubMethodError(Exception):
    """An invocation the hub refuses (bad arguments, someone else's account)."""


@dataclass(eq=False)
class HubConnection:
    hub: str  # "user" | "market"
    user: str
    ws: web.WebSocketResponse
    connection_id: str
    session_id: str = ""  # the token's session: logging it out ends this connection
    account_subs: dict[str, set[int]] = field(default_factory=dict)  # kind -> account ids
    all_accounts: bool = False
    market_subs: dict[str, set[str]] = field(default_factory=dict)  # target -> contract ids
    quotes_sent: dict[str, dict[str, Any]] = field(default_factory=dict)  # contract -> last quote
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)


class HubManager:
    """Tracks hub connections, routes engine events to subscribers, applies hub faults."""

    def __init__(
        self,
        *,
        owns_account: Callable[[str, int], bool],
        resolve_contract: Callable[[str], str | None],
        ping_interval: float = 15.0,
        hub_fault: Callable[[], str | None] = lambda: None,
        now_us: Callable[[], int] = lambda: 0,
    ) -> None:
        self.connections: set[HubConnection] = set()
        self.negotiated: set[str] = set()
        self._owns_account = owns_account
        self._resolve_contract = resolve_contract  # contract id -> product root, None if unknown
        self.ping_interval = ping_interval
        self._hub_fault = hub_fault
        self._now_us = now_us
        # Market switches (docs/gateway-behaviours.md): a feed that freezes while the connection
        # stays open (pings go on), and quotes sent as partial updates.
        self.frozen_until_us = 0
        self.frozen_contracts: set[str] | None = None  # None: every contract
        self.partial_quotes = False

    def freeze_market(self, seconds: float, contracts: list[str] | None = None) -> None:
        """Send no quotes, trades or depth (of `contracts`, else all) for `seconds` of the
        simulator's clock; the connections stay open and keep pinging."""
        self.frozen_until_us = self._now_us() + int(seconds * 1_000_000)
        self.frozen_contracts = {c.upper() for c in contracts} if contracts else None

    def _is_frozen(self, contract_id: str) -> bool:
        if self._now_us() >= self.frozen_until_us:
            return False
        return self.frozen_contracts is None or contract_id.upper() in self.frozen_contracts

    # -- negotiate ----------------------------------------------------------------------------
    def negotiate(self, requested: str | None) -> dict[str, Any]:
        """The negotiate answer of ASP.NET Core (`HttpConnectionDispatcher.ProcessNegotiate` and
        `NegotiateProtocol.WriteResponse`): `negotiateVersion` is always present (0 when the
        client sent none, the server's highest when it asked for more), `connectionToken` only
        from version 1; a version that is not an integer or below 0 gets a body with only
        `error` (still HTTP 200)."""
        version = 0
        if requested is not None:
            try:
                version = int(requested.strip())
            except ValueError:
                return {"error": "The client requested a non-integer protocol version."}
            if version < 0:
                return {
                    "error": f"The client requested version '{version}', but the server does "
                    "not support this version."
                }
            version = min(version, NEGOTIATE_VERSION)
        connection_id = secrets.token_urlsafe(16)
        self.negotiated.add(connection_id)
        body: dict[str, Any] = {"negotiateVersion": version, "connectionId": connection_id}
        if version >= 1:
            # Same value for both: pysignalr sends `id=<connectionId>`, the JS client the token.
            body["connectionToken"] = connection_id
        body["availableTransports"] = [
            {"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}
        ]
        return body

    # -- a connection ---------------------------------------------------------------------------
    async def serve(
        self, request: web.Request, hub: str, user: str, session_id: str = ""
    ) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        conn_id = request.query.get("id") or secrets.token_urlsafe(16)
        self.negotiated.discard(conn_id)
        conn = HubConnection(hub, user, ws, conn_id, session_id)
        writer = asyncio.create_task(self._writer(conn))
        pinger: asyncio.Task[None] | None = None
        buffer = ""
        handshaken = False
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    buffer += msg.data
                elif msg.type == WSMsgType.BINARY:
                    buffer += msg.data.decode("utf-8", errors="replace")
                else:
                    break
                *records, buffer = buffer.split(RS)
                for record in records:
                    if not handshaken:
                        error = _check_handshake(record)
                        if error:
                            await ws.send_str(json.dumps({"error": error}) + RS)
                            return ws
                        handshaken = True
                        await ws.send_str("{}" + RS)
                        self.connections.add(conn)
                        pinger = asyncio.create_task(self._pinger(conn))
                        continue
                    if not await self._on_message(conn, record):
                        return ws
        finally:
            self.connections.discard(conn)
            conn.queue.put_nowait(None)
            if pinger is not None:
                pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
            await ws.close()
        return ws

    async def _writer(self, conn: HubConnection) -> None:
        while True:
            text = await conn.queue.get()
            if text is None or conn.ws.closed:
                return
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    async def _pinger(self, conn: HubConnection) -> None:
        while not conn.ws.closed:
            await asyncio.sleep(self.ping_interval)
            conn.queue.put_nowait('{"type":6}' + RS)

    async def _on_message(self, conn: HubConnection, record: str) -> bool:
        """Handle one framed message; False ends the connection (a Close from the client)."""
        try:
            message = json.loads(record)
        except ValueError:
            await self._close(conn, "Error parsing message: invalid JSON")
            return False
        if not isinstance(message, dict):
            await self._close(conn, "Error parsing message: expected an object")
            return False
        kind = message.get("type")
        if kind == 7:
            return False
        if kind in (6, 2, 5):  # ping, stream items, cancel: nothing to answer
            return True
        if kind not in (1, 4):
            await self._close(conn, f"Unknown message type {kind!r}")
            return False
        invocation_id = message.get("invocationId")
        target = str(message.get("target") or "")
        arguments = message.get("arguments") or []
        try:
            known = self._invoke(conn, target, arguments if isinstance(arguments, list) else [])
        except HubMethodError as exc:
            if invocation_id is not None:
                await self._complete(conn, invocation_id, error=str(exc))
            return True
        if invocation_id is not None:
            if known:
                await self._complete(conn, invocation_id)
            else:
                await self._complete(conn, invocation_id, error=f"Unknown hub method '{target}'")
        return True

    async def _complete(
        self, conn: HubConnection, invocation_id: Any, error: str | None = None
    ) -> None:
        body: dict[str, Any] = {"type": 3, "invocationId": invocation_id}
        if error is None:
            body["result"] = None
        else:
            body["error"] = error
        conn.queue.put_nowait(json.dumps(body) + RS)

    async def _close(self, conn: HubConnection, error: str) -> None:
        conn.queue.put_nowait(json.dumps({"type": 7, "error": error, "allowReconnect": False}) + RS)

    def _invoke(self, conn: HubConnection, target: str, args: list[Any]) -> bool:
        name = target.lower()
        if name == "heartbeat":  # project-x-py's non-standard keep-alive: ignore
            return True
        if conn.hub == "user" and name in _USER_METHODS:
            kind, on = _USER_METHODS[name]
            if kind == "accounts":
                conn.all_accounts = on
                return True
            if not args or isinstance(args[0], bool) or not isinstance(args[0], int | str):
                raise HubMethodError(f"{target} expects an account id")
            try:
                account_id = int(args[0])
            except ValueError:
                raise HubMethodError(f"{target} expects an account id") from None
            if not self._owns_account(conn.user, account_id):
                raise HubMethodError(f"Account {account_id} not found")
            subs = conn.account_subs.setdefault(kind, set())
            (subs.add if on else subs.discard)(account_id)
            return True
        if conn.hub == "market" and name in _MARKET_METHODS:
            event, on = _MARKET_METHODS[name]
            if not args or not isinstance(args[0], str) or self._resolve_contract(args[0]) is None:
                raise HubMethodError(f"{target}: contract not found")
            subs = conn.market_subs.setdefault(event, set())
            (subs.add if on else subs.discard)(args[0])
            return True
        return False

    # -- events -------------------------------------------------------------------------------------
    def dispatch(self, events: list[tuple[str, Any, str, Any]]) -> None:
        """Route engine events (called on the event loop thread, in the engine's order)."""
        if not self.connections:
            return
        for channel, key, target, payload in events:
            if channel == "market":
                self._dispatch_market(key, target, payload)
            else:
                self._dispatch_user(channel, key, target, payload)

    def _dispatch_user(self, channel: str, account_id: int, target: str, payload: Any) -> None:
        text = None
        for conn in self.connections:
            if conn.hub != "user":
                continue
            if channel == "accounts":
                wanted = conn.all_accounts and self._owns_account(conn.user, account_id)
            else:
                wanted = account_id in conn.account_subs.get(channel, ())
            if wanted:
                text = text or dumps({"type": 1, "target": target, "arguments": [payload]}) + RS
                self._send(conn, text)

    def _dispatch_market(self, root: str, target: str, payload: Any) -> None:
        for conn in self.connections:
            if conn.hub != "market":
                continue
            for contract_id in conn.market_subs.get(target, ()):
                if self._resolve_contract(contract_id) != root or self._is_frozen(contract_id):
                    continue
                sent = payload
                if target == "GatewayQuote" and self.partial_quotes:
                    sent = _quote_changes(conn.quotes_sent.setdefault(contract_id, {}), payload)
                message = {"type": 1, "target": target, "arguments": [contract_id, sent]}
                self._send(conn, dumps(message) + RS)

    def _send(self, conn: HubConnection, text: str) -> None:
        fault = self._hub_fault()
        if fault == "drop":
            return
        conn.queue.put_nowait(text)
        if fault == "duplicate":
            conn.queue.put_nowait(text)

    async def logout(self, session_id: str) -> None:
        """The session ended: tell its connections (`GatewayLogout`, as project-x-py expects
        on both hubs) and close them; clients re-login and reconnect."""
        for conn in [c for c in self.connections if c.session_id == session_id]:
            conn.queue.put_nowait(
                dumps({"type": 1, "target": "GatewayLogout", "arguments": []}) + RS
            )
            conn.queue.put_nowait(
                dumps({"type": 7, "error": "Logged out", "allowReconnect": False}) + RS
            )
            conn.queue.put_nowait(None)  # the writer stops after flushing; then close
            self.connections.discard(conn)
            await asyncio.sleep(0)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.ws.close(), 2)

    async def close_all(self, error: str | None = None) -> None:
        """Send Close (allowReconnect) to every client and drop the sockets (a restart)."""
        for conn in list(self.connections):
            body: dict[str, Any] = {"type": 7, "allowReconnect": True}
            if error:
                body["error"] = error
            with contextlib.suppress(Exception):
                await conn.ws.send_str(json.dumps(body) + RS)
                await conn.ws.close()
        self.connections.clear()


_QUOTE_KEYS_ALWAYS_SENT = ("symbol", "timestamp")


def _quote_changes(last_sent: dict[str, Any], quote: dict[str, Any]) -> dict[str, Any]:
    """A partial GatewayQuote as the live hub sends them: only the fields that changed since the
    last quote sent on this connection (the symbol and time stamp always)."""
    changed = {
        key: value
        for key, value in quote.items()
        if key in _QUOTE_KEYS_ALWAYS_SENT or last_sent.get(key, _ABSENT) != value
    }
    last_sent.update(quote)
    return changed


def _check_handshake(record: str) -> str | None:
    """The handshake checks of ASP.NET Core's HubConnectionContext: a request that does not
    parse, then an unknown protocol, then an unsupported version; ASP.NET's texts for the last
    two and for missing properties."""
    try:
        handshake = json.loads(record)
    except ValueError:
        return _HANDSHAKE_FAILED + "Handshake request is not valid JSON."
    if not isinstance(handshake, dict):
        return _HANDSHAKE_FAILED + "Unexpected JSON Token Type. Expected a JSON Object."
    protocol, version = handshake.get("protocol"), handshake.get("version", _ABSENT)
    if not isinstance(protocol, str):
        return _HANDSHAKE_FAILED + "Missing required property 'protocol'."
    if version is _ABSENT:
        return _HANDSHAKE_FAILED + "Missing required property 'version'."
    if isinstance(version, bool) or not isinstance(version, int):
        return _HANDSHAKE_FAILED + "Expected 'version' to be of type Number."
    if protocol != "json":
        return f"The protocol '{protocol}' is not supported."
    if version > JSON_PROTOCOL_VERSION:
        return f"The server does not support version {version} of the 'json' protocol."
    return None
