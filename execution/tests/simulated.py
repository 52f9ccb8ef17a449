"""The platform wired to a running simulator (simulator.testing), for end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from accounts.crypto import encrypt_secret
from accounts.models import GatewayEnvironment, TradingAccount
from accounts.tests.factories import TradingAccountFactory
from execution import broker


@contextmanager
def platform_on(sim, settings) -> Iterator[None]:
    """Point the platform's simulator connections at `sim` (pytest-django's `settings`), with no
    gateway client cached from another test."""
    settings.PROJECTX_SIM_API_URL = sim.base_url
    settings.PROJECTX_SIM_USER_HUB_URL = sim.user_hub_url
    settings.PROJECTX_SIM_MARKET_HUB_URL = sim.market_hub_url
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
