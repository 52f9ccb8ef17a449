"""Show a reply: edit the interaction's original response through Discord's webhook API.

For a deferred command the original response is the "thinking…" message; for a button click it is the
message the button sits on. An edit is idempotent (the same text twice is one message), so unlike an
alert it is safe to send again after an unknown outcome.
"""

from __future__ import annotations

from typing import Any

from chatops.conf import chatops_config
from notifications.conf import notification_config
from notifications.discord import Posted
from notifications.services import discord_client


def original_response_url(*, application_id: str, token: str) -> str:
    base = chatops_config().api_url
    return f"{base}/webhooks/{application_id}/{token}/messages/@original"


def response_edit(*, application_id: str, token: str, payload: dict[str, Any]) -> Posted:
    """Raises the notifications.discord outcomes (DiscordRejected, DiscordRetryLater, ...)."""
    return discord_client(notification_config()).execute(
        url=original_response_url(application_id=application_id, token=token),
        payload=payload,
        bucket=f"interaction:{application_id}",  # never the token: bucket names reach the logs
        method="PATCH",
    )
