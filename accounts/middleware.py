"""Puts the user's current tenant and membership on the request (`request.tenant`, `request.membership`).

The tenant comes from the session (switchable among the user's memberships) and is never taken from a
request body; a user with no membership has `request.tenant = None`.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from accounts import selectors

SESSION_KEY = "tenant_id"


class TenantMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.tenant, request.membership = None, None  # type: ignore[attr-defined]
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            memberships = selectors.membership_list_for_user(user=user)
            wanted = request.session.get(SESSION_KEY)
            membership = memberships.filter(tenant_id=wanted).first() if wanted else None
            membership = membership or memberships.first()
            if membership is not None:
                request.tenant, request.membership = membership.tenant, membership  # type: ignore[attr-defined]
        return self.get_response(request)
