"""The API tokens page: a signed-in user sees their API sign-ins and revokes any or all of them."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from rest_framework_simplejwt.settings import api_settings

from apiauth import selectors, services


@login_required
@require_GET
def api_token_list(request: HttpRequest) -> HttpResponse:
    rows = [
        (api_token, selectors.api_token_state(api_token=api_token))
        for api_token in selectors.api_token_list_for_user(user=request.user)
    ]
    access_minutes = int(api_settings.ACCESS_TOKEN_LIFETIME.total_seconds() // 60)
    return render(
        request, "apiauth/token_list.html", {"rows": rows, "access_minutes": access_minutes}
    )


@login_required
@require_POST
def api_token_revoke(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    if services.api_token_revoke(user=request.user, public_id=public_id):
        messages.success(request, "Token revoked: it no longer works, including its access tokens.")
    else:
        messages.error(request, "No such live token.")
    return redirect("api_tokens")


@login_required
@require_POST
def api_token_revoke_all(request: HttpRequest) -> HttpResponse:
    count = services.api_token_revoke_all(user=request.user)
    messages.success(request, f"Revoked {count} token{'s' if count != 1 else ''}.")
    return redirect("api_tokens")
