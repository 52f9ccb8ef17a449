"""Notes on the trade journal: traders write them, viewers read them, nobody reaches another desk's fills."""

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import AuditEntry, Role
from accounts.tests.factories import MembershipFactory, UserFactory
from analytics.models import JournalNote
from execution.models import Fill, OrderSide
from execution.tests.factories import InstrumentFactory

pytestmark = pytest.mark.clock_sensitive  # bin/test-clock-instants: it reads the wall clock


@pytest.fixture
def fill_a(account_a):
    return Fill.all_tenants.create(
        tenant=account_a.tenant,
        account=account_a,
        instrument=InstrumentFactory(),
        broker_trade_id=77,
        side=OrderSide.SELL,
        size=1,
        price=Decimal("5010.25"),
        realized_pnl_usd=Decimal("125.00"),
        executed_at="2026-11-24T15:00:00Z",
    )


def test_trader_adds_a_note_that_the_journal_shows(client, alice, fill_a):
    client.force_login(alice)
    response = client.post(
        reverse("journal_note_add", args=[fill_a.pk]), {"text": "Took profit early: CPI."}
    )
    assert response.status_code == 302
    note = JournalNote.objects.for_tenant(fill_a.tenant).get()
    assert (note.text, note.author) == ("Took profit early: CPI.", alice)
    assert AuditEntry.objects.for_tenant(fill_a.tenant).filter(action="journal.note_add").exists()
    assert "Took profit early: CPI." in client.get(reverse("analytics")).content.decode()


def test_an_empty_note_is_refused(client, alice, fill_a):
    client.force_login(alice)
    client.post(reverse("journal_note_add", args=[fill_a.pk]), {"text": "   "})
    assert not JournalNote.objects.for_tenant(fill_a.tenant).exists()


def test_viewer_cannot_write_and_another_desk_cannot_reach_the_fill(
    client, bob, tenant_a, tenant_b, fill_a
):
    viewer = UserFactory(username="vic")
    MembershipFactory(user=viewer, tenant=tenant_a, role=Role.VIEWER)
    client.force_login(viewer)
    assert (
        client.post(reverse("journal_note_add", args=[fill_a.pk]), {"text": "x"}).status_code == 403
    )
    client.force_login(bob)
    assert (
        client.post(reverse("journal_note_add", args=[fill_a.pk]), {"text": "x"}).status_code == 404
    )
    assert not JournalNote.all_tenants.exists()
