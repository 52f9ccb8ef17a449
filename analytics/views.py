from django.http import HttpRequest, JsonResponse

from analytics.health import system_health


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers; staff also get the details (queues, worker and beat)."""
    report = system_health()
    healthy = report["database"] and report["redis"]
    body = report if request.user.is_staff else {}
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", **body}, status=200 if healthy else 503
    )
