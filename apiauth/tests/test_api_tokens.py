"""API tokens end to end through the real endpoints: short-lived access, rotating refresh, revocation
(by the owner, by a password change, by reuse of a stolen refresh token), and nothing usable stored."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import time_machine
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from accounts.tests.test_api_support import _fresh_throttles
from apiauth.models import ApiToken, RevokedReason

FIXTURES = (_fresh_throttles,)  # imported by name for pytest: throttle counters of this test's own
pytestmark = pytest.mark.django_db
API = "/api/v1"
T0 = datetime(2026, 3, 8, 6, 59, tzinfo=UTC)  # a Sunday, the US DST change (07:00 UTC)


def sign_in(username: str = "alice", password: str = "pw-for-tests", **extra: Any) -> dict:  # noqa: S107
    response = APIClient().post(
        f"{API}/auth/token/", {"username": username, "password": password, **extra}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def me_status(access: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get(f"{API}/me/").status_code


def refresh(raw: str) -> Any:
    return APIClient().post(f"{API}/auth/token/refresh/", {"refresh": raw}, format="json")


def test_sign_in_gives_a_bearer_pair_and_the_access_token_works(alice: Any) -> None:
    pair = sign_in(name="nightly report")

    assert pair["token_type"] == "Bearer"
    assert me_status(pair["access"]) == 200
    assert ApiToken.objects.get(public_id=pair["id"]).name == "nightly report"


def test_nothing_stored_can_sign_in(alice: Any) -> None:
    pair = sign_in()
    row = ApiToken.objects.get(public_id=pair["id"])
    jti = jwt.decode(pair["refresh"], options={"verify_signature": False})["jti"]

    stored = " ".join(str(v) for v in ApiToken.objects.filter(pk=row.pk).values().get().values())
    assert pair["refresh"] not in stored
    assert pair["access"] not in stored
    assert jti not in stored
    assert row.jti_sha256 == hashlib.sha256(jti.encode()).hexdigest()
    # DRF's plain-text static tokens are gone, table and all.
    assert "authtoken_token" not in connection.introspection.table_names()


def test_access_tokens_are_short_lived_and_a_refresh_renews_them(alice: Any) -> None:
    with time_machine.travel(T0, tick=False) as clock:
        pair = sign_in()
        clock.shift(timedelta(minutes=4, seconds=50))
        assert me_status(pair["access"]) == 200
        clock.shift(timedelta(seconds=20))  # 5 min 10 s: past the 5-minute lifetime
        assert me_status(pair["access"]) == 401

        renewed = refresh(pair["refresh"])

        assert renewed.status_code == 200
        assert me_status(renewed.json()["access"]) == 200
        assert renewed.json()["id"] == pair["id"]  # the same sign-in, listed once


def test_refresh_tokens_expire(alice: Any) -> None:
    with time_machine.travel(T0, tick=False) as clock:
        pair = sign_in()
        clock.shift(timedelta(days=14, seconds=1))

        assert refresh(pair["refresh"]).status_code == 401


def test_a_refresh_token_works_once_and_its_reuse_revokes_the_sign_in(alice: Any) -> None:
    stolen = sign_in()
    rotated = refresh(stolen["refresh"]).json()

    replay = refresh(stolen["refresh"])  # two parties hold it: refuse, and end the sign-in

    assert replay.status_code == 401
    assert replay["WWW-Authenticate"] == 'Bearer realm="api"'
    assert refresh(rotated["refresh"]).status_code == 401
    assert me_status(rotated["access"]) == 401
    assert ApiToken.objects.get(public_id=stolen["id"]).revoked_reason == (
        RevokedReason.REFRESH_REUSED
    )


def test_revoking_stops_access_and_refresh_at_once(alice: Any) -> None:
    pair, other = sign_in(), sign_in()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {other['access']}")

    response = client.delete(f"{API}/auth/tokens/{pair['id']}/")

    assert response.status_code == 204
    assert me_status(pair["access"]) == 401  # not at its expiry: now
    assert refresh(pair["refresh"]).status_code == 401
    assert me_status(other["access"]) == 200  # the other sign-in is untouched


def test_nobody_lists_or_revokes_another_users_tokens(alice: Any, bob: Any) -> None:
    alices, bobs = sign_in("alice"), sign_in("bob")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {bobs['access']}")

    listed = client.get(f"{API}/auth/tokens/").json()
    revoke = client.delete(f"{API}/auth/tokens/{alices['id']}/")

    assert [row["id"] for row in listed] == [bobs["id"]]
    assert revoke.status_code == 404
    assert me_status(alices["access"]) == 200


def test_the_list_shows_each_sign_in_and_never_a_token(alice: Any) -> None:
    first, second = sign_in(name="first"), sign_in(name="second")
    client = APIClient()
    client.force_login(alice)  # the browser session works here too
    client.delete(f"{API}/auth/tokens/{first['id']}/")

    listed = client.get(f"{API}/auth/tokens/")

    assert [(r["name"], r["state"]) for r in listed.json()] == [
        ("second", "Active"),
        ("first", "Revoked by its owner"),
    ]
    for secret in (first["access"], first["refresh"], second["access"], second["refresh"]):
        assert secret not in listed.content.decode()


def test_a_password_change_revokes_every_token(alice: Any) -> None:
    pair = sign_in()
    alice.set_password("a-new-password-for-tests")  # what reset, the admin and changepassword do
    alice.save()

    assert me_status(pair["access"]) == 401
    assert refresh(pair["refresh"]).status_code == 401
    assert ApiToken.objects.get(public_id=pair["id"]).revoked_reason == (
        RevokedReason.PASSWORD_CHANGED
    )
    assert me_status(sign_in(password="a-new-password-for-tests")["access"]) == 200


def test_a_deactivated_user_is_refused(alice: Any) -> None:
    pair = sign_in()
    alice.is_active = False
    alice.save()

    assert me_status(pair["access"]) == 401
    assert refresh(pair["refresh"]).status_code == 401


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda c: {**c, "sid": "0" * 32}, id="unknown_sign_in"),
        pytest.param(lambda c: {**c, "user_id": "999999"}, id="another_user"),
    ],
)
def test_forged_tokens_are_refused(alice: Any, forge: Any) -> None:
    access = sign_in()["access"]
    claims = jwt.decode(access, options={"verify_signature": False})

    wrong_key = jwt.encode(claims, "not-our-signing-key-but-long-enough-0123", algorithm="HS256")
    # Even signed with our key, a token must name a live sign-in of its own user.
    altered = jwt.encode(forge(claims), settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")

    assert me_status(wrong_key) == 401
    assert me_status(altered) == 401
    assert me_status("not-a-jwt") == 401
