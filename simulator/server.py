"""The HTTP face of the simulator: REST (`/api/...`), hubs (`/hubs/...`) and a control API.

REST follows docs/projectx-gateway.md §2-5: every business endpoint is a POST with a JSON body;
paths and field names are case-insensitive; failures are HTTP 200 envelopes with the endpoint's
`errorCode`; 401 for a missing/invalid/expired token; 400 ASP.NET problem-details for bodies that
do not bind; 429 (empty body) from per-token sliding windows; nothing a client sends can crash it.

Control API, JSON in and out. It can move the clock, add users and inject faults, so it answers
only a caller sending the configured secret in the `X-Simulator-Secret` header, or, when no
secret is configured, a loopback caller in development (`SimConfig.control_on_loopback`:
DJANGO_DEBUG under `manage.py runsimulator`, always in the test harness); others get 403.
  GET  /_sim/state                       clock, accounts with unrealised P&L, last prices
  POST /_sim/step      {"bars": n} | {"until": iso}
  GET|POST|DELETE /_sim/faults           see `Faults`
  POST /_sim/users     {"name", "apiKey", "balance"?}   -> the user's account
  POST /_sim/accounts  {"user", "balance", "name"?}
  GET|POST /_sim/market {"roll_on"?, "freeze_seconds"?, "freeze_contracts"?, "partial_quotes"?}
                                         the market switches, see `SimServer.set_market`
  POST /_sim/restart                     drop every connection and reload from the store
  POST /_sim/accounts/bracket-mode  {"accountId", "mode": "auto_oco"|"position",
                                     "refusalPlacesEntry"?}   TopstepX bracket setting
  POST /_sim/users/token-ttl  {"user", "seconds"|null}   lifetime of that login's next tokens
  POST /_sim/history/cap      {"bars"}                   History/retrieveBars answers at most this
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from simulator.engine import Engine
from simulator.hubs import HubManager
from simulator.market import Unit, parse_contract_id
from simulator.records import (
    CONTROL_AUTH_HEADER,
    GatewayError,
    NotAuthenticated,
    SimConfig,
    _ts,
)
from simulator.tokens import InvalidToken, TokenExpired
from simulator.wire import BadField, Fields, dumps, render_bars_ok

__all__ = ["Faults", "SimServer"]

log = logging.getLogger("simulator")
MAX_BARS = 20_000
_UNCHANGED = object()
_FINE_UNITS = (1, 2, 7)  # seconds, minutes, ticks: gone once a month has expired (§11)


@dataclass
class Faults:
    """Failures injected on demand. Counts are deterministic (`-1` = until cleared).

    latency_ms      added to every REST and negotiate request
    error_status    HTTP status (e.g. 503) returned by the next `error_count` requests
    hang_count      the next N requests hang `hang_seconds` (a client time-out), then 504
    rate_limit_count  the next N requests get 429
    hub_drop        the next N hub event messages are silently dropped
    hub_duplicate   the next N hub event messages are sent twice
    paths           if set, REST faults apply only to paths containing one of these (lowercase)

    One-shot actions of `SimServer.set_faults`: `expire_tokens`, `disconnect_hubs`, `clear`.
    """

    latency_ms: int = 0
    error_status: int = 503
    error_count: int = 0
    hang_count: int = 0
    hang_seconds: float = 3600.0
    rate_limit_count: int = 0
    hub_drop: int = 0
    hub_duplicate: int = 0
    paths: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def applies(self, path: str) -> bool:
        return not self.paths or any(p in path for p in self.paths)

    @staticmethod
    def take(count: int) -> tuple[bool, int]:
        if count == 0:
            return False, 0
        return True, count if count < 0 else count - 1


class SlidingWindow:
    """At most `limit` events per `seconds` for each key (per token and endpoint group)."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit, self.seconds = limit, seconds
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str, now: float) -> bool:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.seconds:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        return True


def _problem(status: int, title: str, errors: dict[str, list[str]] | None = None) -> web.Response:
    body = {
        "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        "title": title,
        "status": status,
        "errors": errors or {},
        "traceId": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00",
    }
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/problem+json"
    )


def _is_loopback(peer: str | None) -> bool:
    try:
        address = ipaddress.ip_address(peer or "")
    except ValueError:  # no peer address (e.g. a Unix socket) counts as remote
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return (mapped or address).is_loopback


def _ok(payload: dict[str, Any] | None = None) -> web.Response:
    body = {**(payload or {}), "success": True, "errorCode": 0, "errorMessage": None}
    return web.Response(text=dumps(body), content_type="application/json")


def _fail(code: int, message: str, payload: dict[str, Any] | None = None) -> web.Response:
    body = {**(payload or {}), "success": False, "errorCode": code, "errorMessage": message}
    return web.Response(text=dumps(body), content_type="application/json")


class SimServer:
    """One simulator: engine + aiohttp app. `start()` binds, `restart()` reloads from the store."""

    def __init__(self, config: SimConfig, *, ping_interval: float = 15.0) -> None:
        self.config = config
        self.faults = Faults()
        self.engine = Engine(config)
        self.hubs = HubManager(
            owns_account=self._owns_account,
            resolve_contract=self._resolve_contract,
            ping_interval=ping_interval,
            hub_fault=self._hub_fault,
            now_us=lambda: self.engine.now_us,
        )
        self.hubs.partial_quotes = config.partial_quotes
        if config.freeze_market_seconds:
            self.hubs.freeze_market(config.freeze_market_seconds, config.freeze_contracts)
        self.engine.on_events = self.hubs.dispatch
        self._bars_window = SlidingWindow(*config.bars_rate)
        self._general_window = SlidingWindow(*config.general_rate)
        self.app = web.Application(client_max_size=1 << 20)
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._clock_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Future[Any]] = set()
        self.host, self.port = "127.0.0.1", 0
        self._routes = {
            "/api/auth/loginkey": self._login_key,
            "/api/auth/loginapp": self._login_app,
            "/api/auth/validate": self._validate,
            "/api/auth/logout": self._logout,
            "/api/account/search": self._account_search,
            "/api/contract/search": self._contract_search,
            "/api/contract/searchbyid": self._contract_by_id,
            "/api/contract/available": self._contract_available,
            "/api/history/retrievebars": self._retrieve_bars,
            "/api/order/place": self._order_place,
            "/api/order/cancel": self._order_cancel,
            "/api/order/modify": self._order_modify,
            "/api/order/search": self._order_search,
            "/api/order/searchopen": self._order_search_open,
            "/api/order/searchbyid": self._order_by_id,
            "/api/order/v2/query": self._order_query,
            "/api/position/searchopen": self._position_search_open,
            "/api/position/closecontract": self._position_close,
            "/api/position/partialclosecontract": self._position_partial_close,
            "/api/trade/search": self._trade_search,
        }
        self._unknown_error = {  # the UnknownError code of each mutation (for unexpected bugs)
            "/api/order/place": 7,
            "/api/order/cancel": 5,
            "/api/order/modify": 5,
            "/api/position/closecontract": 7,
            "/api/position/partialclosecontract": 8,
            "/api/auth/loginkey": 8,
            "/api/auth/validate": 4,
            "/api/auth/logout": 2,
        }

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._runner = web.AppRunner(
            self.app, handle_signals=False, access_log=None, shutdown_timeout=2.0
        )
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await self._site.start()
        server = self._site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.host, self.port = host, sockets[0].getsockname()[1] if sockets else port
        if self.config.speed is not None:
            self._clock_task = asyncio.create_task(self._run_clock())

    async def stop(self) -> None:
        if self._clock_task is not None:
            self._clock_task.cancel()
            self._clock_task = None
        await self.hubs.close_all("The server is shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.engine.store.close()

    async def restart(self) -> None:
        """What a process restart looks like to clients: sockets drop, state reloads from disk."""
        host, port = self.host, self.port
        await self.stop()
        self.engine = Engine(self.config)
        self.engine.on_events = self.hubs.dispatch
        self.app = web.Application(client_max_size=1 << 20)
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)
        await self.start(host, port)

    async def _run_clock(self) -> None:
        """Real time (speed 1) or accelerated: sim time = anchor + speed x elapsed wall time."""
        speed = float(self.config.speed or 1.0)
        wall0 = time.time()
        sim0 = self.engine.now().timestamp()
        contiguous = not (self.config.replay_mode == "calendar" and self.config.data)
        if speed == 1.0 and contiguous and sim0 < wall0:
            sim0 = wall0  # real time over an always-open market: catch up after a restart
        tick = min(1.0, max(0.02, 2.0 / speed))
        while True:
            target = sim0 + (time.time() - wall0) * speed
            try:
                self.engine.advance_to(datetime.fromtimestamp(target, UTC))
            except Exception:  # the clock must survive a bug in one bar
                log.exception("clock step failed")
            await asyncio.sleep(tick)

    # -- helpers for the hubs --------------------------------------------------------------------
    def _owns_account(self, user: str, account_id: int) -> bool:
        account = self.engine.accounts.get(account_id)
        return account is not None and account.user == user

    def _resolve_contract(self, contract_id: str) -> str | None:
        spec = parse_contract_id(contract_id)
        return spec.contract_id if spec and spec.contract_id in self.engine.series else None

    def _hub_fault(self) -> str | None:
        f = self.faults
        hit, f.hub_drop = Faults.take(f.hub_drop)
        if hit:
            return "drop"
        hit, f.hub_duplicate = Faults.take(f.hub_duplicate)
        return "duplicate" if hit else None

    # -- dispatch --------------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.lower().rstrip("/") or "/"
        try:
            if path.startswith("/_sim"):
                return await self._control(request, path)
            if path.startswith(("/api", "/hubs")):
                injected = await self._inject_fault(path)
                if injected is not None:
                    return injected
            if path.startswith("/hubs/"):
                return await self._hub(request, path)
            if path == "/api/status/ping":
                return web.Response(text="pong", content_type="text/plain")
            handler = self._routes.get(path)
            if handler is None:
                return web.Response(status=404)
            if request.method != "POST":
                return web.Response(status=405, headers={"Allow": "POST"})
            return await self._api(request, path, handler)
        except web.HTTPException:
            raise
        except Exception:  # never crash: log and answer like ASP.NET's exception handler
            log.exception("unhandled error on %s", request.path)
            return web.Response(
                status=500,
                text=dumps(
                    {
                        "success": False,
                        "errorCode": self._unknown_error.get(path, 0),
                        "errorMessage": "An unexpected error occurred in the simulator",
                    }
                ),
                content_type="application/json",
            )

    async def _inject_fault(self, path: str) -> web.Response | None:
        f = self.faults
        if not f.applies(path):
            return None
        if f.latency_ms:
            await asyncio.sleep(f.latency_ms / 1000)
        hit, f.hang_count = Faults.take(f.hang_count)
        if hit:
            await asyncio.sleep(f.hang_seconds)
            return web.Response(status=504)
        hit, f.error_count = Faults.take(f.error_count)
        if hit:
            return web.Response(status=f.error_status, text="Simulated failure")
        hit, f.rate_limit_count = Faults.take(f.rate_limit_count)
        if hit:
            return web.Response(status=429)
        return None

    def _bearer(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            return header[7:].strip() or None
        tokens = request.query.getall("access_token", [])
        return tokens[-1] if tokens else None

    async def _body(self, request: web.Request) -> Fields | web.Response:
        raw = await request.read()
        if not raw.strip():
            return _problem(
                400,
                "One or more validation errors occurred.",
                {"": ["A non-empty request body is required."]},
            )
        try:
            body = json.loads(raw, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError) as exc:
            return _problem(
                400,
                "One or more validation errors occurred.",
                {"$": [f"The JSON value could not be converted: {exc}"]},
            )
        if not isinstance(body, dict):
            return _problem(
                400,
                "One or more validation errors occurred.",
                {"$": ["The JSON value could not be converted to the request model."]},
            )
        return Fields(body)

    async def _api(self, request: web.Request, path: str, handler: Any) -> web.StreamResponse:
        user = None
        if path not in ("/api/auth/loginkey", "/api/auth/loginapp", "/api/auth/validate"):
            token = self._bearer(request)
            try:
                claims = self.engine.authenticate(token, int(time.time()))
            except NotAuthenticated:
                return web.Response(status=401)
            window = (
                self._bars_window if path == "/api/history/retrievebars" else (self._general_window)
            )
            if not window.allow(claims.session_id, time.monotonic()):
                return web.Response(status=429)
            user = claims
        fields = Fields({})
        if path not in ("/api/auth/validate", "/api/auth/logout"):
            parsed = await self._body(request)
            if isinstance(parsed, web.Response):
                return parsed
            fields = parsed
        try:
            return await handler(request, fields, user)
        except BadField as exc:
            return _problem(
                400, "One or more validation errors occurred.", {exc.field: [exc.message]}
            )
        except GatewayError as exc:
            return _fail(exc.code, exc.message, getattr(exc, "payload", None))

    # -- auth ----------------------------------------------------------------------------------------
    async def _login_key(self, request: web.Request, f: Fields, _: Any) -> web.Response:
        try:
            token = self.engine.login(f.str("userName"), f.str("apiKey"), int(time.time()))
        except GatewayError as exc:
            return _fail(exc.code, exc.message, {"token": None})
        return _ok({"token": token})

    async def _login_app(self, request: web.Request, f: Fields, _: Any) -> web.Response:
        # Firm-level app login: the simulator knows no apps.
        return _fail(4, "App not found", {"token": None})

    async def _validate(self, request: web.Request, f: Fields, _: Any) -> web.Response:
        token = self._bearer(request)
        if not token:
            return web.Response(status=401)
        now = int(time.time())
        try:
            claims = self.engine.check_token(token, now)
        except TokenExpired:
            return _fail(3, "The token has expired", {"newToken": None})
        except InvalidToken:
            return web.Response(status=401)
        except GatewayError as exc:
            return _fail(exc.code, exc.message, {"newToken": None})
        new_token = self.engine.login(claims.user, self.engine.users[claims.user]["api_key"], now)
        return _ok({"newToken": new_token})

    async def _logout(self, request: web.Request, f: Fields, user: Any) -> web.Response:
        self.engine.logout(user)
        self._spawn(self.hubs.logout(user.session_id))  # the reply need not wait for sockets
        return _ok()

    # -- reads ----------------------------------------------------------------------------------------
    async def _account_search(self, request: web.Request, f: Fields, user: Any) -> web.Response:
        return _ok(
            {"accounts": self.engine.account_list(user.user, bool(f.bool("onlyActiveAccounts")))}
        )

    async def _contract_search(self, request: web.Request, f: Fields, user: Any) -> web.Response:
        f.bool("live")
        return _ok({"contracts": self.engine.contracts(f.str("searchText"))[:20]})

    async def _contract_available(self, request: web.Request, f: Fields, user: Any) -> web.Response:
        f.bool("live")
        return _ok({"contracts": self.engine.contracts(None)})

    async def _contract_by_id(self, request: web.Request, f: Fields, user: Any) -> web.Response:
        try:
            spec, contract_id = self.engine.contract(f.str("contractId"))
        except GatewayError as exc:
            return _fail(exc.code, exc.message, {"contract": None})
        payload = self.engine.contract_payload(spec, contract_id)
        return _ok({"contract": payload, "contracts": [payload]})

    async def _retrieve_bars(self, request: web.Request, f: Fields, user: Any) -> web.Response:
        empty = {"bars": None}
        try:
            spec, _ = self.engine.contract(f.str("contractId"))
        except GatewayError as exc:
            return _fail(exc.code, exc.message, empty)
        unit, number, limit = f.int("unit", 0), f.int("unitNumber", 0), f.int("limit", 0)
        if unit not in range(1, 8):
            return _fail(2, f"Invalid unit {unit}", empty)
        if number < 1:
            return _fail(3, f"Invalid unitNumber {number}", empty)
        if unit in _FINE_UNITS and self.engine.is_expired(f.str("contractId")):
            return _ok({"bars": []})  # an expired month keeps only hourly and daily history
        if limit < 1 or limit > MAX_BARS:
            return _fail(4, f"Invalid limit {limit}: must be 1..{MAX_BARS}", empty)
        start, end = f.ts("startTime"), f.ts("endTime")
        now = self.engine.now()
        end = min(end or now, now)
        start = start or datetime.fromtimestamp(0, UTC)
        if start > end:
            return _ok({"bars": []})
        bars = self.engine.history(
            spec.contract_id,
            start,
            end,
            Unit(unit, number),
            min(limit, self.config.bars_cap),  # the cap holds whatever the client asks
            bool(f.bool("includePartialBar")),
        )
        return web.Response(text=render_bars_ok(bars), content_type="application/json")

    # -- orders ---------------------------------------------------------------------------------------
    async def _order_place(self, request: web.Request, f: Fields, user: Any) -> web.Response:
        try:
            order_id = self.engine.place_order(user.user, f)
        except GatewayError as exc:
            return _fail(exc.code, exc.message, {"orderId": None, **(exc.payload or {})})
        return _ok({"orderId": order_id})

    async def _order_cancel(self, request: web.Request, f: Fields, user: Any) -> web.Response:
        self.engine.cancel_order(user.user, f)
        return _ok()

    async def _order_modify(self, request: web.Request, f: Fields, user: Any) -> web.Response:
        self.engine.modify_order(user.user, f)
        return _ok()

    async def _order_search(self, request: web.Request, f: Fields, user: Any) -> web.Response:
        try:
            return _ok({"orders": self.engine.order_search(user.user, f)})
        except GatewayError as exc:
            return _fail(exc.code, exc.message, {"orders": None})

    async def _order_search_open(self, request: web.Request, f: Fields, user: Any) -> web.Response:
        try:
            return _ok({"orders": self.engine.order_search_open(user.user, f)})
        except GatewayError as exc:
            return _fail(exc.code, exc.message, {"orders": None})

    async def _order_by_id(self, request: web.Request, f: Fields, user: Any) -> web.Response:
        try:
            return _ok({"order": self.engine.order_by_id(user.user, f)})
        except GatewayError as exc:
            return _fail(1, exc.message, {"order": None})  # AccountNotFound folds into NotFound

    async def _order_query(self, request: web.Request, f: Fields, user: Any) -> web.Response:
        try:
            orders, total = self.engine.order_query(user.user, f)
        except GatewayError as exc:
            return _fail(exc.code, exc.message, {"orders": None})
        payload: dict[str, Any] = {"orders": orders}
        if f.bool("includeTotalCount"):
            payload["totalCount"] = total
        return _ok(payload)

    # -- positions & trades ----------------------------------------------------------------------
    async def _position_search_open(
        self, request: web.Request, f: Fields, user: Any
    ) -> web.Response:
        try:
            return _ok({"positions": self.engine.positions_open(user.user, f)})
        except GatewayError as exc:
            return _fail(exc.code, exc.message, {"positions": None})

    async def _position_close(self, request: web.Request, f: Fields, user: Any) -> web.Response:
        self.engine.close_position(user.user, f, partial=False)
        return _ok()

    async def _position_partial_close(
        self, request: web.Request, f: Fields, user: Any
    ) -> web.Response:
        self.engine.close_position(user.user, f, partial=True)
        return _ok()

    async def _trade_search(self, request: web.Request, f: Fields, user: Any) -> web.Response:
        try:
            return _ok({"trades": self.engine.trade_search(user.user, f)})
        except GatewayError as exc:
            return _fail(exc.code, exc.message, {"trades": None})

    # -- hubs -------------------------------------------------------------------------------------------
    async def _hub(self, request: web.Request, path: str) -> web.StreamResponse:
        parts = path.split("/")  # ["", "hubs", name, ("negotiate")?]
        if len(parts) not in (3, 4) or parts[2] not in ("user", "market"):
            return web.Response(status=404)
        token = self._bearer(request)
        try:
            claims = self.engine.authenticate(token, int(time.time()))
        except NotAuthenticated:
            return web.Response(status=401)
        if len(parts) == 4:
            if parts[3] != "negotiate" or request.method != "POST":
                return web.Response(status=404)
            # ASP.NET Core reads query keys case-insensitively.
            requested = next(
                (v for k, v in request.query.items() if k.lower() == "negotiateversion"), None
            )
            return web.json_response(self.hubs.negotiate(requested))
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.Response(status=400, text="Connection ID required")
        return await self.hubs.serve(request, parts[2], claims.user, claims.session_id)

    # -- control API -------------------------------------------------------------------------------
    def _control_allowed(self, request: web.Request) -> bool:
        secret = self.config.control_secret
        if secret:
            sent = request.headers.get(CONTROL_AUTH_HEADER, "")
            return secrets.compare_digest(sent.encode(), secret.encode())
        return self.config.control_on_loopback and _is_loopback(request.remote)

    async def _control(self, request: web.Request, path: str) -> web.Response:
        if not self._control_allowed(request):
            return web.json_response(
                {
                    "error": f"the control API needs the {CONTROL_AUTH_HEADER} header "
                    "(SIMULATOR_CONTROL_SECRET); without a secret it answers only loopback "
                    "callers in development"
                },
                status=403,
            )
        body: dict[str, Any] = {}
        if request.method in ("POST", "PUT"):
            raw = await request.read()
            try:
                body = json.loads(raw or b"{}", parse_float=Decimal)
            except ValueError:
                return web.json_response({"error": "invalid JSON"}, status=400)
            if not isinstance(body, dict):
                return web.json_response({"error": "expected an object"}, status=400)
        try:
            result = await self.control(path.removeprefix("/_sim"), request.method, body)
        except (ValueError, TypeError, KeyError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if result is None:
            return web.Response(status=404)
        return web.Response(text=dumps(result), content_type="application/json")

    async def control(self, what: str, method: str, body: dict[str, Any]) -> Any:
        """The control API, callable in-process (the harness) or over HTTP."""
        engine = self.engine
        if what == "/state":
            return engine.state()
        if what == "/step" and method == "POST":
            if body.get("until"):
                from simulator.wire import parse_ts

                engine.step_until(parse_ts(body["until"]))
                return engine.state()
            played = engine.step(int(body.get("bars", 1)))
            return {**engine.state(), "played": played}
        if what == "/faults":
            if method == "DELETE":
                self.faults = Faults()
            elif method == "POST":
                self.set_faults(**body)
            return self.faults.as_dict()
        if what == "/market":
            if method == "POST":
                self.set_market(**body)
            return self.market_switches()
        if what == "/users" and method == "POST":
            balance = body.get("balance")
            account = engine.add_user(
                str(body["name"]),
                str(body["apiKey"]),
                balance=None if balance is None else Decimal(str(balance)),
            )
            return engine.account_payload(account)
        if what == "/accounts" and method == "POST":
            account = engine.add_account(
                str(body["user"]), Decimal(str(body.get("balance", 50000))), body.get("name")
            )
            return engine.account_payload(account)
        if what == "/accounts/bracket-mode" and method == "POST":
            account = engine.account_set_bracket_mode(
                int(body["accountId"]),
                str(body["mode"]),
                refusal_places_entry=bool(body.get("refusalPlacesEntry", False)),
            )
            return engine.account_payload(account) | {
                "bracketMode": account.bracket_mode,
                "refusalPlacesEntry": account.bracket_refusal_places_entry,
            }
        if what == "/users/token-ttl" and method == "POST":
            ttl = body.get("seconds")
            engine.user_set_token_ttl(str(body["user"]), None if ttl is None else int(ttl))
            return {"user": body["user"], "seconds": ttl}
        if what == "/history/cap" and method == "POST":
            cap = int(body["bars"])
            if not 1 <= cap <= MAX_BARS:
                raise ValueError(f"the bars cap must be 1..{MAX_BARS}")
            self.config.bars_cap = cap
            return {"bars": cap}
        if what == "/restart" and method == "POST":
            # after this response is sent: restarting tears down the server answering it
            asyncio.get_running_loop().call_soon(lambda: self._spawn(self.restart()))
            return {"restarting": True}
        return None

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)  # keep a reference until done (asyncio holds weak refs)
        task.add_done_callback(self._background.discard)

    def set_market(
        self,
        *,
        roll_on: str | date | object | None = _UNCHANGED,
        freeze_seconds: float | None = None,
        freeze_contracts: list[str] | None = None,
        partial_quotes: bool | None = None,
    ) -> dict[str, Any]:
        """The market switches (docs/gateway-behaviours.md): `roll_on` (a date, or None for the
        calendar rule) moves the next roll; `freeze_seconds` freezes the market hub's quotes,
        trades and depth (of `freeze_contracts`, else all) for that many seconds of the clock
        while connections stay open (0 thaws); `partial_quotes` sends only changed quote fields."""
        if roll_on is not _UNCHANGED:
            self.config.roll_on = (
                date.fromisoformat(roll_on) if isinstance(roll_on, str) else roll_on
            )
        if freeze_seconds is not None:
            self.hubs.freeze_market(float(freeze_seconds), freeze_contracts)
        if partial_quotes is not None:
            self.hubs.partial_quotes = bool(partial_quotes)
        return self.market_switches()

    def market_switches(self) -> dict[str, Any]:
        hubs = self.hubs
        frozen = self.engine.now_us < hubs.frozen_until_us
        return {
            "rollOn": self.config.roll_on.isoformat() if self.config.roll_on else None,
            "frozenUntil": _ts(hubs.frozen_until_us) if frozen else None,
            "frozenContracts": sorted(hubs.frozen_contracts or []) if frozen else [],
            "partialQuotes": hubs.partial_quotes,
        }

    def set_faults(self, **changes: Any) -> Faults:
        """Update faults. One-shot actions: `expire_tokens=True` expires every token issued so
        far; `disconnect_hubs=True` closes every hub connection; `clear=True` resets all."""
        if changes.pop("expire_tokens", False):
            self.engine.expire_tokens(int(time.time()))
        if changes.pop("disconnect_hubs", False):  # every hub socket drops (Close, reconnect ok)
            self._spawn(self.hubs.close_all("Simulated disconnect"))
        if changes.pop("clear", False):
            self.faults = Faults()
        for key, value in changes.items():
            if not hasattr(self.faults, key):
                raise ValueError(f"unknown fault {key!r}; known: {sorted(Faults().as_dict())}")
            setattr(self.faults, key, value)
        return self.faults
