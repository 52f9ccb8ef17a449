"""Operators' health figures: hub connections and the market-data cache, as the health page shows them."""

from datetime import UTC, datetime

import redis
from django.urls import reverse

from analytics.health import hub_state_record, hub_states, market_data_stats


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
    staff = django_user_model.objects.create_user("ops", password="x", is_staff=True)
    client.force_login(staff)
    hub_state_record(
        connection_id=account_a.connection.pk, hub="market", connected=True, reason=None
    )
    html = client.get(reverse("ops_health")).content.decode()
    assert f"Desk A · {account_a.connection.name} · market" in html
    assert 'id="market-data"' in html
