"""Loosening a limit while a session is open, through the API and the risk page: it waits for the
next session and both say so (the rule itself: execution/tests/test_gate_cross_account.py)."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from accounts.tests.test_api_support import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.clock_sensitive]

SESSION_OPEN = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # Wednesday 10:00 ET
SATURDAY = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)


def patch(alice, account, body):
    url = f"/api/v1/accounts/{account.public_id}/risk-profile/"
    return client_for(alice).patch(url, body, format="json")


@time_machine.travel(SESSION_OPEN, tick=False)
def test_the_api_keeps_a_loosening_pending_and_says_from_when(alice, account_a):
    response = patch(alice, account_a, {"max_contracts": 9, "max_losing_trades": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["max_contracts"] == 5
    assert body["max_losing_trades"] == 3
    assert body["pending_changes"] == {"max_contracts": 9}
    assert body["pending_from"] == "2026-11-26"


@time_machine.travel(SESSION_OPEN, tick=False)
def test_the_risk_page_shows_what_waits_and_from_which_session(client, alice, account_a):
    patch(alice, account_a, {"max_contracts": 9})
    client.force_login(alice)
    page = client.get(reverse("risk_edit", args=[account_a.pk])).content.decode()
    assert "Waiting for the next session" in page
    assert "from the session of Thu 26 Nov 2026" in page
    assert "<code>max_contracts</code> → 9" in page


@time_machine.travel(SATURDAY, tick=False)
def test_with_the_market_closed_the_api_applies_a_loosening_at_once(alice, account_a):
    body = patch(alice, account_a, {"max_contracts": 9}).json()
    assert (body["max_contracts"], body["pending_changes"], body["pending_from"]) == (9, {}, None)
