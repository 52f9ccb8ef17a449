"""Operators' health figures: hub connections and the market-data cache, as the health page shows them."""

from datetime import UTC, datetime

import redis
from django.urls import reverse

from analytics.health import hub_state_record, hub_states, market_data_stats


def test_hub_states_keep_the_latest_state_per_login_and_hub(db):
    hub_state_record(connection_id=987001, hub="user", connected=True, reason=None)
    hub_state_record(connection_id=987001, hub="user", connected=False, reason="connection lost")
    mine = [s for s in hub_states() if s["connection_id"] == 987001]
    assert [(s["hub"], s["connected"], s["reason"]) for s in mine] == [
        ("user", False, "connection lost")
    ]


def test_market_data_stats_sum_every_login(settings):
    client = redis.Redis.from_url(settings.REDIS_URL)
    day = datetime(2026, 11, 24, tzinfo=UTC).date()
    for scope, hits, misses, calls in (("a", 9, 1, 1), ("b", 10, 0, 0)):
        key = f"{settings.MARKETDATA_CACHE_PREFIX}:stats:{scope}:{day.isoformat()}"
        client.hset(key, mapping={"hits": hits, "misses": misses, "broker_calls": calls})
    assert market_data_stats(day) == {"hits": 19, "misses": 1, "broker_calls": 1, "hit_rate": 0.95}


def test_health_page_shows_hubs_and_cache(client, django_user_model):
    staff = django_user_model.objects.create_user("ops", password="x", is_staff=True)
    client.force_login(staff)
    hub_state_record(connection_id=987002, hub="market", connected=True, reason=None)
    html = client.get(reverse("ops_health")).content.decode()
    assert "login 987002 · market" in html
    assert 'id="market-data"' in html
