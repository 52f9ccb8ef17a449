"""Discord as the tests play it: keys generated here, signed requests, and a local receiver for the
responses our worker edits. Only the network boundary is replaced (a local HTTP server)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from celery.signals import after_task_publish
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.test import Client

from accounts.tests.factories import UserFactory
from chatops.models import DiscordLink
from chatops.tasks import interaction_run_task
from notifications.tests.receiver import WebhookReceiver
from tradingsite.celery import app as celery_app

APPLICATION_ID = "424242"


class FakeDiscord:
    """Signs and sends interactions the way Discord does, and runs what the endpoint queued."""

    def __init__(self, client: Client, key: Ed25519PrivateKey) -> None:
        self.client, self.key = client, key
        self._next_id = 1_000_000
        self.queued: list[dict[str, Any]] = []

    def interaction(self, user_id: str, *, kind: int, data: dict[str, Any]) -> dict[str, Any]:
        self._next_id += 1
        return {
            "id": str(self._next_id),
            "application_id": APPLICATION_ID,
            "token": f"itok-{self._next_id}",
            "type": kind,
            "data": data,
            "member": {"user": {"id": user_id, "username": f"discord-{user_id}"}},
        }

    def command(
        self, user_id: str, command: str, subcommand: str = "", /, **options: Any
    ) -> dict[str, Any]:
        opts = [
            {"name": k, "type": 4 if isinstance(v, int) else 3, "value": v}
            for k, v in options.items()
        ]
        if subcommand:
            opts = [{"name": subcommand, "type": 1, "options": opts}]
        return self.interaction(user_id, kind=2, data={"name": command, "type": 1, "options": opts})

    def click(self, user_id: str, custom_id: str) -> dict[str, Any]:
        return self.interaction(user_id, kind=3, data={"custom_id": custom_id, "component_type": 2})

    def post(
        self,
        payload: dict[str, Any] | bytes,
        *,
        timestamp: int | None = None,
        key: Ed25519PrivateKey | None = None,
        signed: bool = True,
        body_after_signing: bytes | None = None,
    ) -> Any:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        headers = {}
        if signed:
            signature = (key or self.key).sign(stamp.encode() + body).hex()
            headers = {"X-Signature-Ed25519": signature, "X-Signature-Timestamp": stamp}
        return self.client.post(
            "/discord/interactions",
            data=body_after_signing if body_after_signing is not None else body,
            content_type="application/json",
            headers=headers,
        )

    def run_queued(self) -> None:
        """Run what the endpoint queued, here and now, as the worker on the "high" queue would."""
        while self.queued:
            interaction_run_task(**self.queued.pop(0))


@pytest.fixture(autouse=True)
def _fresh_cache(settings: Any) -> None:
    """Seen interaction ids, rate-limit windows and Discord's buckets live in Redis: none leak. Each
    test gets a key space of its own; not cache.clear(), which flushes the whole cache database under
    the other xdist worker's feet (its heartbeat, its throttles)."""
    default = settings.CACHES["default"]
    settings.CACHES = {
        **settings.CACHES,
        "default": {**default, "KEY_PREFIX": f"{default.get('KEY_PREFIX', '')}-{uuid.uuid4().hex}"},
    }


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    yield server
    server.close()


@pytest.fixture
def discord(settings: Any, receiver: WebhookReceiver, client: Client) -> Iterator[FakeDiscord]:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    settings.DISCORD_PUBLIC_KEY = public.hex()
    settings.DISCORD_APPLICATION_ID = APPLICATION_ID
    settings.DISCORD_API_URL = f"http://127.0.0.1:{receiver.port}/api/v10"
    settings.NOTIFICATIONS_READ_TIMEOUT_SECONDS = 0.5
    settings.NOTIFICATIONS_CONNECT_TIMEOUT_SECONDS = 0.5
    settings.NOTIFICATIONS_HTTP_BACKOFF_SECONDS = 0.05
    fake = FakeDiscord(client, key)

    def record(sender: str | None = None, body: Any = None, **kwargs: Any) -> None:
        if sender == "chatops.interaction_run":
            fake.queued.append(body[1])

    after_task_publish.connect(record)
    yield fake
    after_task_publish.disconnect(record)
    purge_queues("high", "critical")


def purge_queues(*names: str) -> None:
    """Drop what these tests left on the real broker (this run's key prefix only): a worker started
    later by another test must not pick up an interaction, or a flatten, whose rows are gone."""
    with celery_app.connection_for_write() as connection:
        for name in names:
            connection.default_channel.queue_purge(name)


def link(user: Any, discord_user_id: str) -> DiscordLink:
    return DiscordLink.objects.create(
        user=user, discord_user_id=discord_user_id, discord_username=f"discord-{discord_user_id}"
    )


@pytest.fixture
def linked_alice(alice: Any, tenant_a: Any) -> DiscordLink:
    return link(alice, "111")


def make_user(name: str) -> Any:
    return UserFactory(username=name)
