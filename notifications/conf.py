"""Notification settings, read in one place, each with a production default.

Override any of them in settings or the environment-driven settings module; tests override the origins
(a local receiver) and the timings (so a retry takes milliseconds, not seconds).
"""

from dataclasses import dataclass

from django.conf import settings

from notifications.discord import RetryPolicy

DISCORD_ORIGINS = (
    "https://discord.com",
    "https://discordapp.com",
    "https://ptb.discord.com",
    "https://canary.discord.com",
)


@dataclass(frozen=True)
class NotificationConfig:
    webhook_origins: tuple[str, ...]
    connect_timeout_seconds: float
    read_timeout_seconds: float
    retry: RetryPolicy
    max_claims: int  # worker runs per delivery before it is marked failed
    claim_backoff_seconds: float  # first wait between worker runs; doubles each time
    max_defer_seconds: float  # below the broker's visibility_timeout, else Redis redelivers early
    stale_sending_seconds: float  # a claim older than this belongs to a dead worker
    requeue_grace_seconds: float  # a pending row this late was lost by the broker: queue it again
    max_age_seconds: float  # an alert this old is no longer worth sending


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, f"NOTIFICATIONS_{name}", default))


def notification_config() -> NotificationConfig:
    origins = getattr(settings, "NOTIFICATIONS_WEBHOOK_ORIGINS", DISCORD_ORIGINS)
    return NotificationConfig(
        webhook_origins=tuple(origins),
        connect_timeout_seconds=_setting("CONNECT_TIMEOUT_SECONDS", 5.0),
        read_timeout_seconds=_setting("READ_TIMEOUT_SECONDS", 10.0),
        retry=RetryPolicy(
            max_attempts=int(_setting("HTTP_MAX_ATTEMPTS", 4)),
            backoff_base_seconds=_setting("HTTP_BACKOFF_SECONDS", 0.5),
            backoff_max_seconds=_setting("HTTP_BACKOFF_MAX_SECONDS", 8.0),
            max_inline_wait_seconds=_setting("MAX_INLINE_WAIT_SECONDS", 5.0),
        ),
        max_claims=int(_setting("MAX_CLAIMS", 8)),
        claim_backoff_seconds=_setting("CLAIM_BACKOFF_SECONDS", 30.0),
        max_defer_seconds=_setting("MAX_DEFER_SECONDS", 900.0),
        stale_sending_seconds=_setting("STALE_SENDING_SECONDS", 600.0),
        requeue_grace_seconds=_setting("REQUEUE_GRACE_SECONDS", 120.0),
        max_age_seconds=_setting("MAX_AGE_SECONDS", 86400.0),
    )
