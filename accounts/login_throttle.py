"""Password guessing on the web and admin login pages: failed logins are counted per username and per
client address on the Django cache (Redis); past a limit, a login is refused before any password is
checked, for a while, with one message whether or not the username exists.

The client address is the one rule DRF's throttles use too (REST_FRAMEWORK NUM_PROXIES, set from
TRUSTED_PROXY_COUNT): with no proxy declared X-Forwarded-For is ignored, so it cannot be forged.
"""

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle

THROTTLED_MESSAGE = "Too many failed logins. Please wait a few minutes and try again."


def client_address(request: HttpRequest) -> str:
    """REMOTE_ADDR, or with TRUSTED_PROXY_COUNT proxies in front, the address the outermost of them
    saw (an X-Forwarded-For entry a client wrote itself lies further left and is never read)."""
    return BaseThrottle().get_ident(request) or "unknown"


@dataclass(frozen=True)
class LoginAttempt:
    username: str
    address: str

    @classmethod
    def of(cls, request: HttpRequest, username: object) -> "LoginAttempt":
        return cls(username=str(username or "").strip().lower(), address=client_address(request))

    @property
    def username_key(self) -> str:
        # Hashed: usernames are free text, cache keys are not.
        digest = hashlib.sha256(self.username.encode()).hexdigest()
        return f"{settings.LOGIN_THROTTLE_KEY_PREFIX}:user:{digest}"

    @property
    def address_key(self) -> str:
        return f"{settings.LOGIN_THROTTLE_KEY_PREFIX}:addr:{self.address}"


def login_is_throttled(attempt: LoginAttempt) -> bool:
    counts = cache.get_many([attempt.username_key, attempt.address_key])
    return (
        counts.get(attempt.username_key, 0) >= settings.LOGIN_FAILURES_PER_USERNAME
        or counts.get(attempt.address_key, 0) >= settings.LOGIN_FAILURES_PER_ADDRESS
    )


def login_failure_record(attempt: LoginAttempt) -> None:
    """One more failure on both counters; each counter's window starts at its first failure."""
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    for key in (attempt.username_key, attempt.address_key):
        cache.add(key, 0, timeout=window)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr: this failure opens a new window
            cache.set(key, 1, timeout=window)


def login_success_record(attempt: LoginAttempt) -> None:
    """The username starts afresh; the address does not (one good login must not reset a spray)."""
    cache.delete(attempt.username_key)
