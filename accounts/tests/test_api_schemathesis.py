"""Property-based run of the whole API against its own OpenAPI schema (schemathesis, in-process WSGI).

Signed in as a tenant owner (every endpoint allowed) with a real access token. Generated path ids are mostly
mapped onto real objects of the tenant, so random bodies reach the services behind lock, flatten,
risk-profile edits and strategy updates, not just the 404 branch. Bounded: a few examples per
operation, well under a minute on 2 cores.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import Invitation
from accounts.tests.test_api_support import World, _fresh_throttles, world
from apiauth.tests.support import bearer_for

FIXTURES = (_fresh_throttles, world)  # shared fixtures, imported by name for pytest
# A deeper run for a person: API_FUZZ_EXAMPLES=200 API_FUZZ_COVERAGE=1 pytest <this file>
EXAMPLES_PER_OPERATION = int(os.environ.get("API_FUZZ_EXAMPLES", "12"))
COVERAGE_PHASE = os.environ.get("API_FUZZ_COVERAGE", "") == "1"
DERANDOMIZE = "API_FUZZ_EXAMPLES" not in os.environ  # the suite is repeatable; deep runs explore
CONFIG = SchemathesisConfig.from_dict(
    {
        "phases": {"coverage": {"enabled": COVERAGE_PHASE}, "stateful": {"enabled": False}},
        "generation": {"max-examples": EXAMPLES_PER_OPERATION},
    }
)


@pytest.fixture
def wsgi_app() -> Any:
    """Django's WSGI app inside the test transaction.

    Django closes "old" connections when a request starts and finishes; inside the test's
    transaction that would close the test's own connection, so those handlers are held off while the
    test runs, as Django's test client does.
    """
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield get_wsgi_application()
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def _generated_schema() -> dict[str, Any]:
    """The schema /api/schema/ serves, generated in-process (no database needed).

    Loaded at import rather than from a fixture: schemathesis' lazy `from_fixture` loader relies on a
    pytest internal (`Function._nodeid`) that pytest 9 no longer has.
    """
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(generated))


# The schema view itself is drf-spectacular's; its answers are not ours to test.
schema = schemathesis.openapi.from_dict(_generated_schema(), config=CONFIG).exclude(
    path="/api/schema/"
)


@pytest.fixture
def paper_simulator(tmp_path: Any, settings: Any) -> Any:
    from execution.tests.simulated import platform_on
    from simulator.testing import running_simulator

    with running_simulator(tmp_path / "sim.sqlite3") as handle, platform_on(handle, settings):
        yield handle


def _real_ids(world: World) -> dict[str, str]:
    return {
        "accounts": str(world.account_a.public_id),
        "analytics": str(world.account_a.public_id),
        "broker-connections": str(world.account_a.connection.public_id),
        "strategies": str(world.strategy_a.public_id),
        "orders": str(world.order_a.public_id),
        "backtests": str(world.backtest_a.public_id),
        "invitations": str(_invitation(world).public_id),
        "evaluations": str(world.evaluation_a.public_id),
    }


def _invitation(world: World) -> Invitation:
    """A pending invitation of tenant A (made once; a generated DELETE revokes it, then 404)."""
    invitation = Invitation.objects.for_tenant(world.tenant_a).first()
    if invitation is None:
        invitation = Invitation.all_tenants.create(
            tenant=world.tenant_a,
            email="fuzz@example.com",
            token_hash="0" * 64,
            expires_at=timezone.now() + timedelta(days=1),
        )
    return invitation


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=DERANDOMIZE,
)
def test_api_answers_every_generated_request_without_a_server_error(
    case: Any, world: World, wsgi_app: Any, request: pytest.FixtureRequest
) -> None:
    resource = case.path.split("/")[3] if case.path.startswith("/api/v1/") else ""
    parameters = dict(case.path_parameters or {})
    if "public_id" in parameters and resource in _real_ids(world):
        parameters["public_id"] = _real_ids(world)[resource]
    if "username" in parameters:
        parameters["username"] = "tina"
    case.path_parameters = parameters
    if case.path == "/api/v1/accounts/paper/":  # provisioning asks the simulator's control API
        request.getfixturevalue("paper_simulator")

    case.call_and_validate(
        app=wsgi_app,
        headers={"Authorization": bearer_for(world.alice)},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
