"""Synchronous ProjectX Gateway REST client (httpx).

One `GatewayClient` per broker login. It is thread-safe (the hub process calls it from worker
threads) and keeps its session token fresh by itself: a login on first use, Auth/validate before the
JWT's `exp` (or every `token_validate_every`), a fresh login when validate fails, and exactly one
re-login and replay when a call is answered 401.

Retries: reads and other idempotent calls are retried with exponential back-off and full jitter on
timeouts, connection errors, 5xx and 429 (a 429 holds the whole user/group back through the shared
rate limiter, honouring Retry-After). Mutations are never retried blindly:

- `place_order` reconciles by customTag (see its docstring).
- `cancel_order` / `modify_order` / `close_position` read the order/position before trying again.
- `partial_close_position` is not retried at all (its effect cannot be told apart from a concurrent
  fill), and raises `OutcomeUncertain`.

The API key and the token never reach a log line, an exception message or a repr.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from execution.gateway.auth import SessionToken, renewal_due
from execution.gateway.config import Credentials, GatewayConfig
from execution.gateway.errors import (
    AuthenticationFailed,
    BrokerRejected,
    BrokerUnavailable,
    InvalidRequest,
    MalformedResponse,
    OrderStateConflict,
    OrderSubmissionUncertain,
    OutcomeUncertain,
    RateLimited,
)
from execution.gateway.metrics import MetricsSink, NullMetrics, Outcome
from execution.gateway.ratelimit import RateLimiter, UnlimitedRateLimiter, broker_scope
from execution.gateway.types import (
    Account,
    Bar,
    BarUnit,
    Contract,
    HalfTrade,
    ModifyOrderRequest,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    PlacedOrder,
    PlaceOrderRequest,
    Position,
    PositionType,
    decode_json,
    encode_json,
    format_timestamp,
    new_custom_tag,
    parse_list,
)

logger = logging.getLogger("execution.gateway")

LOGIN = "Auth/loginKey"
VALIDATE = "Auth/validate"


class _Unauthorized(Exception):
    """HTTP 401 on an authenticated call (internal: triggers the one re-login)."""

    def __init__(self, token: str) -> None:
        super().__init__("401")
        self.token = token


class _BrokerThrottled(RateLimited):
    """HTTP 429 from the broker itself (as opposed to our own budget running out)."""


class _MutationUnauthorized(BrokerUnavailable):
    """A mutation answered 401. The session is renewed but the call is not replayed: the caller
    reads the broker's state first, as after any failure in transit (Order/place: by customTag)."""


def _retry_after_seconds(response: httpx.Response, default: float) -> float:
    """Retry-After as seconds (delta-seconds or an HTTP date); `default` when absent/garbled."""
    value = response.headers.get("Retry-After")
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from email.utils import parsedate_to_datetime

        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return default


class GatewayClient:
    """The ProjectX Gateway REST API for one broker login.

    `rate_limiter` should be a `RedisRateLimiter` shared by every process using this login;
    `metrics` a `RedisMetrics`. `clock` and `sleep` exist for tests.
    """

    def __init__(
        self,
        config: GatewayConfig,
        credentials: Credentials,
        *,
        rate_limiter: RateLimiter | None = None,
        metrics: MetricsSink | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self._credentials = credentials
        self._limiter: RateLimiter = rate_limiter or UnlimitedRateLimiter(sleep)
        self._metrics: MetricsSink = metrics or NullMetrics()
        self._clock = clock
        self._sleep = sleep
        self._scope = broker_scope(config.api_root, credentials.username)
        self._token: SessionToken | None = None
        self._token_lock = threading.RLock()
        # Set when the gateway turns out to cap History/retrieveBars below what we ask.
        self.bars_cap_learnt: int | None = None
        self._http = httpx.Client(
            base_url=config.api_root + "/",
            timeout=httpx.Timeout(config.timeout_seconds, connect=config.connect_timeout_seconds),
            # retries=1 re-tries only failed connects (nothing was sent), safe for mutations too
            transport=transport or httpx.HTTPTransport(retries=1),
            headers={"Accept": "application/json", "Content-Type": "application/json"},
        )

    def __repr__(self) -> str:
        return f"GatewayClient({self.config.api_root!r}, user={self._credentials.username!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def scope(self) -> str:
        """The rate-limit scope of this login (a hash; safe to log)."""
        return self._scope

    # ------------------------------------------------------------------------------ tokens

    def token(self) -> str:
        """A session token valid for at least `token_refresh_margin` (logs in or renews first).

        The hub process uses this to (re)connect; a changed value means the hubs must reconnect.
        """
        with self._token_lock:
            now = self._clock()
            if self._token is None:
                self._login()
            elif renewal_due(
                self._token,
                now,
                refresh_margin=self.config.token_refresh_margin,
                validate_every=self.config.token_validate_every,
                busy=self.config.busy_windows,
            ):
                self._renew()
            assert self._token is not None
            return self._token.value

    @property
    def token_expires_at(self) -> datetime | None:
        return self._token.expires_at if self._token else None

    def _issue(self, value: str) -> SessionToken:
        return SessionToken.issue(
            value, now=self._clock(), fallback_lifetime=self.config.token_fallback_lifetime
        )

    def _login(self) -> None:
        body = {"userName": self._credentials.username, "apiKey": self._credentials.api_key}
        try:
            payload = self._call(LOGIN, body, authenticated=False)
        except BrokerRejected as exc:
            raise AuthenticationFailed(
                f"login refused for {self._credentials.username!r}: {exc.error_name}",
                error_code=exc.error_code,
            ) from None
        token = payload.get("token")
        if not isinstance(token, str) or not token:
            raise MalformedResponse(f"{LOGIN}: missing required field 'token'")
        self._token = self._issue(token)
        logger.info(
            "gateway login ok user=%s expires_at=%s",
            self._credentials.username,
            self._token.expires_at.isoformat(),
        )

    def _renew(self) -> None:
        """Auth/validate and swap in `newToken`; a fresh login if validate is refused or leaves a
        token too close to expiry. A gateway outage keeps a still-usable token."""
        assert self._token is not None
        current = self._token
        try:
            payload = self._call(VALIDATE, {}, token=current.value)
        except (BrokerRejected, AuthenticationFailed):
            logger.info("gateway validate refused; logging in again")
            self._login()
            return
        except (BrokerUnavailable, RateLimited):
            if current.is_usable(self._clock(), refresh_margin=self.config.token_refresh_margin):
                logger.warning("gateway validate failed in transit; keeping the current token")
                return
            raise
        new_value = payload.get("newToken")
        if isinstance(new_value, str) and new_value:
            self._token = self._issue(new_value)
        else:
            self._token = replace(current, obtained_at=self._clock())
        if not self._token.is_usable(
            self._clock(), refresh_margin=self.config.token_refresh_margin
        ):
            self._login()

    def invalidate_token(self, token: str) -> None:
        """Someone (a hub) saw `token` refused: log in again unless it was already replaced."""
        self._after_unauthorized(token)

    def _after_unauthorized(self, rejected_token: str) -> None:
        """A 401: log in again unless another thread already replaced the rejected token."""
        with self._token_lock:
            if self._token is not None and self._token.value != rejected_token:
                return
            logger.info("gateway answered 401; logging in again")
            self._token = None
            self._login()

    def logout(self) -> None:
        """Auth/logout, ending the session (the next call logs in again)."""
        with self._token_lock:
            if self._token is None:
                return
            try:
                self._call("Auth/logout", {}, token=self._token.value)
            finally:
                self._token = None

    # ----------------------------------------------------------------------- transport core

    def _send(self, endpoint: str, body: Mapping[str, Any], token: str | None) -> dict[str, Any]:
        """One HTTP attempt: budget, POST, classify. Records exactly one metric."""
        # Logins draw from the budget too, so a 429 holds them back like everything else.
        self._limiter.acquire(
            self._scope, endpoint, wait_seconds=self.config.rate_limit_wait_seconds
        )
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        started = time.perf_counter()

        def record(outcome: Outcome) -> None:
            self._metrics.record(
                endpoint, outcome=outcome, latency_seconds=time.perf_counter() - started
            )

        try:
            response = self._http.post(endpoint, content=encode_json(body), headers=headers)
        except httpx.TimeoutException as exc:
            record(Outcome.UNAVAILABLE)
            raise BrokerUnavailable(
                f"{endpoint}: timed out ({type(exc).__name__})", endpoint=endpoint
            ) from None
        except httpx.TransportError as exc:
            record(Outcome.UNAVAILABLE)
            raise BrokerUnavailable(
                f"{endpoint}: connection failed ({type(exc).__name__})", endpoint=endpoint
            ) from None
        status = response.status_code
        logger.debug(
            "gateway %s -> %s in %.1f ms", endpoint, status, response.elapsed.total_seconds() * 1000
        )
        if status == 401:
            record(Outcome.AUTH_FAILED)
            if token is None:
                raise AuthenticationFailed(f"{endpoint}: 401 Unauthorized")
            raise _Unauthorized(token)
        if status == 429:
            record(Outcome.RATE_LIMITED)
            wait = _retry_after_seconds(response, self.config.default_retry_after_seconds)
            self._limiter.report_throttled(self._scope, endpoint, wait)
            logger.warning("gateway %s throttled (429); group held back %.1fs", endpoint, wait)
            raise _BrokerThrottled(
                f"{endpoint}: 429 Too Many Requests", endpoint=endpoint, retry_after_seconds=wait
            )
        if status >= 500 or status == 408:
            record(Outcome.UNAVAILABLE)
            raise BrokerUnavailable(
                f"{endpoint}: HTTP {status}", endpoint=endpoint, status_code=status
            )
        if status >= 400:
            # 400 = ASP.NET model validation of our body: a bug on our side, not transient.
            record(Outcome.REJECTED)
            raise BrokerRejected(endpoint, -status, _problem_text(response))
        try:
            payload = decode_json(response.content)
            if not isinstance(payload, dict):
                raise MalformedResponse(f"{endpoint}: expected a JSON object")
            _check_envelope(endpoint, payload)
        except MalformedResponse:
            record(Outcome.MALFORMED)
            raise
        except BrokerRejected:
            record(Outcome.REJECTED)
            raise
        record(Outcome.OK)
        return payload

    def _call(
        self,
        endpoint: str,
        body: Mapping[str, Any],
        *,
        authenticated: bool = True,
        idempotent: bool = True,
        token: str | None = None,
    ) -> dict[str, Any]:
        """One logical call: retries transient failures when `idempotent`. A 401 renews the
        session once; a read is then replayed once, a mutation never (`_MutationUnauthorized`:
        its caller looks at the broker's state before doing anything again)."""
        attempt = 0
        reauthenticated = False
        while True:
            attempt += 1
            presented = token if token is not None else (self.token() if authenticated else None)
            try:
                return self._send(endpoint, body, presented)
            except _Unauthorized as exc:
                if token is not None:
                    raise AuthenticationFailed(f"{endpoint}: 401 Unauthorized") from None
                if reauthenticated:
                    raise AuthenticationFailed(f"{endpoint}: 401 after a fresh login") from None
                reauthenticated = True
                attempt -= 1
                self._after_unauthorized(exc.token)
                if not idempotent:
                    raise _MutationUnauthorized(
                        f"{endpoint}: 401 Unauthorized; session renewed, not replayed",
                        endpoint=endpoint,
                        status_code=401,
                    ) from None
            except _BrokerThrottled:
                # The limiter now holds the group back; the next acquire waits (or raises).
                if not idempotent or attempt >= self.config.max_attempts:
                    raise
            except BrokerUnavailable as exc:
                if not idempotent or attempt >= self.config.max_attempts:
                    raise
                delay = self._backoff(attempt)
                logger.warning(
                    "gateway %s failed (%s); retry %d in %.2fs", endpoint, exc, attempt, delay
                )
                self._sleep(delay)

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform(0, min(cap, base * 2**(attempt-1)))."""
        cap = min(
            self.config.backoff_max_seconds, self.config.backoff_base_seconds * 2 ** (attempt - 1)
        )
        return random.uniform(0, cap)  # noqa: S311 (jitter, not crypto)

    # ----------------------------------------------------------------------------- health

    def ping(self) -> bool:
        """GET Status/ping -> True when the gateway answers "pong" (unauthenticated)."""
        try:
            response = self._http.get("Status/ping")
        except httpx.TransportError:
            return False
        return response.status_code == 200 and "pong" in response.text.lower()

    # --------------------------------------------------------------------------- accounts

    def search_accounts(self, *, only_active: bool = True) -> list[Account]:
        payload = self._call("Account/search", {"onlyActiveAccounts": only_active})
        return parse_list(payload, "accounts", Account.from_json, "Account/search")

    # -------------------------------------------------------------------------- contracts

    def search_contracts(self, search_text: str, *, live: bool = False) -> list[Contract]:
        payload = self._call("Contract/search", {"searchText": search_text, "live": live})
        return parse_list(payload, "contracts", Contract.from_json, "Contract/search")

    def contract_by_id(self, contract_id: str) -> Contract:
        """Contract/searchById. Not found -> BrokerRejected with error_name "ContractNotFound"."""
        payload = self._call("Contract/searchById", {"contractId": contract_id})
        single = payload.get("contract")
        if single is None:
            # The docs page shows a `contracts` array; Swagger and the SDKs a single object.
            listed = parse_list(payload, "contracts", Contract.from_json, "Contract/searchById")
            if not listed:
                raise MalformedResponse("Contract/searchById: missing required field 'contract'")
            return listed[0]
        return Contract.from_json(single)

    def available_contracts(self, *, live: bool = False) -> list[Contract]:
        payload = self._call("Contract/available", {"live": live})
        return parse_list(payload, "contracts", Contract.from_json, "Contract/available")

    # ---------------------------------------------------------------------------- history

    def retrieve_bars(
        self,
        contract_id: str,
        *,
        start: datetime,
        end: datetime,
        unit: BarUnit,
        unit_number: int = 1,
        live: bool = False,
        include_partial_bar: bool = False,
        page_size: int | None = None,
    ) -> list[Bar]:
        """Bars in [start, end], ascending by open time, paging backwards past the per-call cap.

        The gateway returns the newest `limit` bars newest-first; when a page is full we move
        `endTime` just below the oldest bar seen and ask again until a short page or `start`.
        A gateway whose cap is below what we ask answers full pages that look short: a short
        page that stops a bar or more after `start` is followed by one more request, and if
        that finds older bars the cap is learnt (`bars_cap_learnt`) and paging goes on at it.
        Every page draws on the bars budget (the shared limiter), so a long read waits its turn.
        """
        if start > end:
            raise InvalidRequest(f"start {start} is after end {end}")
        if unit_number < 1:
            raise InvalidRequest("unit_number must be >= 1")
        if page_size is not None and not 1 <= page_size <= self.config.max_bars_per_call:
            raise InvalidRequest(f"page_size must be 1..{self.config.max_bars_per_call}")
        limit = page_size or self.config.max_bars_per_call
        if self.bars_cap_learnt is not None:
            limit = min(limit, self.bars_cap_learnt)
        bars: dict[datetime, Bar] = {}
        page_end = end
        probing = False  # the request after a short page: is the gateway's cap below `limit`?
        previous_length = 0
        while True:
            payload = self._call(
                "History/retrieveBars",
                {
                    "contractId": contract_id,
                    "live": live,
                    "startTime": format_timestamp(start),
                    "endTime": format_timestamp(page_end),
                    "unit": int(unit),
                    "unitNumber": unit_number,
                    "limit": limit,
                    "includePartialBar": include_partial_bar,
                },
            )
            page = parse_list(payload, "bars", Bar.from_json, "History/retrieveBars")
            fresh = [bar for bar in page if bar.opened_at not in bars]
            for bar in fresh:
                bars[bar.opened_at] = bar
            if not fresh:
                break
            if probing:  # older bars existed: the previous short page was the gateway's cap
                limit = self.bars_cap_learnt = previous_length
                logger.warning("gateway History/retrieveBars caps pages at %d bars", limit)
            oldest = min(bar.opened_at for bar in page)
            if oldest <= start:
                break
            probing = len(page) < limit
            if probing and oldest - start < _unit_span(unit, unit_number):
                break  # a short page that reaches `start`: no bar can open before `oldest`
            previous_length = len(page)
            # Whether endTime is inclusive is undocumented: step just below the oldest bar so
            # an inclusive server does not resend it (bars sit on unit boundaries).
            page_end = oldest - timedelta(microseconds=1)
        return sorted(
            (bar for bar in bars.values() if start <= bar.opened_at <= end),
            key=lambda bar: bar.opened_at,
        )

    # ----------------------------------------------------------------------------- orders

    def search_orders(
        self, account_id: int, *, start: datetime, end: datetime | None = None
    ) -> list[Order]:
        body: dict[str, Any] = {"accountId": account_id, "startTimestamp": format_timestamp(start)}
        if end is not None:
            body["endTimestamp"] = format_timestamp(end)
        payload = self._call("Order/search", body)
        return parse_list(payload, "orders", Order.from_json, "Order/search")

    def search_open_orders(self, account_id: int) -> list[Order]:
        """Working orders (the gateway leaves out Suspended bracket children)."""
        payload = self._call("Order/searchOpen", {"accountId": account_id})
        return parse_list(payload, "orders", Order.from_json, "Order/searchOpen")

    def query_orders(
        self,
        account_id: int,
        *,
        statuses: Iterable[OrderStatus] = (),
        contract_id: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        page_size: int | None = None,
        page_offset: int = 0,
        newest_first: bool = False,
    ) -> tuple[list[Order], int | None]:
        """Order/v2/query (one source only, §3): filtered, paged, and able to return Suspended
        bracket children that searchOpen leaves out. Returns (orders, total count if sent)."""
        query: dict[str, Any] = {"accountId": account_id}
        if statuses:
            query["statuses"] = [int(s) for s in statuses]
        if contract_id is not None:
            query["contractId"] = contract_id
        if created_after is not None:
            query["createdAfter"] = format_timestamp(created_after)
        if created_before is not None:
            query["createdBefore"] = format_timestamp(created_before)
        body: dict[str, Any] = {
            "filter": query,
            "pageOffset": page_offset,
            "sortBy": 0,
            "sortDirection": 1 if newest_first else 0,
            "includeTotalCount": True,
        }
        if page_size is not None:
            body["pageSize"] = page_size
        payload = self._call("Order/v2/query", body)
        total = payload.get("totalCount")
        orders = parse_list(payload, "orders", Order.from_json, "Order/v2/query")
        return orders, total if isinstance(total, int) and not isinstance(total, bool) else None

    def order_by_id(self, account_id: int, order_id: int) -> Order:
        """Order/searchById. Not found -> BrokerRejected with error_name "OrderNotFound"."""
        payload = self._call("Order/searchById", {"accountId": account_id, "orderId": order_id})
        if payload.get("order") is None:
            raise MalformedResponse("Order/searchById: missing required field 'order'")
        return Order.from_json(payload["order"])

    def find_order_by_custom_tag(
        self, account_id: int, custom_tag: str, *, since: datetime
    ) -> Order | None:
        """The order carrying `custom_tag` created since `since`, or None (a definite answer:
        the search itself succeeded)."""
        for order in self.search_orders(account_id, start=since):
            if order.custom_tag == custom_tag:
                return order
        return None

    def place_order(self, request: PlaceOrderRequest) -> PlacedOrder:
        """Order/place, at most once per customTag.

        The customTag (generated when the request has none) is the idempotency key: the gateway
        requires it to be unique within the account. If a place fails in transit (timeout,
        connection error, 5xx, 429, garbled answer) its outcome is unknown, so we never simply send it again:

        1. search the account's recent orders (Order/search over `place_lookup_window`) for the
           tag and return that order (`recovered=True`) if it exists;
        2. only when that search succeeds and certainly shows no such order do we place again,
           with the SAME tag, so a first attempt that lands late is refused as a duplicate
           rather than doubled; a rejection of a re-place is checked against the tag once more;
        3. if the search itself fails, or attempts run out after a failure that may have reached
           the broker, raise `OrderSubmissionUncertain` (carrying the tag) for the caller to
           reconcile later (hub events, Order/search). A broker rejection is raised as
           `BrokerRejected` and is final.
        """
        if request.custom_tag is None:
            request = request.with_custom_tag(new_custom_tag())
        tag = request.custom_tag
        assert tag is not None
        body = request.to_json(signed_bracket_ticks=self.config.signed_bracket_ticks)
        since = self._clock() - self.config.place_lookup_window
        last_error: Exception | None = None
        for attempt in range(1, self.config.place_max_attempts + 1):
            try:
                payload = self._call("Order/place", body, idempotent=False)
            except BrokerRejected:
                if attempt == 1:
                    raise
                found = self._lookup_tag(request.account_id, tag, since, last_error)
                if found is not None:
                    return PlacedOrder(found.id, tag, recovered=True)
                raise
            except (BrokerUnavailable, RateLimited, MalformedResponse) as exc:
                # (a garbled 200 reached the gateway: as unknown as a timeout)
                last_error = exc
                refused_locally = isinstance(exc, RateLimited) and not isinstance(
                    exc, _BrokerThrottled
                )
                if refused_locally and attempt == 1:
                    raise  # our own budget refused: nothing was sent
                # (refused locally later: an earlier attempt may still have landed, so look)
                logger.warning(
                    "gateway Order/place tag=%s failed in transit (%s); looking it up", tag, exc
                )
                self._sleep(self._backoff(attempt))
                found = self._lookup_tag(request.account_id, tag, since, exc)
                if found is not None:
                    return PlacedOrder(found.id, tag, recovered=True)
                if isinstance(exc, _MutationUnauthorized):
                    break  # never resent from here: the order service decides, by its tag
                continue
            order_id = payload.get("orderId")
            if isinstance(order_id, bool) or not isinstance(order_id, int):
                raise MalformedResponse("Order/place: missing required field 'orderId'")
            return PlacedOrder(order_id, tag)
        raise OrderSubmissionUncertain(
            f"Order/place tag={tag}: failed in transit ({last_error}) and the order was not "
            "found; a late arrival is still possible",
            account_id=request.account_id,
            custom_tag=tag,
            cause=last_error,
        )

    def _lookup_tag(
        self, account_id: int, tag: str, since: datetime, cause: Exception | None
    ) -> Order | None:
        try:
            return self.find_order_by_custom_tag(account_id, tag, since=since)
        except (BrokerUnavailable, RateLimited, BrokerRejected, MalformedResponse) as exc:
            raise OrderSubmissionUncertain(
                f"Order/place tag={tag}: failed in transit and the lookup failed too ({exc})",
                account_id=account_id,
                custom_tag=tag,
                cause=cause,
            ) from exc

    def cancel_order(self, account_id: int, order_id: int) -> None:
        """Order/cancel. After a failure in transit the order is read first: cancelled or pending
        cancellation -> done; still working -> cancel again; filled/expired/rejected ->
        OrderStateConflict."""
        body = {"accountId": account_id, "orderId": order_id}

        def applied(order: Order) -> bool:
            if order.status in (OrderStatus.CANCELLED, OrderStatus.PENDING_CANCELLATION):
                return True
            if order.is_terminal:
                raise OrderStateConflict(
                    f"order {order_id} is {order.status.name}, not cancellable", order=order
                )
            return False

        self._mutate_order("Order/cancel", body, account_id, order_id, applied)

    def modify_order(self, request: ModifyOrderRequest) -> None:
        """Order/modify. After a failure in transit the order is read first: the change already
        shows -> done; still working without it -> modify again; terminal -> OrderStateConflict."""

        def applied(order: Order) -> bool:
            if order.is_terminal:
                raise OrderStateConflict(
                    f"order {request.order_id} is {order.status.name}, cannot modify", order=order
                )
            return request.is_applied_to(order)

        self._mutate_order(
            "Order/modify", request.to_json(), request.account_id, request.order_id, applied
        )

    def _mutate_order(
        self,
        endpoint: str,
        body: Mapping[str, Any],
        account_id: int,
        order_id: int,
        applied: Callable[[Order], bool],
    ) -> None:
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                self._call(endpoint, body, idempotent=False)
                return
            except (BrokerUnavailable, _BrokerThrottled) as exc:
                logger.warning(
                    "gateway %s order=%s failed in transit (%s)", endpoint, order_id, exc
                )
                self._sleep(self._backoff(attempt))
                try:
                    order = self.order_by_id(account_id, order_id)
                except (BrokerUnavailable, RateLimited, MalformedResponse) as read_exc:
                    raise OutcomeUncertain(
                        f"{endpoint} order={order_id}: failed in transit and could not be checked",
                        endpoint=endpoint,
                        cause=exc,
                    ) from read_exc
                if applied(order):
                    return
                if attempt == self.config.max_attempts:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # -------------------------------------------------------------------------- positions

    def search_open_positions(self, account_id: int) -> list[Position]:
        payload = self._call("Position/searchOpen", {"accountId": account_id})
        return parse_list(payload, "positions", Position.from_json, "Position/searchOpen")

    def close_position(self, account_id: int, contract_id: str) -> None:
        """Position/closeContract (flatten with a market order). After a failure in transit the
        account is read first: flat -> done; a working market order already closing it (the lost
        attempt, or an exit of ours) -> done, since a second close would reverse the position;
        otherwise close again."""
        body = {"accountId": account_id, "contractId": contract_id}
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                self._call("Position/closeContract", body, idempotent=False)
                return
            except (BrokerUnavailable, _BrokerThrottled) as exc:
                logger.warning("gateway Position/closeContract failed in transit (%s)", exc)
                self._sleep(self._backoff(attempt))
                try:
                    position = next(
                        (
                            p
                            for p in self.search_open_positions(account_id)
                            if p.contract_id == contract_id and p.size
                        ),
                        None,
                    )
                    if position is None:
                        return
                    working = self.search_open_orders(account_id)
                except (BrokerUnavailable, RateLimited, MalformedResponse) as read_exc:
                    raise OutcomeUncertain(
                        f"Position/closeContract {contract_id}: failed and could not be checked",
                        endpoint="Position/closeContract",
                        cause=exc,
                    ) from read_exc
                if _is_being_closed(position, working):
                    return
                if attempt == self.config.max_attempts:
                    raise

    def partial_close_position(self, account_id: int, contract_id: str, size: int) -> None:
        """Position/partialCloseContract. Never retried: after a failure in transit a smaller
        position cannot be told apart from other fills, so we raise OutcomeUncertain."""
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise InvalidRequest(f"size must be a positive int, got {size!r}")
        body = {"accountId": account_id, "contractId": contract_id, "size": size}
        try:
            self._call("Position/partialCloseContract", body, idempotent=False)
        except (BrokerUnavailable, _BrokerThrottled) as exc:
            raise OutcomeUncertain(
                f"Position/partialCloseContract {contract_id}: failed in transit ({exc})",
                endpoint="Position/partialCloseContract",
                cause=exc,
            ) from exc

    # ----------------------------------------------------------------------------- trades

    def search_trades(
        self, account_id: int, *, start: datetime, end: datetime | None = None
    ) -> list[HalfTrade]:
        body: dict[str, Any] = {"accountId": account_id, "startTimestamp": format_timestamp(start)}
        if end is not None:
            body["endTimestamp"] = format_timestamp(end)
        payload = self._call("Trade/search", body)
        return parse_list(payload, "trades", HalfTrade.from_json, "Trade/search")


_UNIT_SECONDS = {
    BarUnit.SECOND: 1,
    BarUnit.MINUTE: 60,
    BarUnit.HOUR: 3600,
    BarUnit.DAY: 86_400,
    BarUnit.WEEK: 7 * 86_400,
    BarUnit.MONTH: 28 * 86_400,  # the shortest month: no bar can hide in a shorter gap
}


def _unit_span(unit: BarUnit, unit_number: int) -> timedelta:
    """How long one bar lasts at least (tick bars: no length, so never probed past a short page)."""
    seconds = _UNIT_SECONDS.get(unit)
    return timedelta.max if seconds is None else timedelta(seconds=seconds * unit_number)


def _is_being_closed(position: Position, working: Iterable[Order]) -> bool:
    """A working market order on the position's contract, on the closing side, covering it."""
    closing_side = OrderSide.ASK if position.type == PositionType.LONG else OrderSide.BID
    covered = sum(
        order.size - order.fill_volume
        for order in working
        if order.contract_id == position.contract_id
        and order.type == OrderType.MARKET
        and order.side == closing_side
        and order.is_working
    )
    return covered >= position.size


def _check_envelope(endpoint: str, payload: Mapping[str, Any]) -> None:
    """success/errorCode/errorMessage: business failures arrive as HTTP 200 (§2)."""
    success = payload.get("success")
    code = payload.get("errorCode", 0)
    if code is None:
        code = 0
    if isinstance(code, bool) or not isinstance(code, int):
        raise MalformedResponse(f"{endpoint}: errorCode {code!r} is not an integer")
    if not isinstance(success, bool):
        raise MalformedResponse(f"{endpoint}: missing required field 'success'")
    if not success or code != 0:
        message = payload.get("errorMessage")
        order_id = payload.get("orderId")
        raise BrokerRejected(
            endpoint,
            code,
            message if isinstance(message, str) else None,
            order_id=order_id if type(order_id) is int and order_id > 0 else None,
        )


def _problem_text(response: httpx.Response) -> str:
    """A short description of an ASP.NET problem-details body (title + field errors)."""
    try:
        body = decode_json(response.content)
    except MalformedResponse:
        return response.text[:200]
    if isinstance(body, dict):
        parts = [str(body.get("title") or "")]
        errors = body.get("errors")
        if isinstance(errors, dict):
            parts += [f"{k}: {v}" for k, v in errors.items()]
        return "; ".join(p for p in parts if p)[:500]
    return str(body)[:200]
