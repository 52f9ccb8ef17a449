"""Discord control settings, read in one place, each with a production default (docs/discord.md)."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings

from chatops.guard import RateLimit


@dataclass(frozen=True)
class ChatopsConfig:
    application_id: str
    public_key: str  # hex; empty switches the endpoint off
    api_url: str  # Discord's REST base, e.g. https://discord.com/api/v10
    max_age: timedelta  # how old a signed timestamp may be
    rate_limit: RateLimit
    confirm_ttl: timedelta  # a flatten/lock button's life
    link_code_ttl: timedelta


def chatops_config() -> ChatopsConfig:
    return ChatopsConfig(
        application_id=str(getattr(settings, "DISCORD_APPLICATION_ID", "")),
        public_key=str(getattr(settings, "DISCORD_PUBLIC_KEY", "")),
        api_url=str(getattr(settings, "DISCORD_API_URL", "https://discord.com/api/v10")).rstrip(
            "/"
        ),
        max_age=timedelta(seconds=int(getattr(settings, "DISCORD_MAX_AGE_SECONDS", 300))),
        rate_limit=RateLimit(
            count=int(getattr(settings, "DISCORD_RATE_LIMIT_COUNT", 10)),
            window_seconds=int(getattr(settings, "DISCORD_RATE_LIMIT_WINDOW_SECONDS", 60)),
        ),
        confirm_ttl=timedelta(seconds=int(getattr(settings, "DISCORD_CONFIRM_SECONDS", 30))),
        link_code_ttl=timedelta(seconds=int(getattr(settings, "DISCORD_LINK_CODE_SECONDS", 600))),
    )
