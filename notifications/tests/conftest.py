"""A local webhook receiver, notification settings pointed at it, and channel helpers."""

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from accounts.models import NotificationChannel, Tenant
from accounts.services import notification_channel_create
from notifications import ratelimits
from notifications.tests.receiver import WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    yield server
    server.close()


def close_rate_limit_windows() -> None:
    """Every rate-limit window opened so far closes: the limiter moves to a fresh key space.

    Not cache.clear(): that flushes the whole Redis cache database, so a test in the other xdist
    worker (or another test run) lost its open window mid-test and posted too early.
    """
    ratelimits._PREFIX = f"notifications:discord:not-before:test-{uuid.uuid4().hex}:"


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    """Rate-limit windows live in the shared Redis cache; no window leaks between tests."""
    original = ratelimits._PREFIX
    close_rate_limit_windows()
    yield
    ratelimits._PREFIX = original


@pytest.fixture
def notif_settings(settings: Any) -> Any:
    """Allow the local receiver and make the timings test-sized."""
    settings.NOTIFICATIONS_WEBHOOK_ORIGINS = ["http://127.0.0.1"]
    settings.NOTIFICATIONS_READ_TIMEOUT_SECONDS = 0.5
    settings.NOTIFICATIONS_CONNECT_TIMEOUT_SECONDS = 0.5
    settings.NOTIFICATIONS_HTTP_BACKOFF_SECONDS = 0.05
    settings.NOTIFICATIONS_MAX_INLINE_WAIT_SECONDS = 2.0
    return settings


@pytest.fixture
def make_channel(notif_settings: Any) -> Callable[..., NotificationChannel]:
    def make(
        tenant: Tenant,
        url: str,
        events: list[str],
        *,
        name: str = "alerts",
        is_enabled: bool = True,
    ) -> NotificationChannel:
        channel = notification_channel_create(
            tenant=tenant, actor=None, name=name, url=url, events=events
        )
        if not is_enabled:
            channel.is_enabled = False
            channel.save(update_fields=["is_enabled"])
        return channel

    return make
