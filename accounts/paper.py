"""Paper trading: each tenant trades on a simulator login of its own.

The platform's simulator is one market shared by every simulator login, and its account ids are one
sequence, so the rules that keep tenants apart on it live here:
- a tenant's paper login is created for it (`paper_login_name`, a random API key only we hold) through
  the simulator's control API, and its accounts are registered as they are created;
- the shared `demo` login (whose key is public) belongs to the demo desk, and only in development;
- a simulator login name belongs to one tenant, and a `paper-` name only to the tenant it names;
- a simulator account id registered by one tenant can never be registered by another.
"""

from __future__ import annotations

from typing import Any

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError

from accounts.models import BrokerConnection, GatewayEnvironment, Tenant, TradingAccount

SHARED_DEMO_LOGIN = "demo"  # the simulator's built-in user; its API key is documented
DEMO_DESK_SLUG = "demo-desk"
PAPER_LOGIN_PREFIX = "paper-"
CONTROL_TIMEOUT_SECONDS = 10.0
CONTROL_AUTH_HEADER = "X-Simulator-Secret"  # where the control API looks for its secret


class SimulatorUnavailable(ValidationError):
    """The simulator's control API did not answer or refused: nothing was provisioned."""


def paper_login_name(tenant: Tenant) -> str:
    return f"{PAPER_LOGIN_PREFIX}{tenant.public_id.hex}"


def simulator_login_check(*, tenant: Tenant, username: str) -> None:
    """Refuse a simulator login that is not this tenant's to use (before anything is stored)."""
    if username == SHARED_DEMO_LOGIN:
        if not (settings.DEBUG and tenant.slug == DEMO_DESK_SLUG):
            raise ValidationError(
                {"username": "The shared demo login is only for the demo desk in development."}
            )
        return
    if username.startswith(PAPER_LOGIN_PREFIX) and username != paper_login_name(tenant):
        raise ValidationError({"username": "Paper logins are created by the platform."})
    # A fleet-wide look on purpose: one simulator login name belongs to one tenant.
    taken = (
        BrokerConnection.all_tenants.filter(
            environment=GatewayEnvironment.SIMULATOR, username=username
        )
        .exclude(tenant=tenant)
        .exists()
    )
    if taken:
        raise ValidationError({"username": "This simulator login is not available."})


def simulator_account_check(*, tenant: Tenant, projectx_account_id: int) -> None:
    """Refuse a simulator account id another tenant has registered (one id space per simulator)."""
    # A fleet-wide look on purpose: the answer names nobody, it only refuses.
    taken = (
        TradingAccount.all_tenants.filter(
            connection__environment=GatewayEnvironment.SIMULATOR,
            projectx_account_id=projectx_account_id,
        )
        .exclude(tenant=tenant)
        .exists()
    )
    if taken:
        raise ValidationError(
            {"projectx_account_id": "This account belongs to another simulator login."}
        )


def _control_url() -> str:
    """The simulator's control API sits beside its REST root (`.../api` -> `.../_sim`)."""
    root = settings.PROJECTX_SIM_API_URL.rstrip("/").removesuffix("/api")
    return f"{root}/_sim"


def _control_headers() -> dict[str, str]:
    secret = settings.SIMULATOR_CONTROL_SECRET
    return {CONTROL_AUTH_HEADER: secret} if secret else {}


def _control(path: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        response = httpx.post(
            f"{_control_url()}{path}",
            json=body,
            headers=_control_headers(),
            timeout=CONTROL_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as exc:
        reason = f"The simulator could not be reached ({type(exc).__name__})."
        raise SimulatorUnavailable(reason) from exc
    if response.status_code != 200:
        raise SimulatorUnavailable(f"The simulator refused ({response.status_code}).")
    return response.json()


def simulator_user_create(*, name: str, api_key: str) -> dict[str, Any]:
    """Create (or re-key) a simulator user; returns its first account (`id`, `name`, `balance`)."""
    return _control("/users", {"name": name, "apiKey": api_key})


def simulator_account_add(*, user: str) -> dict[str, Any]:
    """One more practice account for a simulator user."""
    return _control("/accounts", {"user": user})
