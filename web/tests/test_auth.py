"""Sign-up, invitations, login and password reset."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from accounts.models import Membership, Role, Tenant
from web import services

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
        services.signup(
            username=name,
            email=f"{name}@x.io",
            password=PASSWORD,
            desk_name="Alpha",
            invitation=None,
        )
    assert sorted(Tenant.objects.values_list("slug", flat=True)) == ["alpha", "alpha-2"]


def test_owner_invites_an_existing_user_by_email(client, alice, tenant_a, charlie):
    client.force_login(alice)
    response = client.post(
        reverse("member_invite"), {"email": "CHARLIE@example.com", "role": "viewer"}
    )
    assert response.status_code == 302
    membership = Membership.objects.for_tenant(tenant_a).get(user=charlie)
    assert membership.role == Role.VIEWER


def test_invitation_link_signs_up_a_new_user_into_the_desk(
    client, alice, tenant_a, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("member_invite"), {"email": "new@example.com", "role": "trader"})
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/signup/\?invite=\S+)", mail.outbox[0].body).group(1)
    client.logout()
    page = client.get(link)
    assert "You were invited to <strong>Desk A</strong> as trader." in page.content.decode()
    token = link.split("invite=")[1]
    response = client.post(
        link,
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
    membership = Membership.objects.for_tenant(tenant_a).get(user=nina)
    assert membership.role == Role.TRADER
    assert Membership.all_tenants.filter(user=nina).count() == 1  # no desk of her own


def test_a_tampered_invitation_is_refused(client, tenant_a):
    token = services.invitation_token(tenant=tenant_a, email="x@example.com", role="viewer")
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    response = client.get(reverse("signup") + f"?invite={forged}")
    assert response.status_code == 400
    assert "this invitation link is not valid" in response.content.decode()


def test_an_expired_invitation_is_refused(tenant_a, time_machine):
    time_machine.move_to("2026-01-01T00:00:00Z")
    token = services.invitation_token(tenant=tenant_a, email="x@example.com", role="viewer")
    time_machine.move_to("2026-01-09T00:00:00Z")
    with pytest.raises(services.InvalidInvitation, match="expired"):
        services.invitation_read(token=token)


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
