"""Register the application commands with Discord (or print them).

    python manage.py discord_commands --print          # the JSON that would be sent
    DISCORD_BOT_TOKEN=... python manage.py discord_commands [--guild ID]

One PUT replaces the whole set (Discord's "bulk overwrite"), so running it again is harmless. Global
commands can take up to an hour to appear in every server; `--guild` registers them in one server at
once, for trying them out. The bot token is read from the environment only and never printed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatops.conf import chatops_config
from notifications.services import USER_AGENT

DEFINITIONS = Path(__file__).resolve().parents[2] / "application_commands.json"


def command_definitions() -> list[dict[str, Any]]:
    return json.loads(DEFINITIONS.read_text())


def registration_url(*, application_id: str, guild_id: str = "") -> str:
    base = f"{chatops_config().api_url}/applications/{application_id}"
    return f"{base}/guilds/{guild_id}/commands" if guild_id else f"{base}/commands"


class Command(BaseCommand):
    help = "Register the Discord application commands (chatops/application_commands.json)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--print", action="store_true", help="print the JSON and stop")
        parser.add_argument("--guild", default="", help="register in one server only (instant)")

    def handle(self, *args: Any, **options: Any) -> None:
        definitions = command_definitions()
        if options["print"]:
            self.stdout.write(json.dumps(definitions, indent=2, ensure_ascii=False))
            return
        application_id = chatops_config().application_id
        token = os.environ.get("DISCORD_BOT_TOKEN", "")
        if not application_id or not token:
            raise CommandError("Set DISCORD_APPLICATION_ID and DISCORD_BOT_TOKEN first.")
        guild = str(options["guild"])
        if guild and not guild.isdigit():
            raise CommandError("--guild takes the server's numeric id.")
        url = registration_url(application_id=application_id, guild_id=guild)
        try:
            response = httpx.put(
                url,
                json=definitions,
                headers={"Authorization": f"Bot {token}", "User-Agent": USER_AGENT},
                timeout=15.0,
            )
        except httpx.HTTPError as exc:
            raise CommandError(f"cannot reach Discord: {type(exc).__name__}") from exc
        if response.status_code >= 300:
            raise CommandError(
                f"Discord refused the commands: HTTP {response.status_code} {response.text[:500]}"
            )
        names = ", ".join(f"/{c['name']}" for c in response.json())
        self.stdout.write(f"Registered {names}.")
