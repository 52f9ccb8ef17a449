"""Paper trading per tenant, through the API against a real simulator: each tenant's paper accounts
are on its own simulator login, and no tenant can register, see or flatten another's."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from accounts import paper, services
from accounts.models import BrokerConnection, GatewayEnvironment, TradingAccount
from accounts.tests.factories import TenantFactory
from accounts.tests.test_api_support import API, _fresh_throttles, api, rows_of
from execution import broker
from execution.tests.simulated import platform_on
from simulator.testing import running_simulator

FIXTURES = (_fresh_throttles, api)  # shared fixtures, imported by name for pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def sim(tmp_path, settings):
    with running_simulator(tmp_path / "sim.sqlite3") as handle, platform_on(handle, settings):
        yield handle


def provision(api: Any, user, tenant) -> Any:
    return api(user, tenant).post(f"{API}/accounts/paper/", format="json")


def test_each_tenant_gets_paper_accounts_on_its_own_simulator_login(
    sim, api, alice, bob, tenant_a, tenant_b
):
    first = provision(api, alice, tenant_a)
    second = provision(api, alice, tenant_a)
    other = provision(api, bob, tenant_b)
    assert (first.status_code, second.status_code, other.status_code) == (201, 201, 201)

    a_login = BrokerConnection.objects.for_tenant(tenant_a).get()
    b_login = BrokerConnection.objects.for_tenant(tenant_b).get()
    assert a_login.username == paper.paper_login_name(tenant_a)
    assert b_login.username != a_login.username
    assert a_login.environment == b_login.environment == GatewayEnvironment.SIMULATOR
    a_ids = {first.json()["projectx_account_id"], second.json()["projectx_account_id"]}
    assert len(a_ids) == 2
    assert first.json()["is_simulated"] is True
    # The simulator knows each login by the key the platform generated, and each sees its own only.
    seen_by_a = {a.id for a in broker.gateway_client_for(connection=a_login).search_accounts()}
    seen_by_b = {a.id for a in broker.gateway_client_for(connection=b_login).search_accounts()}
    assert seen_by_a == a_ids
    assert seen_by_b == {other.json()["projectx_account_id"]}
    assert sim.account_id not in seen_by_a | seen_by_b  # not the shared demo user's account


def test_another_tenants_paper_account_cannot_be_registered_seen_or_flattened(
    sim, api, alice, bob, tenant_a, tenant_b
):
    a_account = provision(api, alice, tenant_a).json()
    provision(api, bob, tenant_b)
    b_login = BrokerConnection.objects.for_tenant(tenant_b).get()
    client = api(bob, tenant_b)
    before_a, before_b = rows_of(tenant_a), rows_of(tenant_b)

    stolen = client.post(
        f"{API}/accounts/",
        {
            "connection": str(b_login.public_id),
            "projectx_account_id": a_account["projectx_account_id"],
            "name": "Not mine",
            "plan": "practice-50k",
        },
        format="json",
    )
    assert stolen.status_code == 400
    assert stolen.json() == {
        "projectx_account_id": ["This account belongs to another simulator login."]
    }
    listed = client.get(f"{API}/accounts/").json()
    assert a_account["id"] not in {row["id"] for row in listed["results"]}
    assert client.get(f"{API}/accounts/{a_account['id']}/").status_code == 404
    flatten = client.post(f"{API}/accounts/{a_account['id']}/flatten/", {"reason": "x"})
    assert flatten.status_code == 404
    assert (rows_of(tenant_a), rows_of(tenant_b)) == (before_a, before_b)


@pytest.mark.parametrize(
    ("case", "username"),
    [
        ("shared_demo_login", paper.SHARED_DEMO_LOGIN),
        ("another_tenants_paper_login", None),
        ("a_paper_name_of_nobody", "paper-0123456789abcdef"),
    ],
)
def test_a_simulator_login_that_is_not_the_tenants_is_refused(
    case, username, api, alice, bob, tenant_a, tenant_b
):
    username = username or paper.paper_login_name(tenant_a)
    before = rows_of(tenant_b)
    response = api(bob, tenant_b).post(
        f"{API}/broker-connections/",
        {"name": "Borrowed", "username": username, "api_key": "guessed-key-123"},
        format="json",
    )
    assert response.status_code == 400, case
    assert list(response.json()) == ["username"]
    assert rows_of(tenant_b) == before


def test_a_simulator_login_name_belongs_to_one_tenant(api, alice, bob, tenant_a, tenant_b):
    services.broker_connection_create(
        tenant=tenant_a, actor=alice, name="Mine", username="alice-sim", api_key="key-of-alice"
    )
    response = api(bob, tenant_b).post(
        f"{API}/broker-connections/",
        {"name": "Mine too", "username": "alice-sim", "api_key": "key-of-bob-1"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"username": ["This simulator login is not available."]}


def test_the_shared_demo_login_is_only_for_the_demo_desk_in_development(settings, alice):
    desk = TenantFactory(slug=paper.DEMO_DESK_SLUG)
    other = TenantFactory()
    login = {
        "actor": alice,
        "name": "Demo",
        "username": paper.SHARED_DEMO_LOGIN,
        "api_key": "k" * 8,
    }
    settings.DEBUG = False
    with pytest.raises(ValidationError):
        services.broker_connection_create(tenant=desk, **login)
    settings.DEBUG = True
    with pytest.raises(ValidationError):
        services.broker_connection_create(tenant=other, **login)
    assert services.broker_connection_create(tenant=desk, **login).tenant == desk


def test_a_simulator_that_cannot_be_reached_provisions_nothing(api, alice, tenant_a, settings):
    settings.PROJECTX_SIM_API_URL = "http://127.0.0.1:9/api"  # nothing listens on the discard port
    before = rows_of(tenant_a)
    response = provision(api, alice, tenant_a)
    assert response.status_code == 503
    assert "simulator could not be reached" in response.json()["detail"]
    assert rows_of(tenant_a) == before
    assert not TradingAccount.objects.for_tenant(tenant_a).exists()


@pytest.mark.django_db(transaction=True)
def test_two_first_requests_at_once_give_one_login_whose_key_still_works(sim, alice, tenant_a):
    """Creating a simulator user again replaces its key: provisioning is serialised per tenant."""
    import threading

    from django.db import connection as db_connection

    barrier, errors = threading.Barrier(2), []

    def ask() -> None:
        try:
            barrier.wait()
            services.paper_account_provision(tenant=tenant_a, actor=alice)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    login = BrokerConnection.objects.for_tenant(tenant_a).get()
    registered = set(
        TradingAccount.objects.for_tenant(tenant_a).values_list("projectx_account_id", flat=True)
    )
    assert len(registered) == 2
    broker._clients.clear()
    assert {
        a.id for a in broker.gateway_client_for(connection=login).search_accounts()
    } == registered


def test_the_control_api_is_called_with_the_configured_secret(settings):
    """The simulator's control API answers only callers that send its secret (SIMULATOR_CONTROL_SECRET)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    seen = []

    class Control(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, self.headers.get(paper.CONTROL_AUTH_HEADER), body["name"]))
            reply = json.dumps({"id": 7, "name": "PRAC-7", "balance": 50000}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Control)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings.PROJECTX_SIM_API_URL = f"http://127.0.0.1:{server.server_port}/api"
        settings.SIMULATOR_CONTROL_SECRET = "control-secret-for-test"
        account = paper.simulator_user_create(name="paper-x", api_key="k" * 32)
    finally:
        server.shutdown()
    assert account["id"] == 7
    assert seen == [("/_sim/users", "control-secret-for-test", "paper-x")]
