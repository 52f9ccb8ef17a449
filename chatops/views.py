"""Discord's interactions endpoint, and the settings-page actions that link a Discord user.

The endpoint does only what must happen inside Discord's 3-second window: prove the request is
Discord's, fresh and new, count it against the user's rate limit, queue the work, and answer
"deferred". The command itself runs in a Celery task that edits the deferred response.
"""

from __future__ import annotations

import json
import logging
import math

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from chatops import services
from chatops.conf import chatops_config
from chatops.guard import GuardUnavailable, remember_interaction, take_rate_token
from chatops.interaction import (
    APPLICATION_COMMAND,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE_MESSAGE,
    EPHEMERAL,
    MESSAGE_COMPONENT,
    PING,
    PONG,
    Interaction,
    MalformedInteraction,
)
from chatops.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    RequestRefused,
    load_public_key,
    verify,
)
from chatops.tasks import QUEUE
from tradingsite.dispatch import Policy, enqueue

logger = logging.getLogger(__name__)


def _say(text: str) -> JsonResponse:
    """An immediate private answer (nothing was queued)."""
    return JsonResponse({"type": CHANNEL_MESSAGE, "data": {"content": text, "flags": EPHEMERAL}})


@csrf_exempt  # Discord cannot send a CSRF token; the Ed25519 signature authenticates instead
@require_POST
def interactions(request: HttpRequest) -> HttpResponse:
    config = chatops_config()
    if not config.public_key:
        raise Http404("Discord control is not configured.")
    try:
        signed_at = verify(
            public_key=load_public_key(config.public_key),
            signature=request.headers.get(SIGNATURE_HEADER),
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            body=request.body,
            now=timezone.now(),
            max_age=config.max_age,
        )
    except RequestRefused as exc:
        logger.info("refused a Discord interaction: %s", exc)
        return HttpResponse("invalid request signature", status=401)
    try:
        interaction = Interaction.parse(json.loads(request.body), signed_at=signed_at)
    except (ValueError, MalformedInteraction) as exc:
        return HttpResponse(f"malformed interaction: {exc}", status=400)
    if interaction.type == PING:
        return JsonResponse({"type": PONG})
    if interaction.type not in (APPLICATION_COMMAND, MESSAGE_COMPONENT):
        return HttpResponse("unsupported interaction type", status=400)
    try:
        if not remember_interaction(
            interaction.id, keep_seconds=int(2 * config.max_age.total_seconds())
        ):
            logger.warning("refused a replayed Discord interaction %s", interaction.id)
            return HttpResponse("interaction already received", status=401)
        wait = take_rate_token(interaction.discord_user_id, limit=config.rate_limit)
    except GuardUnavailable:
        logger.exception("Discord interaction refused: the cache did not answer")
        return HttpResponse("temporarily unavailable", status=503)
    if wait:
        return _say(f"Too many commands: try again in {math.ceil(wait)} s. Nothing was done.")
    try:
        enqueue(
            "chatops.interaction_run",
            policy=Policy.RAISE,  # the user is told at once
            queue=QUEUE,
            interaction=interaction.to_task(),
        )
    except Exception:
        logger.exception("could not queue a Discord interaction")
        return _say("Commands are unavailable right now; nothing was done. Use the website.")
    if interaction.type == MESSAGE_COMPONENT:
        return JsonResponse({"type": DEFERRED_UPDATE_MESSAGE})
    return JsonResponse({"type": DEFERRED_CHANNEL_MESSAGE, "data": {"flags": EPHEMERAL}})


@login_required
@require_POST
def link_code_create(request: HttpRequest) -> HttpResponse:
    """A one-time code, shown on this page only (it is stored as a digest)."""
    code, expires_at = services.link_code_create(user=request.user)
    return render(request, "chatops/link_code.html", {"code": code, "expires_at": expires_at})


@login_required
@require_POST
def link_remove(request: HttpRequest) -> HttpResponse:
    if services.link_remove(user=request.user):
        messages.success(request, "Your Discord account is no longer linked.")
    return redirect("settings")
