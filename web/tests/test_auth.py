"""Sign-up, invitations, login and password reset."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from accounts import invitations
from accounts.models import Invitation, Membership, Role, Tenant
from accounts.signup import signup
from accounts.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-Long-and-unusual-pw-42"


def test_sign_up_creates_the_user_and_their_own_desk_as_owner(client):
    response = client.post(
        reverse("signup"),
        {
            "username": "dana",
            "email": "dana@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "desk_name": "Dana Capital",
        },
    )
    assert response.status_code == 302
    user = get_user_model().objects.get(username="dana")
    membership = Membership.all_tenants.get(user=user)
    assert membership.role == Role.OWNER
    assert membership.tenant.name == "Dana Capital"
    assert membership.tenant.slug == "dana-capital"
    body = client.get("/").content.decode()  # logged in straight away
    assert "Dana Capital" in body


def test_sign_up_refuses_weak_passwords_and_a_missing_desk_name(client):
    response = client.post(
        reverse("signup"),
        {"username": "ed", "email": "ed@example.com", "password1": "123", "password2": "123"},
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "desk_name" in errors
    assert "password2" in errors
    assert not get_user_model().objects.filter(username="ed").exists()


def test_two_desks_with_the_same_name_get_distinct_slugs(db):
    for name in ("ann", "ben"):
        signup(
            username=name,
            email=f"{name}@x.io",
            password=PASSWORD,
            desk_name="Alpha",
            invitation_token=None,
            verify_link_for=lambda token: f"http://testserver/signup/verify/{token}/",
        )
    assert sorted(Tenant.objects.values_list("slug", flat=True)) == ["alpha", "alpha-2"]


def test_sign_up_sends_a_link_and_the_address_counts_only_once_verified(
    client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("signup"),
            {
                "username": "dana",
                "email": "dana@example.com",
                "password1": PASSWORD,
                "password2": PASSWORD,
                "desk_name": "Dana Capital",
            },
        )
    dana = get_user_model().objects.get(username="dana")
    assert invitations.verified_email_of(user=dana) is None
    assert [m.to for m in mail.outbox] == [["dana@example.com"]]
    path = re.search(r"http://testserver(/signup/verify/\S+/)", mail.outbox[0].body).group(1)
    assert client.get(path).status_code == 302
    assert invitations.verified_email_of(user=dana) == "dana@example.com"


def invitation_link(client, email, role, capture) -> str:
    with capture(execute=True):
        response = client.post(reverse("member_invite"), {"email": email, "role": role})
    assert response.status_code == 302
    return re.search(r"http://testserver(/invitations/\S+/)", mail.outbox[-1].body).group(1)


def test_inviting_an_existing_user_adds_nobody_until_they_accept(
    client, alice, tenant_a, charlie, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    link = invitation_link(
        client, "CHARLIE@example.com", "viewer", django_capture_on_commit_callbacks
    )
    assert mail.outbox[-1].to == ["charlie@example.com"]
    assert not Membership.objects.for_tenant(tenant_a).filter(user=charlie).exists()
    assert "charlie@example.com" in client.get(reverse("settings")).content.decode()  # pending

    client.force_login(charlie)
    page = client.get(link)  # opening (or a mail scanner fetching) the link changes nothing
    assert 'id="invitation-accept"' in page.content.decode()
    assert not Membership.objects.for_tenant(tenant_a).filter(user=charlie).exists()
    response = client.post(link, {"answer": "accept"})
    assert response.status_code == 302
    assert Membership.objects.for_tenant(tenant_a).get(user=charlie).role == Role.VIEWER
    again = client.post(link, {"answer": "accept"})
    assert again.status_code == 400
    assert "already been used" in again.content.decode()


def test_a_login_with_another_address_cannot_accept(
    client, alice, tenant_a, bob, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    link = invitation_link(client, "new@example.com", "owner", django_capture_on_commit_callbacks)
    client.force_login(bob)
    assert 'id="invitation-accept"' not in client.get(link).content.decode()
    response = client.post(link, {"answer": "accept"})
    assert response.status_code == 400
    assert not Membership.objects.for_tenant(tenant_a).filter(user=bob).exists()


def test_an_unverified_sign_up_with_an_invited_address_claims_nothing(
    client, alice, tenant_a, django_capture_on_commit_callbacks
):
    """Someone signs up with an address that is not theirs; inviting that address adds them nowhere
    (the link goes to the address's real owner, who signs up or accepts)."""
    squatter = signup(
        username="eve",
        email="victim@example.com",
        password=PASSWORD,
        desk_name="Eve",
        invitation_token=None,
        verify_link_for=str,
    )
    client.force_login(alice)
    invitation_link(client, "victim@example.com", "owner", django_capture_on_commit_callbacks)
    assert not Membership.objects.for_tenant(tenant_a).filter(user=squatter).exists()


def test_invitation_link_signs_up_a_new_user_into_the_desk(
    client, alice, tenant_a, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    link = invitation_link(client, "new@example.com", "trader", django_capture_on_commit_callbacks)
    client.logout()
    page = client.get(link).content.decode()
    signup_link = re.search(r'href="(/signup/\?invite=[^"]+)"', page).group(1)
    page = client.get(signup_link)
    assert "You were invited to <strong>Desk A</strong> as trader." in page.content.decode()
    token = link.split("/")[2]
    response = client.post(
        reverse("signup"),
        {
            "username": "nina",
            "email": "other@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "invite": token,
        },
    )
    assert response.status_code == 302
    nina = get_user_model().objects.get(username="nina")
    assert nina.email == "new@example.com"  # the invited address, whatever was posted
    assert invitations.verified_email_of(user=nina) == "new@example.com"  # the link proved it
    membership = Membership.objects.for_tenant(tenant_a).get(user=nina)
    assert membership.role == Role.TRADER
    assert Membership.all_tenants.filter(user=nina).count() == 1  # no desk of her own
    assert client.post(link, {"answer": "accept"}).status_code == 400  # used up


def test_a_forged_invitation_link_is_refused(client, tenant_a):
    response = client.get(reverse("signup") + "?invite=not-a-real-token")
    assert response.status_code == 400
    assert "this invitation link is not valid" in response.content.decode()
    assert client.get("/invitations/not-a-real-token/").status_code == 400


def test_a_revoked_invitation_link_says_so(
    client, alice, tenant_a, charlie, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    link = invitation_link(
        client, "charlie@example.com", "viewer", django_capture_on_commit_callbacks
    )
    invitation = Invitation.objects.for_tenant(tenant_a).get()
    response = client.post(reverse("invitation_revoke", args=[invitation.public_id]))
    assert response.status_code == 302
    client.force_login(charlie)
    page = client.get(link)
    assert page.status_code == 400
    assert "withdrawn" in page.content.decode()


def test_joining_another_desk_never_moves_a_users_current_desk(client, alice, tenant_a):
    """Her first desk stays the default at every login, however the other desk is named."""
    MembershipFactory(user=alice, tenant__name="AAA first by name", role=Role.VIEWER)
    client.force_login(alice)
    assert client.get("/").context["request"].tenant == tenant_a
    client.logout()
    client.force_login(alice)
    assert client.get("/").context["request"].tenant == tenant_a


def test_login_page_keeps_the_selectors_the_make_run_test_uses(client, alice):
    body = client.get(reverse("login")).content.decode()
    for selector in ('id="id_username"', 'id="id_password"', 'id="login-submit"'):
        assert selector in body
    response = client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    assert 'class="errorlist"' in response.content.decode()
    response = client.post(reverse("login"), {"username": "alice", "password": "pw-for-tests"})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_logout_is_a_post(client, alice):
    client.force_login(alice)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_password_reset_emails_a_working_link(client, alice):
    response = client.post(reverse("password_reset"), {"email": "alice@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    path = re.search(r"http://testserver(/password/reset/\S+/)", mail.outbox[0].body).group(1)
    response = client.get(path, follow=True)
    assert response.status_code == 200
    set_url = response.redirect_chain[-1][0]
    response = client.post(set_url, {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_password_reset_for_an_unknown_address_sends_nothing_and_says_the_same(client, db):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"}, follow=True)
    assert "If the address belongs to a login" in response.content.decode()
    assert mail.outbox == []
