"""The API tokens page: a user sees only their own sign-ins and revokes one or all of them; ended
sign-ins are purged after a while."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.urls import reverse

from apiauth.models import ApiToken
from apiauth.services import api_token_issue, api_token_purge, api_token_revoke
from apiauth.tasks import cleanup_api_tokens_task

pytestmark = pytest.mark.django_db


def test_the_page_needs_a_login(client: Any) -> None:
    response = client.get(reverse("api_tokens"))

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_the_page_lists_own_tokens_only_and_no_secret(client: Any, alice: Any, bob: Any) -> None:
    _, alices = api_token_issue(user=alice, name="alice's script")
    api_token_issue(user=bob, name="bob's script")
    client.force_login(alice)

    body = client.get(reverse("api_tokens")).content.decode()

    assert "alice&#x27;s script" in body
    assert "bob&#x27;s script" not in body
    assert alices.access not in body
    assert alices.refresh not in body


def test_revoke_one_from_the_page(client: Any, alice: Any) -> None:
    kept, _ = api_token_issue(user=alice, name="kept")
    revoked, _ = api_token_issue(user=alice, name="revoked")
    client.force_login(alice)

    response = client.post(reverse("api_token_revoke", args=[revoked.public_id]))

    assert response.status_code == 302
    assert ApiToken.objects.get(pk=revoked.pk).revoked_at is not None
    assert ApiToken.objects.get(pk=kept.pk).revoked_at is None


def test_another_users_token_cannot_be_revoked_from_the_page(
    client: Any, alice: Any, bob: Any
) -> None:
    bobs, _ = api_token_issue(user=bob)
    client.force_login(alice)

    client.post(reverse("api_token_revoke", args=[bobs.public_id]))

    assert ApiToken.objects.get(pk=bobs.pk).revoked_at is None


def test_revoke_all_from_the_page(client: Any, alice: Any, bob: Any) -> None:
    for _ in range(3):
        api_token_issue(user=alice)
    bobs, _ = api_token_issue(user=bob)
    client.force_login(alice)

    client.post(reverse("api_token_revoke_all"))

    assert not ApiToken.objects.filter(user=alice, revoked_at__isnull=True).exists()
    assert ApiToken.objects.get(pk=bobs.pk).revoked_at is None
    assert "Revoked by its owner" in client.get(reverse("api_tokens")).content.decode()


def test_ended_sign_ins_are_purged_after_thirty_days(alice: Any) -> None:
    start = datetime(2026, 1, 5, 12, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        revoked_early, _ = api_token_issue(user=alice, name="revoked early")
        api_token_revoke(user=alice, public_id=revoked_early.public_id)
        clock.shift(timedelta(days=10))
        revoked_late, _ = api_token_issue(user=alice, name="revoked late")
        api_token_revoke(user=alice, public_id=revoked_late.public_id)
        api_token_issue(user=alice, name="live")
        clock.shift(timedelta(days=25))  # 35 days after the first revocation, 25 after the second

        cleanup_api_tokens_task()

        kept = set(ApiToken.objects.values_list("name", flat=True))
        assert kept == {"revoked late", "live"}
        clock.shift(timedelta(days=60))  # now everything has expired over 30 days ago
        assert api_token_purge() == 2
