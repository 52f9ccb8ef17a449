"""The platform wired to a running simulator (simulator.testing), for end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from accounts.crypto import encrypt_secret
from accounts.models import GatewayEnvironment, TradingAccount
from accounts.tests.factories import TradingAccountFactory
from execution import broker
from simulator.testing import SimulatorHandle, running_simulator
from simulator.tests.conftest import BRACKET_BARS, write_bars
from tradingsite.celery import app as celery_app


@contextmanager
def platform_on(sim, settings) -> Iterator[None]:
    """Point the platform's simulator connections at `sim` (pytest-django's `settings`), with no
    gateway client cached from another test."""
    settings.PROJECTX_SIM_API_URL = sim.base_url
    settings.PROJECTX_SIM_USER_HUB_URL = sim.user_hub_url
    settings.PROJECTX_SIM_MARKET_HUB_URL = sim.market_hub_url
    # the platform provisions paper logins through the control API, with the simulator's secret
    settings.SIMULATOR_CONTROL_SECRET = getattr(sim.server.config, "control_secret", None) or ""
    broker._clients.clear()
    try:
        yield
    finally:
        broker._clients.clear()


def simulator_account(sim, tenant, **fields: object) -> TradingAccount:
    """An account of `tenant` at the simulator, logged in as its demo user."""
    return TradingAccountFactory(
        tenant=tenant,
        projectx_account_id=sim.account_id,
        connection__tenant=tenant,
        connection__environment=GatewayEnvironment.SIMULATOR,
        connection__username=sim.username,
        connection__api_key_encrypted=encrypt_secret(sim.api_key),
        **fields,
    )


@contextmanager
def bracket_simulator(tmp_path: Path, settings) -> Iterator[SimulatorHandle]:
    """A simulator on a stepped clock from the wall clock's minute (its fills fall in today's
    session) replaying `BRACKET_BARS` (the next open is 5000.00), with the platform on it."""
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    data = write_bars(tmp_path / "ep.csv.gz", BRACKET_BARS, start - timedelta(minutes=2))
    with (
        running_simulator(
            tmp_path / "sim.sqlite3", data={"EP": data}, start=start, history_minutes=2
        ) as handle,
        platform_on(handle, settings),
    ):
        yield handle


@contextmanager
def tasks_inline() -> Iterator[None]:
    """Celery tasks run inline, in this process, as a worker would run them."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = before
