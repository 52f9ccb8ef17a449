"""The admin follows membership roles, not only Django's model permissions: every staff member below
holds every model permission, so what stops them is the role (viewer: nothing changes; trader: no
member management; only superusers write fleet-wide rows such as instruments, users and schedules)."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.models import AuditEntry, Membership, Role, Tenant, TradingAccount
from accounts.tests.factories import MembershipFactory, UserFactory
from execution.models import AccountDay, Instrument
from execution.tests.factories import InstrumentFactory
from strategies.models import StrategyConfig
from strategies.tests.factories import StrategyConfigFactory

pytestmark = pytest.mark.django_db


def staff_member(username: str, **roles_by_tenant: Tenant) -> object:
    """A staff user with every model permission, member of each tenant with the role named by the
    keyword (owner=..., trader=..., viewer=...)."""
    user = UserFactory(username=username, is_staff=True)
    user.user_permissions.set(Permission.objects.all())
    for role, tenant in roles_by_tenant.items():
        MembershipFactory(user=user, tenant=tenant, role=role)
    return user


@pytest.fixture
def viewer_client(client, tenant_a):
    client.force_login(staff_member("viewer-a", viewer=tenant_a))
    return client


def test_a_viewer_sees_an_account_read_only_and_cannot_save_it(viewer_client, account_a):
    url = reverse("admin:accounts_tradingaccount_change", args=[account_a.pk])
    page = viewer_client.get(url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    response = viewer_client.post(url, {"name": "renamed by a viewer"})
    assert response.status_code == 403
    assert TradingAccount.all_tenants.get(pk=account_a.pk).name == "Account of A"


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:accounts_tradingaccount_add",
        "admin:accounts_brokerconnection_add",
        "admin:accounts_membership_add",
        "admin:strategies_strategyconfig_add",
    ],
)
def test_a_viewer_cannot_open_an_add_page(viewer_client, url_name):
    assert viewer_client.get(reverse(url_name)).status_code == 403


def test_a_viewer_has_no_actions_and_a_posted_kill_switch_does_nothing(viewer_client, account_a):
    changelist = reverse("admin:accounts_tradingaccount_changelist")
    assert viewer_client.get(changelist).context["action_form"] is None
    viewer_client.post(
        changelist, {"action": "lock_accounts_for_day", "_selected_action": [account_a.pk]}
    )
    viewer_client.post(
        changelist, {"action": "delete_selected", "_selected_action": [account_a.pk], "post": "yes"}
    )
    assert TradingAccount.all_tenants.filter(pk=account_a.pk).exists()
    assert not AccountDay.all_tenants.filter(account=account_a, is_locked=True).exists()
    assert not AuditEntry.all_tenants.filter(tenant=account_a.tenant).exists()


def test_a_viewer_cannot_delete_or_rename_its_desk(viewer_client, tenant_a):
    url = reverse("admin:accounts_tenant_change", args=[tenant_a.pk])
    assert viewer_client.post(url, {"name": "Mine now", "slug": "mine"}).status_code == 403
    delete = reverse("admin:accounts_tenant_delete", args=[tenant_a.pk])
    assert viewer_client.post(delete, {"post": "yes"}).status_code == 403
    assert Tenant.objects.get(pk=tenant_a.pk).name == "Desk A"


def test_actions_reach_only_the_rows_of_desks_where_the_member_trades(
    client, account_a, account_b, django_capture_on_commit_callbacks
):
    """A trader of desk A who only views desk B: selecting rows of both enables A's strategy only."""
    client.force_login(staff_member("mixed", trader=account_a.tenant, viewer=account_b.tenant))
    mine = StrategyConfigFactory(tenant=account_a.tenant, account=account_a)
    theirs = StrategyConfigFactory(tenant=account_b.tenant, account=account_b)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:strategies_strategyconfig_changelist"),
            {"action": "enable_strategies", "_selected_action": [mine.pk, theirs.pk]},
        )
    assert StrategyConfig.all_tenants.get(pk=mine.pk).is_enabled is True
    assert StrategyConfig.all_tenants.get(pk=theirs.pk).is_enabled is False
    url = reverse("admin:accounts_tradingaccount_change", args=[account_b.pk])
    assert client.post(url, {"name": "hijacked"}).status_code == 403
    assert TradingAccount.all_tenants.get(pk=account_b.pk).name == "Account of B"


def test_a_trader_cannot_promote_itself_to_owner(client, tenant_a):
    trader = staff_member("trader-a", trader=tenant_a)
    client.force_login(trader)
    membership = Membership.all_tenants.get(user=trader)
    url = reverse("admin:accounts_membership_change", args=[membership.pk])
    response = client.post(url, {"user": trader.pk, "tenant": tenant_a.pk, "role": Role.OWNER})
    assert response.status_code == 403
    assert Membership.all_tenants.get(pk=membership.pk).role == Role.TRADER


def test_an_owner_still_edits_its_desk(client, account_a):
    client.force_login(staff_member("owner-a", owner=account_a.tenant))
    url = reverse("admin:accounts_tenant_change", args=[account_a.tenant.pk])
    response = client.post(url, {"name": "Desk A renamed", "slug": "desk-a"})
    assert response.status_code == 302, response.content.decode()[:1000]
    assert Tenant.objects.get(pk=account_a.tenant.pk).name == "Desk A renamed"


def instrument_form(instrument: Instrument, **changes) -> dict:
    fields = ("symbol", "name", "contract_id", "symbol_id", "tick_size", "tick_value_usd")
    data = {field: getattr(instrument, field) for field in fields}
    data.update(
        fee_per_side_usd=instrument.fee_per_side_usd,
        exchange_time_zone=instrument.exchange_time_zone,
        is_active="on",
    )
    return {**data, **changes}


def test_only_superusers_edit_instruments(client, tenant_a, admin_user):
    es = InstrumentFactory()
    url = reverse("admin:execution_instrument_change", args=[es.pk])
    client.force_login(staff_member("owner-a", owner=tenant_a))
    assert client.get(url).status_code == 200  # staff may read the contract specs
    assert client.post(url, instrument_form(es, tick_value_usd="1.00")).status_code == 403
    assert Instrument.objects.get(pk=es.pk).tick_value_usd == Decimal("12.50")

    client.force_login(admin_user)
    response = client.post(url, instrument_form(es, tick_value_usd="12.25"))
    assert response.status_code == 302, response.content.decode()[:1000]
    assert Instrument.objects.get(pk=es.pk).tick_value_usd == Decimal("12.25")


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:auth_user_changelist",
        "admin:auth_group_changelist",
        "admin:django_celery_beat_periodictask_changelist",
    ],
)
def test_the_fleets_machinery_is_for_superusers_only(client, tenant_a, url_name):
    client.force_login(staff_member("owner-a", owner=tenant_a))
    assert client.get(reverse(url_name)).status_code == 403


def test_a_staff_member_cannot_make_itself_superuser(client, tenant_a):
    owner = staff_member("owner-a", owner=tenant_a)
    client.force_login(owner)
    url = reverse("admin:auth_user_change", args=[owner.pk])
    client.post(url, {"username": "owner-a", "is_staff": "on", "is_superuser": "on"})
    assert get_user_model().objects.get(pk=owner.pk).is_superuser is False
