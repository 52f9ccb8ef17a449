from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from accounts import selectors
from analytics.health import system_health


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    accounts = selectors.trading_account_list(tenant=tenant) if tenant is not None else []
    return render(request, "dashboard/index.html", {"tenant": tenant, "accounts": accounts})


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers; staff also get the details (queues, worker and beat)."""
    report = system_health()
    healthy = report["database"] and report["redis"]
    body = report if request.user.is_staff else {}
    return JsonResponse({"status": "ok" if healthy else "degraded", **body}, status=200 if healthy else 503)
