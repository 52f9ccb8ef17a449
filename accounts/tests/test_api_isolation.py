"""The API's authorization matrix: every endpoint, another tenant's user and every role.

Shape of Saleor's authorization tests: for each endpoint and actor, the answer code, and on a refusal
the database rows of the tenant are exactly what they were (asserted field by field).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from accounts.tests.test_api_support import API, World, _fresh_throttles, api, rows_of, world

FIXTURES = (_fresh_throttles, api, world)  # shared fixtures, imported by name for pytest

Path = Callable[[World], str]
Body = dict[str, Any] | Callable[[World], dict[str, Any]] | None


def _body(world: World, body: Body) -> dict[str, Any] | None:
    return body(world) if callable(body) else body


def _account(w: World) -> str:
    return f"{API}/accounts/{w.account_a.public_id}/"


def _connection(w: World) -> str:
    return f"{API}/broker-connections/{w.account_a.connection.public_id}/"


def _strategy(w: World) -> str:
    return f"{API}/strategies/{w.strategy_a.public_id}/"


# (label, method, path, body): every detail route, update, delete and action on tenant A's objects.
OBJECT_CASES: list[tuple[str, str, Path, Body]] = [
    ("account_detail", "get", _account, None),
    ("account_risk_profile", "get", lambda w: _account(w) + "risk-profile/", None),
    (
        "account_risk_profile_update",
        "patch",
        lambda w: _account(w) + "risk-profile/",
        {"max_contracts": 1},
    ),
    ("account_rules", "get", lambda w: _account(w) + "rules/", None),
    ("account_flatten", "post", lambda w: _account(w) + "flatten/", {"reason": "test"}),
    ("account_lock", "post", lambda w: _account(w) + "lock/", {"reason": "test"}),
    ("account_copier", "post", lambda w: _account(w) + "copier/", {"lead": None}),
    (
        "account_summary",
        "get",
        lambda w: f"{API}/analytics/accounts/{w.account_a.public_id}/summary/",
        None,
    ),
    ("connection_detail", "get", _connection, None),
    (
        "connection_api_key",
        "post",
        lambda w: _connection(w) + "api-key/",
        {"api_key": "new-key-0123456789"},
    ),
    ("strategy_detail", "get", _strategy, None),
    ("strategy_update", "patch", _strategy, {"name": "hijacked"}),
    ("strategy_delete", "delete", _strategy, None),
    ("strategy_enable", "post", lambda w: _strategy(w) + "enable/", None),
    ("strategy_disable", "post", lambda w: _strategy(w) + "disable/", None),
    (
        "strategy_move_account",
        "post",
        lambda w: _strategy(w) + "move-account/",
        lambda w: {"account": str(w.account_a_live.public_id)},
    ),
    ("order_detail", "get", lambda w: f"{API}/orders/{w.order_a.public_id}/", None),
    ("backtest_detail", "get", lambda w: f"{API}/backtests/{w.backtest_a.public_id}/", None),
    ("backtest_result", "get", lambda w: f"{API}/backtests/{w.backtest_a.public_id}/result/", None),
    ("evaluation_detail", "get", lambda w: f"{API}/evaluations/{w.evaluation_a.public_id}/", None),
    (
        "evaluation_report",
        "get",
        lambda w: f"{API}/evaluations/{w.evaluation_a.public_id}/report/",
        None,
    ),
    ("member_detail", "get", lambda w: f"{API}/members/alice/", None),
    ("member_update", "patch", lambda w: f"{API}/members/tina/", {"role": "viewer"}),
    ("member_delete", "delete", lambda w: f"{API}/members/tina/", None),
]
WRITE_CASES = [case for case in OBJECT_CASES if case[1] != "get"]

LIST_PATHS = [
    "accounts",
    "broker-connections",
    "members",
    "invitations",
    "audit-log",
    "strategies",
    "strategy-decisions",
    "orders",
    "fills",
    "positions",
    "account-days",
    "backtests",
    "evaluations",
]

# Creates, with a body that would be valid for the tenant's own objects.
CREATE_CASES: list[tuple[str, str, Callable[[World], dict[str, Any]]]] = [
    (
        "strategy_create",
        "strategies",
        lambda w: {
            "name": "New",
            "kind": "overnight_range_breakout",
            "account": str(w.account_a.public_id),
            "instrument": w.order_a.instrument.contract_id,
        },
    ),
    (
        "account_create",
        "accounts",
        lambda w: {
            "connection": str(w.account_a.connection.public_id),
            "projectx_account_id": 987654,
            "name": "Another",
            "plan": w.account_a.plan.code,
        },
    ),
    (
        "connection_create",
        "broker-connections",
        lambda w: {"name": "X", "username": "px-new", "api_key": "secret-0123456789"},
    ),
    ("invitation_create", "invitations", lambda w: {"email": "new@example.com", "role": "viewer"}),
    (
        "backtest_create",
        "backtests",
        lambda w: {
            "kind": "overnight_range_breakout",
            "contract": "NQ",
            "bars": "nq_1min_sample_2023-11.csv.gz",
        },
    ),
    (
        "evaluation_create",
        "evaluations",
        lambda w: {
            "kind": "overnight_range_breakout",
            "contract": "ES",
            "bars": "es_1min_2019-2023.csv.gz",
            "plan_code": "combine-50k",
            "paths": 0,
        },
    ),
]


def _ids(world: World) -> list[str]:
    """Strings that must never appear in another tenant's answers."""
    return [
        str(world.account_a.public_id),
        str(world.account_a_live.public_id),
        str(world.account_a.connection.public_id),
        str(world.strategy_a.public_id),
        str(world.order_a.public_id),
        str(world.backtest_a.public_id),
        str(world.evaluation_a.public_id),
        world.account_a.name,
        world.account_a_live.name,
        world.decision_a.reason,
        "alice@",
        "tina@",
        "vera@",
    ]


# --- Tenant B's owner against tenant A's objects -----------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("label", "method", "path", "body"), OBJECT_CASES, ids=[c[0] for c in OBJECT_CASES]
)
def test_other_tenant_gets_404_and_nothing_changes(
    world: World, api: Any, label: str, method: str, path: Path, body: Body
) -> None:
    before = rows_of(world.tenant_a)

    response = getattr(api(world.bob), method)(path(world), _body(world, body), format="json")

    assert response.status_code == 404, (label, response.content)
    assert rows_of(world.tenant_a) == before


@pytest.mark.django_db
@pytest.mark.parametrize("resource", LIST_PATHS)
def test_other_tenant_lists_show_nothing_of_tenant_a(world: World, api: Any, resource: str) -> None:
    response = api(world.bob).get(f"{API}/{resource}/")

    assert response.status_code == 200
    body = response.content.decode()
    assert [leak for leak in _ids(world) if leak in body] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "resource", ["orders", "fills", "positions", "account-days", "strategy-decisions"]
)
def test_filtering_by_another_tenants_account_finds_nothing(
    world: World, api: Any, resource: str
) -> None:
    response = api(world.bob).get(f"{API}/{resource}/", {"account": str(world.account_a.public_id)})

    assert response.status_code == 200
    assert response.json()["count"] == 0


@pytest.mark.django_db
def test_other_tenant_lists_still_show_their_own_rows(world: World, api: Any) -> None:
    accounts = api(world.bob).get(f"{API}/accounts/").json()
    orders = api(world.bob).get(f"{API}/orders/").json()

    assert [row["id"] for row in accounts["results"]] == [str(world.account_b.public_id)]
    assert [row["id"] for row in orders["results"]] == [str(world.order_b.public_id)]


@pytest.mark.django_db
@pytest.mark.parametrize("resource", [*LIST_PATHS, "me"])
def test_x_tenant_of_a_tenant_one_is_not_member_of_is_404(
    world: World, api: Any, resource: str
) -> None:
    response = api(world.bob, tenant=world.tenant_a).get(f"{API}/{resource}/")

    assert response.status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_x_tenant_unknown_or_malformed_is_404(world: World, api: Any, header: str) -> None:
    client = api(world.alice)
    client.credentials(
        HTTP_AUTHORIZATION=client._credentials["HTTP_AUTHORIZATION"], HTTP_X_TENANT=header
    )

    assert client.get(f"{API}/accounts/").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("label", "resource", "body"), CREATE_CASES[:2], ids=[c[0] for c in CREATE_CASES[:2]]
)
def test_creating_with_another_tenants_related_object_is_refused(
    world: World, api: Any, label: str, resource: str, body: Callable[[World], dict]
) -> None:
    """Bob posts in his own tenant, naming tenant A's rows: TenantRelatedField knows none of them."""
    before_a, before_b = rows_of(world.tenant_a), rows_of(world.tenant_b)

    response = api(world.bob).post(f"{API}/{resource}/", body(world), format="json")

    assert response.status_code == 400
    field = "account" if resource == "strategies" else "connection"
    assert response.json() == {field: ["No such object."]}
    assert (rows_of(world.tenant_a), rows_of(world.tenant_b)) == (before_a, before_b)


@pytest.mark.django_db
def test_user_with_several_tenants_picks_one_with_x_tenant(world: World, api: Any) -> None:
    from accounts.tests.factories import MembershipFactory

    MembershipFactory(tenant=world.tenant_b, user=world.alice, role="viewer")

    in_a = api(world.alice, tenant=world.tenant_a).get(f"{API}/accounts/").json()
    in_b = api(world.alice, tenant=world.tenant_b).get(f"{API}/accounts/").json()
    unnamed = api(world.alice).get(f"{API}/accounts/")  # never a guess between two desks

    assert [r["id"] for r in in_a["results"]] == [
        str(world.account_a.public_id),
        str(world.account_a_live.public_id),
    ]
    assert [r["id"] for r in in_b["results"]] == [str(world.account_b.public_id)]
    assert unnamed.status_code == 400
    assert "X-Tenant" in unnamed.json()["detail"]
    assert api(world.alice).get(f"{API}/me/").json()["current_tenant"] is None


@pytest.mark.django_db
def test_outsider_without_membership_is_refused(world: World, api: Any, charlie: Any) -> None:
    response = api(charlie).get(f"{API}/accounts/")

    assert response.status_code == 403
    assert response.json() == {"detail": "You are not a member of any tenant."}


@pytest.mark.django_db
@pytest.mark.parametrize("resource", [*LIST_PATHS, "me"])
def test_anonymous_requests_get_401(world: World, resource: str) -> None:
    from rest_framework.test import APIClient

    response = APIClient().get(f"{API}/{resource}/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


# --- Roles inside tenant A --------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("label", "method", "path", "body"), WRITE_CASES, ids=[c[0] for c in WRITE_CASES]
)
def test_viewer_gets_403_on_every_write_and_nothing_changes(
    world: World, api: Any, label: str, method: str, path: Path, body: Body
) -> None:
    before = rows_of(world.tenant_a)

    response = getattr(api(world.vera), method)(path(world), _body(world, body), format="json")

    assert response.status_code == 403, (label, response.content)
    assert rows_of(world.tenant_a) == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("label", "resource", "body"), CREATE_CASES, ids=[c[0] for c in CREATE_CASES]
)
def test_viewer_gets_403_on_every_create(
    world: World, api: Any, label: str, resource: str, body: Callable[[World], dict]
) -> None:
    before = rows_of(world.tenant_a)

    response = api(world.vera).post(f"{API}/{resource}/", body(world), format="json")

    assert response.status_code == 403
    assert rows_of(world.tenant_a) == before


OWNER_ONLY = [
    ("get", lambda w: f"{API}/broker-connections/", None),
    ("get", _connection, None),
    ("post", lambda w: _connection(w) + "api-key/", {"api_key": "new-key-0123456789"}),
    ("get", lambda w: f"{API}/members/", None),
    ("patch", lambda w: f"{API}/members/vera/", {"role": "trader"}),
    ("get", lambda w: f"{API}/invitations/", None),
    ("post", lambda w: f"{API}/invitations/", {"email": "new@example.com", "role": "owner"}),
    ("get", lambda w: f"{API}/audit-log/", None),
    ("patch", lambda w: _account(w) + "risk-profile/", {"max_contracts": 1}),
    ("post", lambda w: _account(w) + "copier/", {"lead": None}),
]


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["tina", "vera"])
@pytest.mark.parametrize(("method", "path", "body"), OWNER_ONLY)
def test_owner_only_endpoints_refuse_traders_and_viewers(
    world: World, api: Any, who: str, method: str, path: Path, body: dict | None
) -> None:
    before = rows_of(world.tenant_a)

    response = getattr(api(getattr(world, who)), method)(path(world), body, format="json")

    assert response.status_code == 403
    assert rows_of(world.tenant_a) == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        lambda w: f"{API}/accounts/",
        _account,
        lambda w: _account(w) + "risk-profile/",
        lambda w: _account(w) + "rules/",
        lambda w: f"{API}/strategies/",
        _strategy,
        lambda w: f"{API}/strategy-decisions/",
        lambda w: f"{API}/orders/",
        lambda w: f"{API}/fills/",
        lambda w: f"{API}/positions/",
        lambda w: f"{API}/account-days/",
        lambda w: f"{API}/analytics/accounts/{w.account_a.public_id}/summary/",
    ],
)
def test_viewer_reads_trading_data(world: World, api: Any, path: Path) -> None:
    assert api(world.vera).get(path(world)).status_code == 200


@pytest.mark.django_db
def test_trader_can_flatten_and_enable(
    world: World, api: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = api(world.tina)

    with django_capture_on_commit_callbacks(execute=False) as queued:
        flatten = client.post(_account(world) + "flatten/", {"reason": "end of day"}, format="json")
    disable = client.post(_strategy(world) + "disable/")

    assert (flatten.status_code, flatten.json()) == (202, {"status": "flatten requested"})
    assert len(queued) == 1  # the flatten task, sent only once the request commits
    assert disable.status_code == 200


def test_base_viewset_refuses_a_subclass_that_overrides_get_queryset() -> None:
    from accounts.api.base import TenantScopedViewSet

    with pytest.raises(TypeError, match="overrides get_queryset"):

        class Leaky(TenantScopedViewSet):
            def get_queryset(self) -> Any:
                return None


def test_base_viewset_refuses_a_class_level_queryset() -> None:
    from accounts.api.base import TenantScopedViewSet
    from accounts.models import Tenant

    with pytest.raises(TypeError, match="class-level queryset"):

        class Leaky(TenantScopedViewSet):
            queryset = Tenant.objects.all()


def test_tenant_related_field_refuses_to_run_without_a_tenant() -> None:
    from rest_framework import serializers

    from accounts import selectors
    from accounts.api.fields import TenantRelatedField
    from accounts.tenancy import TenantScopeError

    class Input(serializers.Serializer):
        account = TenantRelatedField(selector=selectors.trading_account_list)

    serializer = Input(data={"account": "00000000-0000-0000-0000-000000000001"})
    with pytest.raises(TenantScopeError, match="no tenant"):
        serializer.is_valid()


# Every extra action the router exposes; a new one must join the matrix above before this passes.
ROUTED_ACTIONS = {
    (
        "accounts",
        "paper",
    ),  # creates in the request's tenant only: accounts/tests/test_paper_accounts.py
    ("accounts", "flatten"),
    ("accounts", "lock"),
    ("accounts", "risk_profile"),
    ("accounts", "rules"),
    ("accounts", "copier"),
    ("broker-connections", "api_key"),
    ("strategies", "enable"),
    ("strategies", "disable"),
    ("strategies", "move_account"),
    ("strategies", "kinds"),
    ("backtests", "result"),
    ("evaluations", "report"),
    ("analytics/accounts", "summary"),
}


def test_matrix_covers_every_routed_action() -> None:
    from tradingsite.api_urls import router

    actions = {
        (prefix, action.__name__)
        for prefix, viewset, _ in router.registry
        for action in viewset.get_extra_actions()
    }
    assert actions == ROUTED_ACTIONS


# --- Every write is audited ---------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("label", "method", "path", "body"), WRITE_CASES, ids=[c[0] for c in WRITE_CASES]
)
def test_every_successful_write_is_audited_with_its_actor(
    world: World, api: Any, label: str, method: str, path: Path, body: Body
) -> None:
    from accounts.models import AuditEntry

    last = AuditEntry.all_tenants.order_by("-pk").values_list("pk", flat=True).first()

    response = getattr(api(world.alice), method)(path(world), _body(world, body), format="json")

    new = AuditEntry.all_tenants.filter(pk__gt=last)
    assert response.status_code in (200, 202, 204), (label, response.content)
    assert new.count() >= 1
    assert {(e.tenant_id, e.actor_id) for e in new} == {(world.tenant_a.pk, world.alice.pk)}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("label", "resource", "body"), CREATE_CASES, ids=[c[0] for c in CREATE_CASES]
)
def test_every_create_is_audited_and_lands_in_the_requests_tenant(
    world: World, api: Any, label: str, resource: str, body: Callable[[World], dict]
) -> None:
    from accounts.models import AuditEntry

    last = AuditEntry.all_tenants.order_by("-pk").values_list("pk", flat=True).first()
    payload = {**body(world), "tenant": str(world.tenant_b.public_id)}  # ignored: never from a body

    response = api(world.alice).post(f"{API}/{resource}/", payload, format="json")

    new = AuditEntry.all_tenants.filter(pk__gt=last)
    assert response.status_code == 201, (label, response.content)
    assert [(e.tenant_id, e.actor_id) for e in new] == [(world.tenant_a.pk, world.alice.pk)]
    assert rows_of(world.tenant_b)["AuditEntry"] == []


@pytest.mark.django_db
def test_session_writes_need_the_csrf_token(world: World) -> None:
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world.alice)
    before = rows_of(world.tenant_a)

    response = client.post(_strategy(world) + "enable/")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert rows_of(world.tenant_a) == before


@pytest.mark.django_db
def test_session_users_default_to_the_dashboards_current_tenant(world: World) -> None:
    from rest_framework.test import APIClient

    from accounts.middleware import SESSION_KEY
    from accounts.tests.factories import MembershipFactory

    MembershipFactory(tenant=world.tenant_b, user=world.alice, role="viewer")
    client = APIClient()
    client.force_login(world.alice)
    session = client.session
    session[SESSION_KEY] = world.tenant_b.pk
    session.save()

    response = client.get(f"{API}/accounts/")

    assert [row["id"] for row in response.json()["results"]] == [str(world.account_b.public_id)]


def test_every_routed_viewset_is_tenant_scoped() -> None:
    """Backstop: a new endpoint registered on the v1 router cannot skip the tenant base class."""
    from accounts.api.base import TenantScopedViewSet
    from tradingsite.api_urls import router

    unscoped = [
        prefix
        for prefix, viewset, _ in router.registry
        if not issubclass(viewset, TenantScopedViewSet)
    ]
    assert unscoped == []
