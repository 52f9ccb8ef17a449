"""The admin console: staff see only their tenants' rows; actions are audited; secrets never shown."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.models import AuditEntry, BrokerConnection, TradingAccount
from accounts.tests.factories import BrokerConnectionFactory, UserFactory
from strategies.models import StrategyConfig
from strategies.tests.factories import StrategyConfigFactory


@pytest.fixture
def staff_a(tenant_a):
    from accounts.tests.factories import MembershipFactory

    user = UserFactory(username="staff-a", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=["accounts", "execution", "strategies"]
        )
    )
    MembershipFactory(user=user, tenant=tenant_a)
    return user


@pytest.fixture
def admin_client_a(client, staff_a):
    client.force_login(staff_a)
    return client


CHANGELISTS = [
    "admin:accounts_tradingaccount_changelist",
    "admin:accounts_brokerconnection_changelist",
    "admin:accounts_riskprofile_changelist",
    "admin:accounts_auditentry_changelist",
    "admin:strategies_strategyconfig_changelist",
    "admin:execution_order_changelist",
]


@pytest.mark.parametrize("url_name", CHANGELISTS)
def test_changelist_shows_only_own_tenant(admin_client_a, account_a, account_b, url_name):
    StrategyConfigFactory(tenant=account_a.tenant, account=account_a, name="Strategy of A")
    StrategyConfigFactory(tenant=account_b.tenant, account=account_b, name="Strategy of B")
    response = admin_client_a.get(reverse(url_name))
    assert response.status_code == 200
    ids = {obj.tenant_id for obj in response.context["cl"].queryset}
    assert account_b.tenant_id not in ids


def test_change_page_of_other_tenant_is_not_reachable(admin_client_a, account_b):
    url = reverse("admin:accounts_tradingaccount_change", args=[account_b.pk])
    response = admin_client_a.get(url, follow=True)
    assert "Account of B" not in response.content.decode()
    response = admin_client_a.post(url, {"name": "hijacked"})
    assert TradingAccount.all_tenants.get(pk=account_b.pk).name == "Account of B"


def test_action_on_other_tenant_rows_changes_nothing(admin_client_a, account_a, account_b):
    theirs = StrategyConfigFactory(tenant=account_b.tenant, account=account_b)
    response = admin_client_a.post(
        reverse("admin:strategies_strategyconfig_changelist"),
        {"action": "enable_strategies", "_selected_action": [theirs.pk]},
    )
    assert response.status_code in (200, 302)
    assert StrategyConfig.all_tenants.get(pk=theirs.pk).is_enabled is False
    assert not AuditEntry.all_tenants.filter(
        tenant=account_b.tenant, action="strategy.enable"
    ).exists()


def test_enable_action_is_audited(admin_client_a, staff_a, account_a):
    mine = StrategyConfigFactory(tenant=account_a.tenant, account=account_a)
    admin_client_a.post(
        reverse("admin:strategies_strategyconfig_changelist"),
        {"action": "enable_strategies", "_selected_action": [mine.pk]},
    )
    assert StrategyConfig.all_tenants.get(pk=mine.pk).is_enabled is True
    entry = AuditEntry.objects.for_tenant(account_a.tenant).get(action="strategy.enable")
    assert entry.actor == staff_a
    assert entry.before["is_enabled"] is False
    assert entry.after["is_enabled"] is True


def test_lock_action_locks_the_day_and_audits(
    admin_client_a, account_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        admin_client_a.post(
            reverse("admin:accounts_tradingaccount_changelist"),
            {"action": "lock_accounts_for_day", "_selected_action": [account_a.pk]},
        )
    day = account_a.days.get()
    assert day.is_locked
    assert "kill switch" in day.locked_reason
    actions = set(AuditEntry.objects.for_tenant(account_a.tenant).values_list("action", flat=True))
    assert {"account.lock_for_day", "account.flatten_requested"} <= actions
    assert len(callbacks) == 1  # the flatten task is queued only after commit


def test_broker_connection_page_never_shows_the_api_key(admin_client_a, tenant_a):
    conn = BrokerConnectionFactory(tenant=tenant_a)
    html = admin_client_a.get(
        reverse("admin:accounts_brokerconnection_change", args=[conn.pk])
    ).content.decode()
    assert "secret-api-key" not in html
    assert conn.api_key_encrypted not in html


def test_broker_connection_key_is_write_only_and_encrypted(admin_client_a, tenant_a):
    response = admin_client_a.post(
        reverse("admin:accounts_brokerconnection_add"),
        {
            "tenant": tenant_a.pk,
            "name": "New",
            "environment": "simulator",
            "username": "u1",
            "secret": "typed-once-key",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    conn = BrokerConnection.objects.for_tenant(tenant_a).get(name="New")
    assert "typed-once-key" not in conn.api_key_encrypted
    from accounts.services import broker_connection_api_key

    assert broker_connection_api_key(connection=conn) == "typed-once-key"


def test_audit_log_is_read_only_in_admin(admin_client_a, account_a):
    entry = AuditEntry.all_tenants.create(tenant=account_a.tenant, actor_label="x", action="y")
    response = admin_client_a.post(
        reverse("admin:accounts_auditentry_delete", args=[entry.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert AuditEntry.all_tenants.filter(pk=entry.pk).exists()


def test_admin_refuses_another_tenants_simulator_login_and_account(
    admin_client_a, tenant_a, account_b
):
    """The admin applies the API's paper-trading rules (accounts/paper.py): desk staff cannot borrow
    the shared demo login, another desk's simulator login, or another desk's simulator account."""
    refusals = {
        "demo": "only for the demo desk in development",
        account_b.connection.username: "This simulator login is not available.",
    }
    for username, reason in refusals.items():
        response = admin_client_a.post(
            reverse("admin:accounts_brokerconnection_add"),
            {
                "tenant": tenant_a.pk,
                "name": "Borrowed",
                "environment": "simulator",
                "username": username,
                "secret": "guessed-key",
            },
        )
        assert response.status_code == 200  # the form again, with the error
        assert reason in response.content.decode()
    own = BrokerConnectionFactory(tenant=tenant_a, environment="simulator")
    response = admin_client_a.post(
        reverse("admin:accounts_tradingaccount_add"),
        {
            "tenant": tenant_a.pk,
            "connection": own.pk,
            "projectx_account_id": account_b.projectx_account_id,
            "name": "Not mine",
            "plan": account_b.plan.pk,
            "starting_balance_usd": "50000.00",
            "is_active": "on",
            "risk_profile-TOTAL_FORMS": "0",
            "risk_profile-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "belongs to another simulator login" in response.content.decode()
    assert not BrokerConnection.objects.for_tenant(tenant_a).exclude(pk=own.pk).exists()
    assert not TradingAccount.objects.for_tenant(tenant_a).exists()
