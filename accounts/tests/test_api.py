"""Accounts API: token login, the user, trading accounts (risk, lock, flatten), broker logins, members,
audit log, throttling, schema and docs."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.api.base import ApiUserThrottle, LoginThrottle, LoginUsernameThrottle
from accounts.crypto import decrypt_secret
from accounts.models import AuditEntry, BrokerConnection, Membership, RiskProfile
from accounts.tests.test_api_support import API, World, _fresh_throttles, api, rows_of, world
from execution.models import AccountDay

FIXTURES = (_fresh_throttles, api, world)  # shared fixtures, imported by name for pytest
pytestmark = pytest.mark.django_db


def _actions(tenant: Any) -> list[str]:
    return list(
        AuditEntry.all_tenants.filter(tenant=tenant).order_by("pk").values_list("action", flat=True)
    )


# --- Token auth -------------------------------------------------------------------------------------
def test_token_endpoint_returns_a_token_that_authenticates(world: World) -> None:
    anonymous = APIClient()

    response = anonymous.post(
        f"{API}/auth/token/", {"username": "alice", "password": "pw-for-tests"}, format="json"
    )
    token = response.json()["access"]
    anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    me = anonymous.get(f"{API}/me/")

    assert response.status_code == 200
    assert me.status_code == 200
    assert me.json() == {
        "username": "alice",
        "email": "alice@example.com",
        "email_verified": False,
        "current_tenant": str(world.tenant_a.public_id),
        "memberships": [
            {
                "tenant": str(world.tenant_a.public_id),
                "tenant_name": "Desk A",
                "tenant_slug": "desk-a",
                "role": "owner",
            }
        ],
    }


@pytest.mark.parametrize(
    "credentials",
    [{"username": "alice", "password": "wrong"}, {"username": "nobody", "password": "pw"}],
    ids=["wrong_password", "unknown_user"],
)
def test_token_endpoint_refuses_bad_credentials_alike(world: World, credentials: dict) -> None:
    response = APIClient().post(f"{API}/auth/token/", credentials, format="json")

    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Unable to sign in with these credentials."]}


def test_invalid_token_is_401() -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-real-token")

    assert client.get(f"{API}/accounts/").status_code == 401


def test_session_login_works_too(world: World) -> None:
    client = APIClient()
    client.force_login(world.alice)

    response = client.get(f"{API}/accounts/")

    assert response.status_code == 200
    assert response.json()["count"] == 2  # account_a and account_a_live


def test_token_endpoint_is_throttled_per_client(world: World, monkeypatch: Any) -> None:
    monkeypatch.setattr(LoginThrottle, "rate", "3/min")
    client = APIClient()
    body = {"username": "alice", "password": "wrong"}

    codes = [client.post(f"{API}/auth/token/", body, format="json").status_code for _ in range(4)]

    assert codes == [400, 400, 400, 429]


def test_guesses_at_one_username_are_throttled_from_any_address(
    world: World, monkeypatch: Any
) -> None:
    monkeypatch.setattr(LoginUsernameThrottle, "rate", "2/min")
    body = {"username": "alice", "password": "wrong"}

    codes = [
        APIClient(REMOTE_ADDR=f"10.0.0.{n}").post(f"{API}/auth/token/", body, format="json")
        for n in range(3)
    ]
    other_user = APIClient(REMOTE_ADDR="10.0.0.9").post(
        f"{API}/auth/token/", {"username": "bob", "password": "pw-for-tests"}, format="json"
    )

    assert [r.status_code for r in codes] == [400, 400, 429]
    assert other_user.status_code == 200


def test_signed_in_user_is_throttled(world: World, api: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(ApiUserThrottle, "rate", "2/min")
    client = api(world.alice)

    codes = [client.get(f"{API}/accounts/").status_code for _ in range(3)]

    assert codes == [200, 200, 429]


# --- Trading accounts -----------------------------------------------------------------------------
def test_account_detail_includes_risk_profile(world: World, api: Any) -> None:
    response = api(world.vera).get(f"{API}/accounts/{world.account_a.public_id}/")

    body = response.json()
    assert response.status_code == 200
    assert body["id"] == str(world.account_a.public_id)
    assert body["name"] == "Account of A"
    assert body["plan"] == "combine-50k"
    assert body["is_simulated"] is True
    assert body["starting_balance_usd"] == "50000.00"
    assert body["connection"]["id"] == str(world.account_a.connection.public_id)
    assert body["risk_profile"]["daily_loss_limit_usd"] == "1000.00"
    assert body["risk_profile"]["max_contracts"] == 5


def test_owner_edits_risk_profile_and_it_is_audited(world: World, api: Any) -> None:
    response = api(world.alice).patch(
        f"{API}/accounts/{world.account_a.public_id}/risk-profile/",
        {"max_contracts": 2, "daily_loss_limit_usd": "800.00"},
        format="json",
    )

    profile = RiskProfile.all_tenants.get(account=world.account_a)
    assert response.status_code == 200
    assert response.json()["max_contracts"] == 2
    assert (profile.max_contracts, profile.daily_loss_limit_usd) == (2, Decimal("800.00"))
    entry = AuditEntry.all_tenants.filter(tenant=world.tenant_a).order_by("-pk").first()
    assert (entry.action, entry.actor, entry.before["max_contracts"]) == (
        "risk_profile.update",
        world.alice,
        5,
    )
    assert entry.after["max_contracts"] == 2


def test_risk_profile_errors_are_reported_per_field(world: World, api: Any) -> None:
    before = rows_of(world.tenant_a)

    response = api(world.alice).patch(
        f"{API}/accounts/{world.account_a.public_id}/risk-profile/",
        {"max_contracts": -1, "daily_loss_limit_usd": "abc", "mll_mode": "weekly"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "max_contracts": ["Ensure this value is greater than or equal to 0."],
        "daily_loss_limit_usd": ["A valid number is required."],
        "mll_mode": ['"weekly" is not a valid choice.'],
    }
    assert rows_of(world.tenant_a) == before


def test_risk_profile_constraint_errors_come_back_as_400(world: World, api: Any) -> None:
    """Values each field accepts, but the model's check constraints refuse (via the service)."""
    before = rows_of(world.tenant_a)

    response = api(world.alice).patch(
        f"{API}/accounts/{world.account_a.public_id}/risk-profile/",
        {"flat_by_et": "16:30"},
        format="json",
    )

    assert response.status_code == 400
    assert "flat_by_before_topstep_deadline" in json.dumps(response.json())
    assert rows_of(world.tenant_a) == before


def test_lock_sets_the_day_lock_audits_and_queues_a_flatten(
    world: World, api: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = api(world.tina).post(
            f"{API}/accounts/{world.account_a.public_id}/lock/",
            {"reason": "too many losses"},
            format="json",
        )

    body = response.json()
    day = AccountDay.all_tenants.get(account=world.account_a, session_date=body["session_date"])
    assert response.status_code == 200
    assert (body["is_locked"], body["locked_reason"]) == (True, "too many losses")
    assert (day.is_locked, day.locked_reason) == (True, "too many losses")
    assert _actions(world.tenant_a)[-2:] == ["account.lock_for_day", "account.flatten_requested"]
    assert len(queued) == 1


def test_lock_requires_a_reason(world: World, api: Any) -> None:
    response = api(world.alice).post(
        f"{API}/accounts/{world.account_a.public_id}/lock/", {}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"reason": ["This field is required."]}


def test_owner_creates_an_account_with_default_risk_profile(world: World, api: Any) -> None:
    response = api(world.alice).post(
        f"{API}/accounts/",
        {
            "connection": str(world.account_a.connection.public_id),
            "projectx_account_id": 555,
            "name": "TC 2",
            "plan": "combine-50k",
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["risk_profile"]["max_loss_limit_usd"] == "2000.00"
    assert _actions(world.tenant_a)[-1] == "trading_account.create"


def test_duplicate_account_is_a_field_error_not_a_crash(world: World, api: Any) -> None:
    response = api(world.alice).post(
        f"{API}/accounts/",
        {
            "connection": str(world.account_a.connection.public_id),
            "projectx_account_id": world.account_a.projectx_account_id,
            "name": "Again",
            "plan": "combine-50k",
        },
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "projectx_account_id": ["This account is already registered on that connection."]
    }


# --- Broker connections: the API key is write-only --------------------------------------------------
SECRET = "sk-live-DO-NOT-LEAK-0123456789"


def test_api_key_is_encrypted_and_never_in_any_response(world: World, api: Any) -> None:
    client = api(world.alice)
    created = client.post(
        f"{API}/broker-connections/",
        {"name": "Main", "username": "px-alice", "api_key": SECRET, "environment": "live"},
        format="json",
    )
    connection = BrokerConnection.all_tenants.get(public_id=created.json()["id"])
    rotated = client.post(
        f"{API}/broker-connections/{connection.public_id}/api-key/",
        {"api_key": SECRET + "-v2"},
        format="json",
    )
    connection.refresh_from_db()
    bodies = [created, rotated] + [
        client.get(path)
        for path in (
            f"{API}/broker-connections/",
            f"{API}/broker-connections/{connection.public_id}/",
            f"{API}/accounts/",
            f"{API}/audit-log/",
            f"{API}/me/",
        )
    ]

    assert (created.status_code, rotated.status_code) == (201, 200)
    assert decrypt_secret(connection.api_key_encrypted) == SECRET + "-v2"
    assert SECRET not in connection.api_key_encrypted
    for response in bodies:
        text = response.content.decode()
        assert SECRET not in text
        assert connection.api_key_encrypted not in text
        assert '"api_key"' not in text  # no field of that name, not even empty
        assert "api_key_encrypted" not in text
    assert _actions(world.tenant_a)[-2:] == [
        "broker_connection.create",
        "broker_connection.set_api_key",
    ]


def test_duplicate_broker_login_is_a_field_error(world: World, api: Any) -> None:
    existing = world.account_a.connection
    response = api(world.alice).post(
        f"{API}/broker-connections/",
        {"name": "Dup", "username": existing.username, "api_key": SECRET},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"username": ["This login is already connected in that environment."]}


def test_api_key_is_required_and_bounded(world: World, api: Any) -> None:
    response = api(world.alice).post(
        f"{API}/broker-connections/", {"name": "X", "username": "u", "api_key": "short"}
    )

    assert response.status_code == 400
    assert response.json() == {"api_key": ["Ensure this field has at least 8 characters."]}


# --- Members --------------------------------------------------------------------------------------
def test_owner_changes_and_removes_a_member(world: World, api: Any) -> None:
    client = api(world.alice)

    promoted = client.patch(f"{API}/members/vera/", {"role": "trader"}, format="json")
    removed = client.delete(f"{API}/members/vera/")

    assert (promoted.status_code, promoted.json()["role"]) == (200, "trader")
    assert removed.status_code == 204
    assert not Membership.all_tenants.filter(tenant=world.tenant_a, user=world.vera).exists()
    assert _actions(world.tenant_a)[-2:] == ["membership.set_role", "membership.remove"]


def test_nobody_is_added_to_a_tenant_without_accepting(
    world: World, api: Any, charlie: Any
) -> None:
    """Issue 13: the members endpoint adds no one; people join by accepting an invitation."""
    response = api(world.alice).post(f"{API}/members/", {"username": "charlie", "role": "owner"})

    assert response.status_code == 405
    assert not Membership.all_tenants.filter(user=charlie).exists()


def test_the_last_owner_cannot_be_demoted_or_removed(world: World, api: Any) -> None:
    client = api(world.alice)
    before = rows_of(world.tenant_a)

    demoted = client.patch(f"{API}/members/alice/", {"role": "viewer"}, format="json")
    removed = client.delete(f"{API}/members/alice/")

    assert demoted.status_code == removed.status_code == 400
    assert demoted.json() == {"role": ["a tenant must keep at least one owner"]}
    assert rows_of(world.tenant_a) == before


# --- Audit log -------------------------------------------------------------------------------------
def test_audit_log_filters_by_action_prefix(world: World, api: Any) -> None:
    client = api(world.alice)
    client.post(f"{API}/strategies/{world.strategy_a.public_id}/disable/")

    response = client.get(f"{API}/audit-log/", {"action": "strategy."})

    assert response.status_code == 200
    assert [row["action"] for row in response.json()["results"]] == ["strategy.disable"]
    assert response.json()["results"][0]["actor_label"] == "alice"


def test_bad_filter_values_are_reported_per_field(world: World, api: Any) -> None:
    response = api(world.alice).get(
        f"{API}/audit-log/", {"date_from": "yesterday", "date_to": "1900-01-01"}
    )

    assert response.status_code == 400
    assert set(response.json()) == {"date_from", "date_to"}


# --- Query counts -----------------------------------------------------------------------------------
def test_account_list_query_count_does_not_grow_with_accounts(
    world: World, api: Any, django_assert_max_num_queries: Any
) -> None:
    from accounts.tests.factories import TradingAccountFactory

    TradingAccountFactory.create_batch(10, tenant=world.tenant_a)
    client = api(world.alice)

    # token+user, membership, count, page (accounts joined to connection, plan and risk profile)
    with django_assert_max_num_queries(4):
        response = client.get(f"{API}/accounts/")

    assert response.json()["count"] == 12  # the world's two, and ten more


# --- Schema and docs -------------------------------------------------------------------------------
def test_schema_is_served_and_lists_the_tenant_header() -> None:
    response = APIClient().get("/api/schema/", {"format": "json"})

    schema = json.loads(response.content)
    operation = schema["paths"]["/api/v1/orders/"]["get"]
    assert response.status_code == 200
    assert "X-Tenant" in [p["name"] for p in operation["parameters"]]
    assert {"200", "401", "403", "404", "429"} <= set(operation["responses"])
    assert "jwtAuth" in schema["components"]["securitySchemes"]


def test_docs_page_lists_operations_without_external_assets() -> None:
    response = APIClient().get("/api/docs/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "/api/v1/accounts/{public_id}/flatten/" in html
    assert "<script" not in html
    assert "http://" not in html
    assert "https://" not in html


def test_nul_bytes_in_the_plan_are_a_field_error_not_a_crash(world: World, api: Any) -> None:
    response = api(world.alice).post(
        f"{API}/accounts/",
        {
            "connection": str(world.account_a.connection.public_id),
            "projectx_account_id": 556,
            "name": "TC 3",
            "plan": "combine\x00",
        },
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"plan": ["Must be a plain string."]}
