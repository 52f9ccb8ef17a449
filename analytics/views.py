from django.http import HttpRequest, JsonResponse

from analytics.health import system_health


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers; superusers also get the platform's details (queues, worker and
    beat, every desk's hubs)."""
    report = system_health()
    healthy = report["database"] and report["redis"]
    body = report if request.user.is_superuser else {}
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", **body}, status=200 if healthy else 503
    )
