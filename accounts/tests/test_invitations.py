"""Issue 13: nobody joins a desk uninvited. Invitations through the API and the services: sent to the
address only, accepted by its recipient only, once, before they expire, unless revoked."""

import re
from typing import Any

import pytest
from django.core import mail

from accounts import invitations
from accounts.models import AuditEntry, Invitation, Membership, Role
from accounts.tests.factories import UserFactory
from accounts.tests.test_api_support import API, World, _fresh_throttles, api, world

FIXTURES = (_fresh_throttles, api, world)
pytestmark = pytest.mark.django_db


def link_token(message) -> str:
    return re.search(r"http://testserver/invitations/([^/\s]+)/", message.body).group(1)


def invite(client, email: str, role: str = "viewer", capture=None):
    with capture(execute=True):
        return client.post(f"{API}/invitations/", {"email": email, "role": role}, format="json")


def test_an_invitation_is_emailed_and_joins_only_its_accepting_recipient(
    world: World, api: Any, charlie: Any, django_capture_on_commit_callbacks
) -> None:
    response = invite(
        api(world.alice), "Charlie@Example.com", "trader", django_capture_on_commit_callbacks
    )
    assert response.status_code == 201, response.content
    assert not Membership.all_tenants.filter(user=charlie).exists()  # an address adds nobody
    assert [m.to for m in mail.outbox] == [["charlie@example.com"]]
    token = link_token(mail.outbox[0])
    listed = api(world.alice).get(f"{API}/invitations/").json()["results"]
    assert [(row["email"], row["role"]) for row in listed] == [("charlie@example.com", "trader")]

    accepted = api(charlie).post(f"{API}/invitations/accept/", {"token": token}, format="json")
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["tenant"] == str(world.tenant_a.public_id)
    assert Membership.objects.for_tenant(world.tenant_a).get(user=charlie).role == Role.TRADER
    assert invitations.verified_email_of(user=charlie) == "charlie@example.com"

    again = api(charlie).post(f"{API}/invitations/accept/", {"token": token}, format="json")
    assert again.status_code == 400
    assert again.json() == {"token": ["this invitation has already been used"]}
    actions = AuditEntry.objects.for_tenant(world.tenant_a).values_list("action", flat=True)
    assert {"invitation.create", "membership.add", "invitation.accept"} <= set(actions)


def test_someone_else_holding_the_link_cannot_accept_it(
    world: World, api: Any, charlie: Any, django_capture_on_commit_callbacks
) -> None:
    invite(api(world.alice), "charlie@example.com", "owner", django_capture_on_commit_callbacks)
    token = link_token(mail.outbox[0])

    response = api(world.bob).post(f"{API}/invitations/accept/", {"token": token}, format="json")
    declined = api(world.bob).post(f"{API}/invitations/accept/", {"token": token, "decline": True})

    assert response.status_code == declined.status_code == 400
    assert "sent to another address" in response.json()["token"][0]
    assert not Membership.objects.for_tenant(world.tenant_a).filter(user=world.bob).exists()
    assert api(charlie).post(f"{API}/invitations/accept/", {"token": token}).status_code == 200


def test_a_revoked_or_replaced_invitation_no_longer_works(
    world: World, api: Any, charlie: Any, django_capture_on_commit_callbacks
) -> None:
    owner = api(world.alice)
    first = invite(owner, "charlie@example.com", capture=django_capture_on_commit_callbacks)
    invite(owner, "charlie@example.com", "trader", django_capture_on_commit_callbacks)
    replaced, newest = link_token(mail.outbox[0]), link_token(mail.outbox[1])
    assert owner.delete(f"{API}/invitations/{first.json()['id']}/").status_code == 404  # replaced
    listed = owner.get(f"{API}/invitations/").json()["results"]
    assert owner.delete(f"{API}/invitations/{listed[0]['id']}/").status_code == 204

    for token in (replaced, newest):
        response = api(charlie).post(f"{API}/invitations/accept/", {"token": token})
        assert response.json() == {
            "token": ["this invitation was withdrawn; ask the desk for a new one"]
        }
    assert not Membership.all_tenants.filter(user=charlie).exists()


def test_an_invitation_expires(
    world: World, charlie: Any, time_machine, django_capture_on_commit_callbacks
) -> None:
    time_machine.move_to("2026-03-07T12:00:00Z")
    with django_capture_on_commit_callbacks(execute=True):
        invitations.invitation_create(
            tenant=world.tenant_a,
            actor=world.alice,
            email="charlie@example.com",
            role="viewer",
            link_for=lambda token: f"http://testserver/invitations/{token}/",
        )
    token = link_token(mail.outbox[0])
    time_machine.move_to("2026-03-14T12:00:01Z")  # 7 days and a second, across the DST change
    with pytest.raises(invitations.InvalidInvitation, match="expired"):
        invitations.invitation_accept(token=token, user=charlie)
    assert not Membership.all_tenants.filter(user=charlie).exists()


def test_the_link_secret_is_stored_only_as_a_hash(
    world: World, api: Any, django_capture_on_commit_callbacks
) -> None:
    invite(api(world.alice), "new@example.com", capture=django_capture_on_commit_callbacks)
    token = link_token(mail.outbox[0])
    row = Invitation.objects.for_tenant(world.tenant_a).get()
    assert token not in str(list(Invitation.all_tenants.values_list()))
    assert len(row.token_hash) == 64
    assert token not in str(list(AuditEntry.all_tenants.values_list()))


def test_declining_uses_up_the_link(
    world: World, api: Any, charlie: Any, django_capture_on_commit_callbacks
) -> None:
    invite(api(world.alice), "charlie@example.com", capture=django_capture_on_commit_callbacks)
    token = link_token(mail.outbox[0])
    client = api(charlie)
    declined = client.post(f"{API}/invitations/accept/", {"token": token, "decline": True})
    assert declined.status_code == 204
    assert client.post(f"{API}/invitations/accept/", {"token": token}).status_code == 400
    assert not Membership.all_tenants.filter(user=charlie).exists()


def test_inviting_a_member_address_or_an_unknown_role_is_a_field_error(
    world: World, api: Any
) -> None:
    owner = api(world.alice)
    member = owner.post(f"{API}/invitations/", {"email": "TINA@example.com"}, format="json")
    role = owner.post(f"{API}/invitations/", {"email": "x@example.com", "role": "god"})
    assert member.status_code == role.status_code == 400
    assert member.json() == {"email": ["a member of this desk already has this address"]}
    assert "role" in role.json()
    assert not Invitation.objects.for_tenant(world.tenant_a).exists()
    assert mail.outbox == []


def test_a_changed_login_email_is_no_longer_verified(db) -> None:
    user = UserFactory(username="dora", email="dora@example.com")
    invitations.email_mark_verified(user=user, email="dora@example.com")
    assert invitations.verified_email_of(user=user) == "dora@example.com"
    user.email = "someone-else@example.com"
    assert invitations.verified_email_of(user=user) is None
