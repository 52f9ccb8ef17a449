"""How replies reach Discord: through a real worker on the "high" queue, retried when Discord
is busy (an edit is idempotent), and the registration of the command definitions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from celery.signals import after_task_publish
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from chatops.commands import COMMANDS
from chatops.management.commands.discord_commands import command_definitions
from chatops.tests.conftest import APPLICATION_ID, FakeDiscord, purge_queues
from notifications.tests.receiver import Reply


@contextmanager
def celery_worker(*, queues: list[str], tmp_path: Path) -> Iterator[None]:
    """A real `celery worker` process on this run's broker prefix and test database. A process, not
    Celery's in-process test worker: that one rewires the root logger for every later test."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tradingsite.test_settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "DISCORD_API_URL": settings.DISCORD_API_URL,
    }
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("celery")),
            *("-A", "tradingsite", "worker", "-Q", ",".join(queues), "-P", "solo"),
            *("--without-mingle", "--without-gossip", "--without-heartbeat"),
            *("-n", f"chatops-{os.getpid()}@%h"),
        ],
        env=env,
        cwd=settings.BASE_DIR,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()


@pytest.mark.django_db(transaction=True)
def test_a_worker_on_the_high_queue_answers_a_deferred_command(
    discord: FakeDiscord, receiver, linked_alice, account_a, tmp_path
) -> None:
    purge_queues("high")  # no stale message from an earlier run
    with celery_worker(queues=["high"], tmp_path=tmp_path):
        started = time.monotonic()
        payload = discord.command("111", "status")
        assert discord.post(payload).json() == {"type": 5, "data": {"flags": 64}}
        deadline = started + 60  # the worker process starts Django first
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.05)
        took = time.monotonic() - started
        assert receiver.received, (tmp_path / "worker.log").read_text()[-3000:]
        warm = time.monotonic()
        discord.post(discord.command("111", "status"))
        while len(receiver.received) < 2 and time.monotonic() < warm + 15:
            time.sleep(0.005)
        warm_took = time.monotonic() - warm
    print(
        f"signed request to the edited answer: {took * 1000:.0f} ms with worker start-up, "
        f"{warm_took * 1000:.0f} ms warm"
    )
    edit = receiver.received[0]
    assert edit.method == "PATCH"
    assert edit.path == f"/api/v10/webhooks/{APPLICATION_ID}/{payload['token']}/messages/@original"
    assert edit.json["embeds"][0]["fields"][0]["name"] == "Account of A"
    assert len(receiver.received) == 2  # the second one too, through the already running worker


@pytest.mark.django_db
def test_a_server_error_is_retried_and_the_answer_arrives_once(
    discord: FakeDiscord, receiver, linked_alice, account_a
) -> None:
    receiver.script(Reply(status=503, body={"message": "busy"}))
    discord.post(discord.command("111", "status"))
    discord.run_queued()
    assert [r.status for r in receiver.received] == [503, 200]
    assert receiver.received[0].json == receiver.received[1].json


@pytest.mark.django_db
def test_a_long_rate_limit_sends_the_answer_to_a_later_task(
    discord: FakeDiscord, receiver, linked_alice, account_a
) -> None:
    receiver.script(Reply(status=429, body={"retry_after": 12.5, "global": False}))
    later: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    def record(sender: str | None = None, body: Any = None, headers: Any = None, **kw: Any) -> None:
        later.append((sender, body[1], headers))

    after_task_publish.connect(record)
    try:
        payload = discord.command("111", "status")
        discord.post(payload)
        discord.run_queued()
    finally:
        after_task_publish.disconnect(record)
    [(_, kwargs, headers)] = [r for r in later if r[0] == "chatops.interaction_reply"]
    assert kwargs["token"] == payload["token"]
    assert kwargs["attempt"] == 2
    assert headers["eta"] is not None  # a countdown, not a hot retry loop
    assert len(receiver.received) == 1


def test_every_defined_command_has_a_handler_and_every_handler_a_definition() -> None:
    defined = {c["name"] for c in command_definitions()}
    assert defined == set(COMMANDS) | {"link"}
    for definition in command_definitions():
        assert len(definition["description"]) <= 100  # Discord's limit


def test_print_shows_the_definitions(capsys) -> None:
    out = StringIO()
    call_command("discord_commands", "--print", stdout=out)
    assert json.loads(out.getvalue()) == command_definitions()


def test_registration_puts_the_definitions_with_the_bot_token(
    settings, receiver, monkeypatch
) -> None:
    settings.DISCORD_APPLICATION_ID = "424242"
    settings.DISCORD_API_URL = f"http://127.0.0.1:{receiver.port}/api/v10"
    monkeypatch.setenv("DISCORD_BOT_TOKEN", "bot-secret")
    receiver.script(Reply(status=200, body=command_definitions()))
    out = StringIO()

    call_command("discord_commands", "--guild", "777", stdout=out)

    [request] = receiver.received
    assert request.method == "PUT"
    assert request.path == "/api/v10/applications/424242/guilds/777/commands"
    assert request.headers["authorization"] == "Bot bot-secret"
    assert request.json == command_definitions()
    assert out.getvalue().startswith("Registered /link, /status, /orders")
    assert "bot-secret" not in out.getvalue()


@pytest.mark.django_db
def test_a_command_that_crashes_still_gets_an_answer(
    discord: FakeDiscord, receiver, linked_alice, account_a, monkeypatch
) -> None:
    from chatops import commands

    def broken(actor: Any, interaction: Any) -> Any:
        raise RuntimeError("database went away")

    monkeypatch.setitem(commands.COMMANDS, "status", broken)
    discord.post(discord.command("111", "status"))
    discord.run_queued()
    [edit] = receiver.received
    assert edit.json["content"].startswith("That command failed on our side.")


def test_registration_without_a_token_says_what_to_set(settings, receiver, monkeypatch) -> None:
    from django.core.management.base import CommandError

    settings.DISCORD_APPLICATION_ID = "424242"
    monkeypatch.delenv("DISCORD_BOT_TOKEN", raising=False)
    with pytest.raises(CommandError, match="Set DISCORD_APPLICATION_ID and DISCORD_BOT_TOKEN"):
        call_command("discord_commands")
    assert receiver.received == []
