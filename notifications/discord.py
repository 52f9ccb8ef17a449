"""Discord webhooks: build a message inside Discord's limits and post it, honouring rate limits.

Outcomes of `DiscordWebhookClient.execute`, which decide what the caller may do next:
- `Posted`: Discord accepted the message (we ask for `?wait=true`, so it returns the message id).
- `DiscordRejected`: a 4xx other than 429 (bad payload, unknown or deleted webhook). Retrying cannot
  help, so it is never retried; the status and Discord's own error message are kept for the operator.
- `DiscordRetryLater`: nothing was posted (429, 5xx, no connection) and the short in-process retries are
  used up or the wait is too long to hold a worker; retry after `delay_seconds`.
- `DiscordOutcomeUnknown`: the request left us but no answer came back (read timeout, dropped
  connection, a gateway timeout). Discord may have posted it, and webhooks have no idempotency key, so
  re-posting could duplicate an alert; the caller must not retry blindly.

The webhook URL is a secret (whoever holds it can post to the channel): no exception message, log line
or stored error built here contains it, and `WebhookUrlLogFilter` scrubs it from httpx's request log.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

logger = logging.getLogger(__name__)

# https://discord.com/developers/docs/resources/message#embed-object-embed-limits
CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_COUNT_LIMIT = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
USERNAME_LIMIT = 80
EMBED_TOTAL_LIMIT = 6000  # title + description + field names and values + footer, summed
ELLIPSIS = "…"
EMPTY = (
    "\u200b"  # Discord refuses empty field names and values; a zero-width space renders as blank
)
INLINE_FIELD_MAX = 40  # short values sit side by side, long ones get a full row

# Discord answers these when its edge gave up waiting for the origin, which may still post the
# message: the outcome is unknown, unlike 500/502/503 where nothing was created.
AMBIGUOUS_STATUSES = frozenset({504, 524})
DEFAULT_RATE_LIMIT_WAIT_SECONDS = 60.0  # a 429 with no hint at all (a Cloudflare ban page)
GLOBAL_BUCKET = "global"

WEBHOOK_PATH = re.compile(r"^/api(?:/v\d+)?/webhooks/(\d+)/([A-Za-z0-9_\-]+)/?$")
_WEBHOOK_IN_TEXT = re.compile(r"(/webhooks/\d+/)[A-Za-z0-9_\-]+")


# --- Errors -------------------------------------------------------------------------------------


class DiscordError(Exception):
    """Base of the outcomes that are not a successful post. Messages never contain the URL."""


class InvalidWebhookUrl(DiscordError):
    """The stored URL is not a Discord webhook on an allowed origin (also guards against SSRF)."""


class DiscordRejected(DiscordError):
    def __init__(self, *, status_code: int | None, code: int | None, message: str) -> None:
        self.status_code, self.code, self.message = status_code, code, message
        label = f"HTTP {status_code}" if status_code is not None else "refused"
        detail = f" (Discord code {code})" if code is not None else ""
        super().__init__(f"{label}{detail}: {message}")


class DiscordRetryLater(DiscordError):
    def __init__(
        self, *, delay_seconds: float, reason: str, status_code: int | None, rate_limited: bool
    ) -> None:
        self.delay_seconds, self.reason = delay_seconds, reason
        self.status_code, self.rate_limited = status_code, rate_limited
        super().__init__(f"{reason}; retry in {delay_seconds:.2f}s")


class DiscordOutcomeUnknown(DiscordError):
    def __init__(self, *, reason: str, status_code: int | None = None) -> None:
        self.reason, self.status_code = reason, status_code
        super().__init__(reason)


@dataclass(frozen=True)
class Posted:
    status_code: int
    message_id: str
    attempts: int


# --- The webhook URL ----------------------------------------------------------------------------


def validate_webhook_url(url: str, *, allowed_origins: Sequence[str]) -> None:
    """Accept only `<allowed origin>/api[/vN]/webhooks/<id>/<token>`.

    Tenants type this URL in and our servers POST to it, so without this check a tenant could make us
    call internal services (SSRF). Origins are "scheme://host" (any port on that host).
    """
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise InvalidWebhookUrl("the webhook URL cannot be parsed") from exc
    origin = f"{parts.scheme}://{parts.hostname or ''}".lower()
    if origin not in {o.lower().rstrip("/") for o in allowed_origins}:
        raise InvalidWebhookUrl(
            f"webhook host {parts.hostname or '?'} over {parts.scheme or '?'} is not allowed; "
            f"allowed: {', '.join(allowed_origins)}"
        )
    if parts.username or parts.password or not WEBHOOK_PATH.match(parts.path):
        raise InvalidWebhookUrl(
            "the URL is not a Discord webhook URL (…/api/webhooks/<id>/<token>)"
        )


def redact_webhook_urls(text: str) -> str:
    return _WEBHOOK_IN_TEXT.sub(r"\1[REDACTED]", text)


class WebhookUrlLogFilter(logging.Filter):
    """httpx logs every request's full URL at INFO; for a webhook that URL is the secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_webhook_urls(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def _install_log_filter() -> None:
    # A logger filter (not a handler filter) so it holds whatever handlers the settings configure.
    for name in ("httpx", "httpcore"):
        target = logging.getLogger(name)
        if not any(isinstance(f, WebhookUrlLogFilter) for f in target.filters):
            target.addFilter(WebhookUrlLogFilter())


_install_log_filter()


# --- The message --------------------------------------------------------------------------------


def text_length(text: str) -> int:
    """Length as Discord's limits count it, taken as UTF-16 code units (never below code points)."""
    return len(text.encode("utf-16-le")) // 2


def truncate(text: str, limit: int) -> str:
    """`text` if it fits, else its longest prefix that fits with a trailing ellipsis."""
    if text_length(text) <= limit:
        return text
    if limit <= 0:
        return ""
    budget = limit - 1  # the ellipsis is one code unit
    kept: list[str] = []
    for char in text:
        size = text_length(char)
        if size > budget:
            break
        kept.append(char)
        budget -= size
    return "".join(kept) + ELLIPSIS


@dataclass(frozen=True)
class DiscordMessage:
    """What to post. `to_payload` applies every limit; nothing here is trusted to fit."""

    content: str
    title: str
    description: str = ""
    fields: Sequence[tuple[str, str]] = ()
    colour: int | None = None
    footer: str = ""
    timestamp: datetime | None = None
    username: str = ""

    def to_payload(self) -> dict[str, Any]:
        title = truncate(self.title, TITLE_LIMIT)
        footer = truncate(self.footer, FOOTER_LIMIT)
        budget = EMBED_TOTAL_LIMIT - text_length(title) - text_length(footer)
        fields, budget = _fit_fields(self.fields, budget)
        embed: dict[str, Any] = {"fields": fields}
        if title:
            embed["title"] = title
        description = truncate(self.description, min(DESCRIPTION_LIMIT, budget))
        if description:
            embed["description"] = description
        if self.colour is not None:
            embed["color"] = self.colour
        if footer:
            embed["footer"] = {"text": footer}
        if self.timestamp is not None:
            if self.timestamp.tzinfo is None:
                raise ValueError("embed timestamp must be timezone-aware")
            embed["timestamp"] = self.timestamp.isoformat()
        payload: dict[str, Any] = {
            "content": truncate(self.content, CONTENT_LIMIT),
            "embeds": [embed],
            # Strategy text or a tenant's account name must never ping @everyone or a role.
            "allowed_mentions": {"parse": []},
        }
        if self.username:
            payload["username"] = truncate(self.username, USERNAME_LIMIT)
        return payload


def _field(name: str, value: str) -> dict[str, Any]:
    name = truncate(name, FIELD_NAME_LIMIT) or EMPTY
    value = truncate(value, FIELD_VALUE_LIMIT) or EMPTY
    return {"name": name, "value": value, "inline": text_length(value) <= INLINE_FIELD_MAX}


def _omitted(count: int) -> dict[str, Any]:
    return {"name": ELLIPSIS, "value": f"{count} more field(s) not shown", "inline": False}


def _fit_fields(pairs: Sequence[tuple[str, str]], budget: int) -> tuple[list[dict[str, Any]], int]:
    """Fields in order while they fit in the count and the total; a last field says how many were cut.

    Fields come before the description in the budget: they carry the numbers (price, size, P&L).
    """
    reserve = text_length(_omitted(len(pairs))["name"] + _omitted(len(pairs))["value"])
    fitted: list[dict[str, Any]] = []
    for index, (name, value) in enumerate(pairs):
        field = _field(name, value)
        cost = text_length(field["name"]) + text_length(field["value"])
        remaining = len(pairs) - index - 1
        room = budget - (reserve if remaining else 0)
        slots = FIELD_COUNT_LIMIT - (1 if remaining else 0)
        if len(fitted) >= slots or cost > room:
            note = _omitted(len(pairs) - index)
            budget -= text_length(note["name"]) + text_length(note["value"])
            return [*fitted, note], budget
        fitted.append(field)
        budget -= cost
    return fitted, budget


# --- Rate limits shared by every worker ---------------------------------------------------------


class RateLimitStore(Protocol):
    """Per-bucket "not before" instants, shared by all processes that post to Discord."""

    def wait_seconds(self, bucket: str) -> float: ...

    def block(self, bucket: str, seconds: float) -> None: ...


class MemoryRateLimits:
    """One process only (tests, scripts)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._until: dict[str, float] = {}
        self._clock = clock

    def wait_seconds(self, bucket: str) -> float:
        return max(0.0, self._until.get(bucket, 0.0) - self._clock())

    def block(self, bucket: str, seconds: float) -> None:
        until = self._clock() + seconds
        self._until[bucket] = max(until, self._until.get(bucket, 0.0))


# --- The client ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """In-process retries: short, so a worker is never held long; longer waits go back to Celery."""

    max_attempts: int = 4
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 8.0
    max_inline_wait_seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if (
            min(self.backoff_base_seconds, self.backoff_max_seconds, self.max_inline_wait_seconds)
            < 0
        ):
            raise ValueError("retry waits cannot be negative")

    def backoff(self, attempt: int) -> float:
        """Exponential with up to 25% jitter, so workers that failed together do not retry together."""
        base = min(self.backoff_max_seconds, self.backoff_base_seconds * 2 ** (attempt - 1))
        return base * (1 + random.random() / 4)  # noqa: S311  (jitter, not security)


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _json_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def retry_after_seconds(response: httpx.Response) -> float | None:
    """How long Discord asks us to wait: the JSON `retry_after` (seconds), else `Retry-After`.

    Old unversioned API answers gave `retry_after` in milliseconds; when both are present and the body
    is far above the header (which is whole seconds, rounded up), the body is read as milliseconds.
    """
    header = _float(response.headers.get("Retry-After"))
    body = _float(_json_body(response).get("retry_after"))
    if body is not None:
        if header is not None and body > header * 10 + 1:
            return body / 1000
        return body
    return header


def _is_global(response: httpx.Response) -> bool:
    if response.headers.get("X-RateLimit-Global", "").lower() == "true":
        return True
    return _json_body(response).get("global") is True


def _error_message(response: httpx.Response) -> tuple[int | None, str]:
    body = _json_body(response)
    code = body.get("code") if isinstance(body.get("code"), int) else None
    message = str(body.get("message") or response.reason_phrase or "no message")
    errors = body.get("errors")
    if errors:
        message = f"{message}: {truncate(str(errors), 500)}"
    return code, redact_webhook_urls(message)


class DiscordWebhookClient:
    """Posts one message per `execute`, retrying only what cannot have been posted."""

    def __init__(
        self,
        *,
        http: httpx.Client,
        limits: RateLimitStore,
        policy: RetryPolicy | None = None,
        timeout: httpx.Timeout | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._http = http
        self._timeout = timeout if timeout is not None else http.timeout
        self._limits = limits
        self._policy = policy or RetryPolicy()
        self._sleep = sleep

    def execute(
        self, *, url: str, payload: Mapping[str, Any], bucket: str, method: str = "POST"
    ) -> Posted:
        """Post `payload` to the webhook; `bucket` names its rate limit (never the URL).

        `method="PATCH"` edits a message instead (an interaction's original response): the same
        rate limits and outcomes apply, and `wait` is not sent (an edit always returns the message).
        """
        policy = self._policy
        params = {"wait": "true"} if method == "POST" else None
        for attempt in range(1, policy.max_attempts + 1):
            last = attempt == policy.max_attempts
            self._wait_for(bucket)
            try:
                response = self._http.request(
                    method, url, params=params, json=payload, timeout=self._timeout
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Nothing reached Discord: always safe to try again.
                self._pause_or_defer(
                    policy.backoff(attempt), last, f"cannot connect ({type(exc).__name__})", None
                )
                continue
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                raise DiscordRejected(
                    status_code=None, code=None, message="the webhook URL is not a usable URL"
                ) from exc
            except httpx.TransportError as exc:
                raise DiscordOutcomeUnknown(
                    reason=f"no answer after sending ({type(exc).__name__}); it may have posted"
                ) from exc
            posted = self._handle(response, bucket=bucket, attempt=attempt, last=last)
            if posted is not None:
                return posted
        raise AssertionError("unreachable: the last attempt either posts or raises")

    def _handle(
        self, response: httpx.Response, *, bucket: str, attempt: int, last: bool
    ) -> Posted | None:
        self._remember_bucket(response, bucket)
        status = response.status_code
        if 200 <= status < 300:
            message_id = str(_json_body(response).get("id", ""))
            return Posted(status_code=status, message_id=message_id, attempts=attempt)
        if status == 429:
            wait = retry_after_seconds(response)
            wait = DEFAULT_RATE_LIMIT_WAIT_SECONDS if wait is None else wait
            self._limits.block(GLOBAL_BUCKET if _is_global(response) else bucket, wait)
            logger.warning("discord rate limited bucket %s for %.2fs", bucket, wait)
            if last or wait > self._policy.max_inline_wait_seconds:
                raise DiscordRetryLater(
                    delay_seconds=wait,
                    reason="rate limited (429)",
                    status_code=429,
                    rate_limited=True,
                )
            return None  # the next attempt waits for the bucket first
        if status in AMBIGUOUS_STATUSES:
            raise DiscordOutcomeUnknown(
                reason=f"HTTP {status}: Discord's edge timed out; it may have posted",
                status_code=status,
            )
        if status >= 500:
            wait = max(self._policy.backoff(attempt), retry_after_seconds(response) or 0.0)
            logger.warning("discord bucket %s answered %s (attempt %s)", bucket, status, attempt)
            self._pause_or_defer(wait, last, f"HTTP {status} from Discord", status)
            return None
        code, message = _error_message(response)
        logger.error("discord refused a post to bucket %s: HTTP %s %s", bucket, status, message)
        raise DiscordRejected(status_code=status, code=code, message=message)

    def _pause_or_defer(self, wait: float, last: bool, reason: str, status: int | None) -> None:
        if last or wait > self._policy.max_inline_wait_seconds:
            raise DiscordRetryLater(
                delay_seconds=wait, reason=reason, status_code=status, rate_limited=False
            )
        self._sleep(wait)

    def _wait_for(self, bucket: str) -> None:
        """Sleep out a short rate-limit window; defer to a later task for a long one."""
        wait = max(self._limits.wait_seconds(bucket), self._limits.wait_seconds(GLOBAL_BUCKET))
        if wait <= 0:
            return
        if wait > self._policy.max_inline_wait_seconds:
            raise DiscordRetryLater(
                delay_seconds=wait,
                reason="rate limit window still open",
                status_code=None,
                rate_limited=True,
            )
        self._sleep(wait)

    def _remember_bucket(self, response: httpx.Response, bucket: str) -> None:
        # https://discord.com/developers/docs/topics/rate-limits#header-format
        remaining = response.headers.get("X-RateLimit-Remaining")
        reset_after = _float(response.headers.get("X-RateLimit-Reset-After"))
        if remaining == "0" and reset_after:
            self._limits.block(bucket, reset_after)
