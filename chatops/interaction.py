"""An interaction as Discord sends it, reduced to what a command needs, and what we answer.

https://discord.com/developers/docs/interactions/receiving-and-responding
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from notifications.discord import CONTENT_LIMIT, DiscordMessage, truncate

# Interaction types
PING = 1
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
# Response types
PONG = 1
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5  # "thinking…", then we edit the original response
DEFERRED_UPDATE_MESSAGE = 6  # a button click acknowledged; we edit the message it sits on
EPHEMERAL = 1 << 6  # only the user who asked sees it: balances are nobody else's business
SUB_COMMAND = 1


class MalformedInteraction(ValueError):
    """Signed by Discord, but not an interaction we understand."""


@dataclass(frozen=True)
class Interaction:
    id: str
    application_id: str
    token: str
    type: int
    discord_user_id: str
    discord_username: str
    name: str  # the command's name, or the button's custom_id
    subcommand: str
    options: dict[str, Any]
    signed_at: datetime

    @classmethod
    def parse(cls, payload: Any, *, signed_at: datetime) -> Interaction:
        if not isinstance(payload, dict):
            raise MalformedInteraction("the body is not a JSON object")
        try:
            kind = int(payload["type"])
            data = payload.get("data") or {}
            # In a server the user is inside `member`; in a direct message it is `user`.
            user = (payload.get("member") or {}).get("user") or payload.get("user") or {}
            name = str(data.get("custom_id") if kind == MESSAGE_COMPONENT else data.get("name", ""))
            subcommand, options = _options(data.get("options") or [])
            if kind != PING and not str(user.get("id", "")).isdigit():
                raise MalformedInteraction("the interaction names no Discord user")
            return cls(
                id=str(payload["id"]),
                application_id=str(payload.get("application_id", "")),
                token=str(payload.get("token", "")),
                type=kind,
                discord_user_id=str(user.get("id", "")),
                discord_username=str(user.get("username", "")),
                name=name,
                subcommand=subcommand,
                options=options,
                signed_at=signed_at,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MalformedInteraction(f"unexpected interaction shape: {exc}") from exc

    def to_task(self) -> dict[str, Any]:
        """JSON-safe kwargs for the Celery task."""
        return {**self.__dict__, "signed_at": self.signed_at.isoformat()}

    @classmethod
    def from_task(cls, data: dict[str, Any]) -> Interaction:
        return cls(**{**data, "signed_at": datetime.fromisoformat(data["signed_at"])})


def _options(raw: Sequence[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    if raw and raw[0].get("type") == SUB_COMMAND:
        _, options = _options(raw[0].get("options") or [])
        return str(raw[0]["name"]), options
    return "", {str(o["name"]): o.get("value") for o in raw}


@dataclass(frozen=True)
class Button:
    label: str
    custom_id: str
    style: int = 2  # 1 primary, 2 secondary, 4 danger


@dataclass(frozen=True)
class Reply:
    """What the user reads. Editing a message replaces its buttons, so no buttons removes them."""

    content: str
    title: str = ""
    fields: Sequence[tuple[str, str]] = ()
    buttons: Sequence[Button] = field(default_factory=tuple)

    def to_payload(self) -> dict[str, Any]:
        if self.title or self.fields:
            payload = DiscordMessage(
                content=self.content, title=self.title, fields=self.fields
            ).to_payload()
        else:
            payload = {
                "content": truncate(self.content, CONTENT_LIMIT),
                "embeds": [],
                "allowed_mentions": {"parse": []},
            }
        payload["components"] = (
            [
                {
                    "type": 1,
                    "components": [
                        {"type": 2, "style": b.style, "label": b.label, "custom_id": b.custom_id}
                        for b in self.buttons
                    ],
                }
            ]
            if self.buttons
            else []
        )
        return payload
