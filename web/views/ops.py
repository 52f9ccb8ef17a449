"""System health for operators (staff): database, Redis, worker and beat, queues, broker latency."""

from __future__ import annotations

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from analytics.health import system_health
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
    report = system_health()
    endpoints, latency_error = broker_latency() if report["redis"] else ([], "Redis is down.")
    return render(
        request,
        "web/health.html",
        {
            "report": report,
            "healthy": report["database"] and report["redis"] and report["worker_and_beat"],
            "endpoints": endpoints,
            "latency_error": latency_error,
        },
    )
