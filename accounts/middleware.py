"""Puts the user's current tenant and membership on the request (`request.tenant`, `request.membership`).

The tenant comes from the session (switchable among the user's memberships; at first the desk the user
joined first) and is never taken from a request body; a user with no membership has
`request.tenant = None`.
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
            wanted = request.session.get(SESSION_KEY)
            membership = (
                selectors.membership_get(user=user, tenant=wanted)
                if isinstance(wanted, int)
                else None
            )
            if membership is None:
                # The first desk the user joined, kept for the session: joining another desk never
                # moves them; only their own switch does.
                membership = selectors.membership_default_for_user(user=user)
                if membership is not None:
                    request.session[SESSION_KEY] = membership.tenant_id
            if membership is not None:
                request.tenant, request.membership = membership.tenant, membership  # type: ignore[attr-defined]
        return self.get_response(request)
