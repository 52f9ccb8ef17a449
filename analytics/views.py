from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from accounts import selectors


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    accounts = selectors.trading_account_list(tenant=tenant) if tenant is not None else []
    return render(request, "dashboard/index.html", {"tenant": tenant, "accounts": accounts})


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
