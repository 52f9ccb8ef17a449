"""One exception per kind of gateway failure, so callers (Celery tasks, the hub process) can decide
what to retry without reading messages.

- `AuthenticationFailed`: bad credentials or a session the gateway will not renew. Not transient.
- `RateLimited`: our shared budget or the broker (HTTP 429) says wait (`retry_after_seconds`).
- `BrokerRejected`: a business failure (`success: false`), with the endpoint's error-code name (§4).
- `BrokerUnavailable`: timeouts, connection errors, 5xx. Transient; reads are retried internally.
- `MalformedResponse`: the gateway answered something we cannot trust (bad JSON, missing field).
- `OutcomeUncertain` / `OrderSubmissionUncertain`: a mutation failed in transit and we could not
  prove whether it took effect. Never retried blindly: reconcile first.
- `OrderStateConflict`: the order reached a state where the requested change no longer applies.
- `InvalidRequest`: our own validation refused to send a request the gateway would reject.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from execution.gateway.types import Order

# Per-endpoint errorCode names (reference doc §4), keyed by lower-case path relative to /api.
_AUTH_LOGIN = {
    1: "UserNotFound",
    2: "PasswordVerificationFailed",
    3: "InvalidCredentials",
    4: "AppNotFound",
    5: "AppVerificationFailed",
    6: "InvalidDevice",
    7: "AgreementsNotSigned",
    8: "UnknownError",
    9: "ApiSubscriptionNotFound",
    10: "ApiKeyAuthenticationDisabled",
}
_ACCOUNT_NOT_FOUND = {1: "AccountNotFound"}
_CANCEL = {
    1: "AccountNotFound",
    2: "OrderNotFound",
    3: "Rejected",
    4: "Pending",
    5: "UnknownError",
    6: "AccountRejected",
}
ERROR_CODE_NAMES: dict[str, dict[int, str]] = {
    "auth/loginkey": _AUTH_LOGIN,
    "auth/loginapp": _AUTH_LOGIN,
    "auth/validate": {
        1: "InvalidSession",
        2: "SessionNotFound",
        3: "ExpiredToken",
        4: "UnknownError",
    },
    "auth/logout": {1: "InvalidSession", 2: "UnknownError"},
    "account/search": {},
    "contract/search": {},
    "contract/available": {},
    "contract/searchbyid": {1: "ContractNotFound"},
    "history/retrievebars": {
        1: "ContractNotFound",
        2: "UnitInvalid",
        3: "UnitNumberInvalid",
        4: "LimitInvalid",
    },
    "order/search": _ACCOUNT_NOT_FOUND,
    "order/searchopen": _ACCOUNT_NOT_FOUND,
    "order/v2/query": _ACCOUNT_NOT_FOUND,
    "position/searchopen": _ACCOUNT_NOT_FOUND,
    "trade/search": _ACCOUNT_NOT_FOUND,
    "order/searchbyid": {1: "OrderNotFound"},
    "order/place": {
        1: "AccountNotFound",
        2: "OrderRejected",
        3: "InsufficientFunds",
        4: "AccountViolation",
        5: "OutsideTradingHours",
        6: "OrderPending",
        7: "UnknownError",
        8: "ContractNotFound",
        9: "ContractNotActive",
        10: "AccountRejected",
    },
    "order/cancel": _CANCEL,
    "order/modify": {**_CANCEL, 7: "ContractNotFound"},
    "position/closecontract": {
        1: "AccountNotFound",
        2: "PositionNotFound",
        3: "ContractNotFound",
        4: "ContractNotActive",
        5: "OrderRejected",
        6: "OrderPending",
        7: "UnknownError",
        8: "AccountRejected",
    },
    "position/partialclosecontract": {
        1: "AccountNotFound",
        2: "PositionNotFound",
        3: "ContractNotFound",
        4: "ContractNotActive",
        5: "InvalidCloseSize",
        6: "OrderRejected",
        7: "OrderPending",
        8: "UnknownError",
        9: "AccountRejected",
    },
}


def error_code_name(endpoint: str, code: int) -> str:
    """The §4 name of `code` for `endpoint` ("Order/place", 2 -> "OrderRejected"); "Unknown(<n>)"
    for a code the reference does not list (new codes appear; never crash on one)."""
    if code == 0:
        return "Success"
    if code < 0:  # our encoding of a non-envelope HTTP 4xx (e.g. 400 model validation)
        return f"Http{-code}"
    return ERROR_CODE_NAMES.get(endpoint.strip("/").lower(), {}).get(code, f"Unknown({code})")


class GatewayError(Exception):
    """Base of every failure raised by execution.gateway."""


class InvalidRequest(GatewayError, ValueError):
    """A request object failed our validation before anything was sent."""


class AuthenticationFailed(GatewayError):
    """Login refused, or the session could not be renewed (validate and re-login both failed)."""

    def __init__(self, message: str, *, error_code: int | None = None) -> None:
        super().__init__(message)
        self.error_code = error_code


class RateLimited(GatewayError):
    """The shared budget or the broker (HTTP 429) asks us to wait `retry_after_seconds`."""

    def __init__(self, message: str, *, endpoint: str, retry_after_seconds: float) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.retry_after_seconds = retry_after_seconds


class BrokerRejected(GatewayError):
    """The gateway answered `success: false`. `error_name` is the §4 name of `error_code`.

    `order_id`: an Order/place refusal may still carry the id of an order it placed (a Position
    Brackets account refusing brackets places the entry without them, as reported, §11)."""

    def __init__(
        self,
        endpoint: str,
        error_code: int,
        error_message: str | None,
        *,
        order_id: int | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.error_code = error_code
        self.error_message = error_message
        self.order_id = order_id
        self.error_name = error_code_name(endpoint, error_code)
        super().__init__(f"{endpoint} rejected: {self.error_name} ({error_code}): {error_message}")

    @property
    def is_bracket_mode_refusal(self) -> bool:
        """Order/place refused because the account is on "Position Brackets" (§11). The code alone
        (2, OrderRejected) also means a bracket sign error or a bad price, so the answer's
        order id or its text is the only tell the gateway gives."""
        if self.endpoint.strip("/").lower() != "order/place" or self.error_code != 2:
            return False
        text = (self.error_message or "").lower()
        return self.order_id is not None or "position bracket" in text or "auto oco" in text


class BrokerUnavailable(GatewayError):
    """Timeout, connection failure or HTTP 5xx: the gateway could not be reached or failed."""

    def __init__(self, message: str, *, endpoint: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.status_code = status_code


class MalformedResponse(GatewayError):
    """The gateway's answer is not what the protocol promises (bad JSON, missing/invalid field)."""


class OutcomeUncertain(GatewayError):
    """A mutation failed in transit and its effect at the broker could not be established.

    The caller must reconcile (hub events, Order/search) before doing anything that could duplicate.
    """

    def __init__(self, message: str, *, endpoint: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.cause = cause


class OrderSubmissionUncertain(OutcomeUncertain):
    """`Order/place` failed in transit and the order could not be found (or ruled out) by its
    customTag. `custom_tag` is the key to reconcile with later."""

    def __init__(
        self, message: str, *, account_id: int, custom_tag: str, cause: BaseException | None
    ) -> None:
        super().__init__(message, endpoint="Order/place", cause=cause)
        self.account_id = account_id
        self.custom_tag = custom_tag


class OrderStateConflict(GatewayError):
    """While reconciling a failed cancel/modify, the order turned out to be in a state where the
    change no longer applies (e.g. it filled). `order` is the state we read."""

    def __init__(self, message: str, *, order: Order) -> None:
        super().__init__(message)
        self.order = order
