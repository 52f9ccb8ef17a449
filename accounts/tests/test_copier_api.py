"""Configuring a copier desk through the API (owners only, the lead's rules answered as a 400 with
the reason, a lead of another desk unknown) and the account page showing it (the rules:
execution/tests/test_gate_cross_account.py)."""

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role, TradingAccount
from accounts.tests.factories import MembershipFactory, TradingAccountFactory, UserFactory
from accounts.tests.test_api_support import client_for
from execution.services import copier_follower_cut_out
from markets.sessions import trading_date

pytestmark = pytest.mark.django_db


@pytest.fixture
def follower(account_a):
    return TradingAccountFactory(
        tenant=account_a.tenant, connection=account_a.connection, name="Follower"
    )


def set_lead(user, follower, lead):
    body = {"lead": None if lead is None else str(lead.public_id)}
    url = f"/api/v1/accounts/{follower.public_id}/copier/"
    return client_for(user).post(url, body, format="json")


def test_the_owner_makes_an_account_copy_a_lead_and_stops_it(alice, account_a, follower):
    response = set_lead(alice, follower, account_a)
    assert response.status_code == 200, response.json()
    assert response.json()["copies_account"] == str(account_a.public_id)
    assert set_lead(alice, follower, None).json()["copies_account"] is None
    follower.refresh_from_db()
    assert follower.copies_account is None


def test_a_lead_with_a_larger_position_limit_is_refused_with_the_reason(alice, account_a, follower):
    follower.risk_profile.max_contracts = 2
    follower.risk_profile.save()
    response = set_lead(alice, follower, account_a)
    assert response.status_code == 400
    assert "the lead must be the account with the smallest position limit" in str(response.json())
    assert (
        TradingAccount.objects.for_tenant(account_a.tenant)
        .filter(copies_account__isnull=False)
        .count()
        == 0
    )


def test_a_trader_may_not_and_another_desks_lead_is_unknown(alice, account_a, follower, account_b):
    tina = UserFactory(username="tina")
    MembershipFactory(tenant=account_a.tenant, user=tina, role=Role.TRADER)
    assert set_lead(tina, follower, account_a).status_code == 403
    response = set_lead(alice, follower, account_b)
    assert response.status_code == 400
    assert response.json() == {"lead": ["No such object."]}


def test_the_account_page_shows_the_lead_and_a_cut_out(client, alice, account_a, follower):
    set_lead(alice, follower, account_a)
    client.force_login(alice)
    url = reverse("account_detail", args=[follower.pk])
    page = client.get(url).content.decode()
    assert "Copier desk: copies the strategy orders of" in page
    assert "cut out for this session" not in page
    follower.refresh_from_db()
    copier_follower_cut_out(
        tenant=follower.tenant,
        follower=follower,
        session_date=trading_date(timezone.now()),
        reason="account_locked: test",
    )
    page = client.get(url).content.decode()
    assert "cut out for this session</strong>: account_locked: test" in page
