"""Celery tasks for Discord control, on the "high" queue: a person is waiting for the answer.

`interaction_run` runs the command at most once (acks_late off): re-running it after a worker crash
could pause, or ask to flatten, twice. Showing the reply is retried on its own, because editing the
original response is idempotent; Discord keeps an interaction's token valid for 15 minutes.
"""

import logging
from typing import Any

from celery import shared_task

from chatops import commands, followup, services
from chatops.interaction import Interaction, Reply
from notifications.discord import DiscordError, DiscordOutcomeUnknown, DiscordRetryLater
from tradingsite.dispatch import Policy, enqueue

logger = logging.getLogger(__name__)

QUEUE = "high"
REPLY_ATTEMPTS = 5
MAX_REPLY_DELAY_SECONDS = 60.0
FAILED = "That command failed on our side. Check the website for its effect before retrying."


@shared_task(name="chatops.interaction_run", acks_late=False, ignore_result=True)
def interaction_run_task(*, interaction: dict[str, Any]) -> None:
    parsed = Interaction.from_task(interaction)
    try:
        reply = commands.run(parsed)
    except Exception:
        # Each action is one transaction, so nothing is half done, but the failure may come after
        # the commit: send the user to the site rather than leave "thinking…" until Discord gives up.
        logger.exception("Discord command /%s failed", parsed.name)
        reply = Reply(FAILED)
    _show(application_id=parsed.application_id, token=parsed.token, payload=reply.to_payload())


@shared_task(name="chatops.interaction_reply", acks_late=False, ignore_result=True)
def interaction_reply_task(*, application_id: str, token: str, payload: dict, attempt: int) -> None:
    _show(application_id=application_id, token=token, payload=payload, attempt=attempt)


def _show(*, application_id: str, token: str, payload: dict, attempt: int = 1) -> None:
    try:
        followup.response_edit(application_id=application_id, token=token, payload=payload)
    except (DiscordRetryLater, DiscordOutcomeUnknown) as exc:
        if attempt >= REPLY_ATTEMPTS:
            logger.warning(
                "gave up showing an interaction reply after %s attempts: %s", attempt, exc
            )
            return
        delay = min(getattr(exc, "delay_seconds", 2.0), MAX_REPLY_DELAY_SECONDS)
        enqueue(
            "chatops.interaction_reply",
            policy=Policy.RAISE,  # as before: the task fails in the worker's log
            queue=QUEUE,
            countdown=delay,
            application_id=application_id,
            token=token,
            payload=payload,
            attempt=attempt + 1,
        )
    except DiscordError as exc:  # refused: retrying cannot help (the message never has the token)
        logger.warning("discord refused an interaction reply: %s", exc)


@shared_task(name="chatops.cleanup", ignore_result=True)
def cleanup_task() -> None:
    services.chatops_cleanup()
