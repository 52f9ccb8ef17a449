"""System health for operators: database, Redis, worker and beat liveness, queue depths."""

from datetime import datetime
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

HEARTBEAT_KEY = "health:heartbeat_at"
QUEUES = ("critical", "high", "normal", "low", "background")


def heartbeat_record(*, at: datetime | None = None) -> None:
    """Written by a task that beat schedules and a worker runs: fresh means both are alive."""
    cache.set(HEARTBEAT_KEY, (at or timezone.now()).isoformat(), timeout=None)


def system_health() -> dict[str, Any]:
    report: dict[str, Any] = {"database": _database_ok(), "redis": False, "queues": {}}
    try:
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=1)
        prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
        report["queues"] = {name: client.llen(prefix + name) for name in QUEUES}
        report["redis"] = True
    except redis.RedisError:
        pass
    raw = cache.get(HEARTBEAT_KEY) if report["redis"] else None
    age = (timezone.now() - datetime.fromisoformat(raw)).total_seconds() if raw else None
    report["heartbeat_age_seconds"] = age
    report["worker_and_beat"] = age is not None and age < 90
    return report


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # any database failure means "not healthy"
        return False
    return True
