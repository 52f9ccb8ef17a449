"""The confirmation state machine under any sequence of button presses (Hypothesis).

Model: presses by anyone but the asker change nothing; the asker's first press decides (confirm in
time → one flatten request; confirm late → expired; cancel → cancelled); every later press is
refused. So an account is flattened at most once, and only by an in-time confirm of its asker.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import AuditEntry, Membership, Role
from accounts.tests.factories import MembershipFactory
from chatops import services
from chatops.models import ConfirmAction, ConfirmOutcome
from chatops.services import ChatopsError, DiscordActor
from chatops.tests.conftest import link, make_user

pytestmark = pytest.mark.django_db

presses = st.lists(
    st.tuples(
        st.sampled_from(["alice", "victor", "bob"]),  # asker, a viewer of the desk, an outsider
        st.booleans(),  # confirm or cancel
        st.sampled_from(
            [0, 1, 15, 29, 30, 31, 45]
        ),  # seconds after the question; 30 s is the limit
    ),
    min_size=1,
    max_size=6,
).map(lambda rows: sorted(rows, key=lambda row: row[2]))


@pytest.fixture
def people(alice, tenant_a, account_a, bob, tenant_b):
    victor = make_user("victor")
    MembershipFactory(tenant=tenant_a, user=victor, role=Role.VIEWER)
    users = {"alice": alice, "victor": victor, "bob": bob}
    for index, user in enumerate(users.values()):
        link(user, str(100 + index))
    return {
        name: DiscordActor(
            user=user,
            discord_user_id=str(100 + index),
            discord_username=name,
            interaction_id="1",
        )
        for index, (name, user) in enumerate(users.items())
    }


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sequence=presses)
def test_only_the_askers_first_press_decides_and_flattens_at_most_once(
    sequence, people, tenant_a, account_a
) -> None:
    membership = Membership.objects.for_tenant(tenant_a).get(user=people["alice"].user)
    confirmation = services.confirmation_create(
        membership=membership,
        account=account_a,
        action=ConfirmAction.FLATTEN,
        actor=people["alice"],
    )
    asked_at = confirmation.expires_at - timedelta(seconds=30)
    flattens_before = AuditEntry.objects.for_tenant(tenant_a).filter(
        action="account.flatten_requested"
    )
    count_before = flattens_before.count()

    expected, decided = ConfirmOutcome.PENDING, False
    for who, is_confirmed, offset in sequence:
        want_error = who != "alice" or decided
        if not want_error:
            decided = True
            if not is_confirmed:
                expected = ConfirmOutcome.CANCELLED
            elif offset > 30:
                expected = ConfirmOutcome.EXPIRED
            else:
                expected = ConfirmOutcome.CONFIRMED
        try:
            _, outcome = services.confirmation_answer(
                tenant_id=tenant_a.pk,
                token=str(confirmation.token),
                is_confirmed=is_confirmed,
                actor=people[who],
                answered_at=asked_at + timedelta(seconds=offset),
            )
        except ChatopsError:
            assert want_error
        else:
            assert not want_error
            assert outcome == expected

    confirmation.refresh_from_db()
    assert confirmation.outcome == expected
    flattened = flattens_before.count() - count_before
    assert flattened == (1 if expected == ConfirmOutcome.CONFIRMED else 0)


def test_cleanup_drops_only_rows_past_their_use(people, tenant_a, account_a, time_machine) -> None:
    from chatops.models import DeskPause, DiscordLinkCode, PendingConfirmation

    membership = Membership.objects.for_tenant(tenant_a).get(user=people["alice"].user)
    time_machine.move_to("2026-10-01T12:00:00Z", tick=False)
    services.link_code_create(user=people["alice"].user)
    services.confirmation_create(
        membership=membership, account=account_a, action="flatten", actor=people["alice"]
    )
    services.desk_pause(membership=membership, actor=people["alice"])  # still open: kept
    time_machine.move_to("2026-12-02T12:00:00Z", tick=False)
    services.link_code_create(user=people["alice"].user)
    services.confirmation_create(
        membership=membership, account=account_a, action="lock", actor=people["alice"]
    )

    removed = services.chatops_cleanup()

    assert removed == {"codes": 1, "confirmations": 1, "pauses": 0}
    assert DiscordLinkCode.objects.count() == 1
    assert PendingConfirmation.objects.for_tenant(tenant_a).get().action == "lock"
    assert DeskPause.objects.for_tenant(tenant_a).count() == 1
