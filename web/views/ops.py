"""System health for operators (staff). Superusers see the platform: database, Redis, worker and beat,
queues, the market-data cache, broker latency and every desk's hubs; other staff see only the broker
logins of their own desks (their names and errors are the desks' business, not each other's)."""

from __future__ import annotations

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.selectors import tenant_ids_for_user
from analytics.health import hub_states, system_health
from web.permissions import staff_required


def metrics_key_prefix() -> str:
    """Where the gateway's RedisMetrics writes (its default prefix); tests point it elsewhere."""
    return getattr(settings, "GATEWAY_METRICS_KEY_PREFIX", "gateway")


def broker_latency() -> tuple[list, str]:
    """Per-endpoint broker call figures from the gateway's shared metrics, or why they are missing."""
    try:
        from execution.gateway.metrics import RedisMetrics
    except ImportError:  # the gateway package is optional for this page
        return [], "The gateway metrics module is not installed."
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1)
        stats = RedisMetrics(client, key_prefix=metrics_key_prefix()).snapshot()
    except redis.RedisError as exc:
        return [], f"Redis is unreachable: {type(exc).__name__}."
    return sorted(stats.values(), key=lambda s: s.endpoint), ""


@staff_required
@require_GET
def health(request: HttpRequest) -> HttpResponse:
    if not request.user.is_superuser:
        return _desk_health(request)
    report = system_health()
    endpoints, latency_error = broker_latency() if report["redis"] else ([], "Redis is down.")
    return render(
        request,
        "web/health.html",
        {
            "is_platform": True,
            "report": report,
            "healthy": report["database"] and report["redis"] and report["worker_and_beat"],
            "endpoints": endpoints,
            "latency_error": latency_error,
        },
    )


def _desk_health(request: HttpRequest) -> HttpResponse:
    try:
        hubs, hubs_error = hub_states(tenant_ids=tenant_ids_for_user(user=request.user)), ""
    except redis.RedisError as exc:
        hubs, hubs_error = [], f"Redis is unreachable: {type(exc).__name__}."
    return render(
        request,
        "web/health.html",
        {"is_platform": False, "report": {"hubs": hubs}, "hubs_error": hubs_error},
    )
