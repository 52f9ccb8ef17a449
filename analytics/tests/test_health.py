"""Operators' health figures: hub connections and the market-data cache, as the health page shows them."""

from datetime import UTC, datetime

import pytest
import redis
from django.urls import reverse

from analytics.health import hub_state_record, hub_states, market_data_stats

pytestmark = pytest.mark.clock_sensitive  # bin/test-clock-instants: it reads the wall clock


def test_hub_states_keep_the_latest_state_per_existing_login(account_a):
    login = account_a.connection
    hub_state_record(connection_id=login.pk, hub="user", connected=True, reason=None)
    hub_state_record(connection_id=login.pk, hub="user", connected=False, reason="connection lost")
    hub_state_record(connection_id=10**9, hub="user", connected=True, reason=None)  # no such login
    mine = [s for s in hub_states() if s["connection_id"] in (login.pk, 10**9)]
    assert [(s["hub"], s["connected"], s["reason"]) for s in mine] == [
        ("user", False, "connection lost")
    ]
    assert mine[0]["login"] == f"Desk A · {login.name}"


def test_market_data_stats_sum_every_login(settings):
    client = redis.Redis.from_url(settings.REDIS_URL)
    day = datetime(2026, 11, 24, tzinfo=UTC).date()
    for scope, hits, misses, calls in (("a", 9, 1, 1), ("b", 10, 0, 0)):
        key = f"{settings.MARKETDATA_CACHE_PREFIX}:stats:{scope}:{day.isoformat()}"
        client.hset(key, mapping={"hits": hits, "misses": misses, "broker_calls": calls})
    assert market_data_stats(day) == {"hits": 19, "misses": 1, "broker_calls": 1, "hit_rate": 0.95}


def test_health_page_shows_hubs_and_cache(client, django_user_model, account_a):
    ops = django_user_model.objects.create_superuser("ops", password="x")
    client.force_login(ops)
    hub_state_record(
        connection_id=account_a.connection.pk, hub="market", connected=True, reason=None
    )
    html = client.get(reverse("ops_health")).content.decode()
    assert f"Desk A · {account_a.connection.name} · market" in html
    assert 'id="market-data"' in html


def test_a_staff_member_sees_only_their_own_desks_logins_and_errors(
    client, alice, account_a, account_b
):
    """Staff of desk A (not superuser): desk A's login and its error; not desk B's login or error,
    and none of the platform's figures (services, queues, cache, broker latency)."""
    alice.is_staff = True
    alice.save()
    client.force_login(alice)
    mine, theirs = account_a.connection, account_b.connection
    hub_state_record(connection_id=mine.pk, hub="user", connected=False, reason="token expired")
    hub_state_record(connection_id=theirs.pk, hub="user", connected=False, reason="secret-b down")
    response = client.get(reverse("ops_health"))
    html = response.content.decode()
    assert response.status_code == 200
    assert f"Desk A · {mine.name} · user" in html
    assert "token expired" in html
    assert "Desk B" not in html
    assert "secret-b down" not in html
    assert [h["connection_id"] for h in response.context["report"]["hubs"]] == [mine.pk]
    for platform_only in (
        'id="h-database"',
        'id="market-data"',
        "Queue depths",
        "Broker API latency",
    ):
        assert platform_only not in html


def test_a_superuser_sees_every_desks_logins(client, django_user_model, account_a, account_b):
    client.force_login(django_user_model.objects.create_superuser("ops", password="x"))
    for account in (account_a, account_b):
        hub_state_record(
            connection_id=account.connection.pk, hub="user", connected=True, reason=None
        )
    html = client.get(reverse("ops_health")).content.decode()
    assert f"Desk A · {account_a.connection.name} · user" in html
    assert f"Desk B · {account_b.connection.name} · user" in html
    assert 'id="h-database"' in html


def test_healthz_details_are_for_superusers(client, django_user_model, account_a):
    hub_state_record(connection_id=account_a.connection.pk, hub="user", connected=True, reason=None)
    staff = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    client.force_login(staff)
    assert set(client.get("/healthz").json()) == {"status"}
    client.force_login(django_user_model.objects.create_superuser("ops", password="x"))
    report = client.get("/healthz").json()
    assert {"status", "queues", "worker_and_beat", "hubs"} <= set(report)
    assert account_a.connection.pk in {h["connection_id"] for h in report["hubs"]}
