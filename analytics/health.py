"""System health for operators: database, Redis, worker and beat liveness, queue depths (platform-wide,
for superusers), and the broker logins' hub states (each staff member sees their own desks')."""

import json
from collections.abc import Collection
from datetime import date, datetime
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

HEARTBEAT_KEY = "health:heartbeat_at"


def hubs_key() -> str:
    """Redis hash "<connection id>:<hub>" -> JSON {connected, reason, at}."""
    return f"{settings.HEALTH_KEY_PREFIX}:hubs"


def price_feeds_key() -> str:
    """Redis hash "<source>|<contract>" -> JSON {source, contract_id, connection_id, is_live, at}."""
    return f"{settings.HEALTH_KEY_PREFIX}:price_feeds"


def heartbeat_record(*, at: datetime | None = None) -> None:
    """Written by a task that beat schedules and a worker runs: fresh means both are alive."""
    cache.set(HEARTBEAT_KEY, (at or timezone.now()).isoformat(), timeout=None)


def system_health() -> dict[str, Any]:
    report: dict[str, Any] = {"database": _database_ok(), "redis": False, "queues": {}}
    try:
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=1)
        prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
        report["queues"] = {
            name: client.llen(prefix + name) for name in settings.CELERY_TASK_QUEUES_ORDER
        }
        report["redis"] = True
    except redis.RedisError:
        pass
    raw = cache.get(HEARTBEAT_KEY) if report["redis"] else None
    age = (timezone.now() - datetime.fromisoformat(raw)).total_seconds() if raw else None
    report["heartbeat_age_seconds"] = age
    report["worker_and_beat"] = age is not None and age < 90
    report["hubs"] = hub_states() if report["redis"] else []
    report["price_feeds"] = price_feed_states() if report["redis"] else []
    report["market_data"] = market_data_stats() if report["redis"] else None
    return report


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1)


def hub_state_record(*, connection_id: int, hub: str, connected: bool, reason: str | None) -> None:
    """Written by the hubs process whenever a hub of a broker login connects or drops."""
    value = {"connected": connected, "reason": reason or "", "at": timezone.now().isoformat()}
    _redis().hset(hubs_key(), f"{connection_id}:{hub}", json.dumps(value))


def hub_states(*, tenant_ids: Collection[int] | None = None) -> list[dict[str, Any]]:
    """The last reported state of each hub of each broker login that still exists, with the login's
    name and desk: of the given desks only, or fleet-wide (None) for superusers."""
    from accounts.models import BrokerConnection

    raw_states = {}
    for key, raw in _redis().hgetall(hubs_key()).items():
        connection_id, hub = key.decode().split(":", 1)
        raw_states[(int(connection_id), hub)] = json.loads(raw)
    logins = BrokerConnection.all_tenants.select_related("tenant")
    if tenant_ids is not None:
        logins = logins.filter(tenant_id__in=tenant_ids)
    logins = logins.in_bulk({pk for pk, _ in raw_states})
    return [
        {
            "connection_id": pk,
            "login": f"{logins[pk].tenant.name} · {logins[pk].name}",
            "hub": hub,
            **state,
        }
        for (pk, hub), state in sorted(raw_states.items())
        if pk in logins
    ]


def market_hubs_down() -> set[int]:
    """Broker logins whose market hub last reported a failure (the hubs process fails over from
    them). A clean stop (the hubs process rebuilding its listeners) is no failure."""
    down = set()
    for key, raw in _redis().hgetall(hubs_key()).items():
        connection_id, hub = key.decode().split(":", 1)
        state = json.loads(raw)
        if hub == "market" and not state["connected"] and state["reason"] != "stop":
            down.add(int(connection_id))
    return down


def price_feeds_record(feeds: list[dict[str, Any]]) -> None:
    """Written by the hubs process whenever it (re)assigns the price feeds: the whole picture."""
    at = timezone.now().isoformat()
    pipe = _redis().pipeline()
    pipe.delete(price_feeds_key())
    for feed in feeds:
        field = f"{feed['source']}|{feed['contract_id']}"
        pipe.hset(price_feeds_key(), field, json.dumps({**feed, "at": at}))
    pipe.execute()


def price_feed_states() -> list[dict[str, Any]]:
    """Which broker login feeds each contract's prices, per source, live sources first (fleet-wide:
    the health page is for operators)."""
    from accounts.models import BrokerConnection

    feeds = [json.loads(raw) for raw in _redis().hgetall(price_feeds_key()).values()]
    logins = BrokerConnection.all_tenants.select_related("tenant").in_bulk(
        {feed["connection_id"] for feed in feeds}
    )
    rows = []
    for feed in feeds:
        login = logins.get(feed["connection_id"])
        name = f"{login.tenant.name} · {login.name}" if login is not None else "(deleted login)"
        rows.append({**feed, "login": name})
    return sorted(rows, key=lambda r: (not r["is_live"], r["source"], r["contract_id"]))


def market_data_stats(day: date | None = None) -> dict[str, Any]:
    """Today's market-data cache figures summed over every broker login (execution.marketdata)."""
    day = day or timezone.now().date()
    client = _redis()
    totals = {"hits": 0, "misses": 0, "broker_calls": 0}
    pattern = f"{settings.MARKETDATA_CACHE_PREFIX}:stats:*:{day.isoformat()}"
    for key in client.scan_iter(pattern, count=500):
        for field, value in client.hgetall(key).items():
            name = field.decode()
            if name in totals:
                totals[name] += int(value)
    reads = totals["hits"] + totals["misses"]
    return {**totals, "hit_rate": totals["hits"] / reads if reads else None}


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # any database failure means "not healthy"
        return False
    return True
