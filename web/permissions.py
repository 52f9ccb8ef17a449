"""Who may see and who may act. Every page needs a membership; acting needs the right role.

Buttons are hidden in templates with the same predicates (`can_trade`, `is_owner` in the context), and
the POST is refused here regardless, so a hidden button is never the only guard.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from accounts.models import Role

View = Callable[..., HttpResponse]


def can_trade(request: HttpRequest) -> bool:
    membership = getattr(request, "membership", None)
    return membership is not None and membership.can_trade


def is_owner(request: HttpRequest) -> bool:
    membership = getattr(request, "membership", None)
    return membership is not None and membership.role == Role.OWNER


def member_required(view: View) -> View:
    """Logged in and a member of a tenant; a user without a desk lands on the dashboard's notice."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if getattr(request, "tenant", None) is None:
            return redirect("dashboard")
        return view(request, *args, **kwargs)

    return wrapper


def _role_required(
    predicate: Callable[[HttpRequest], bool], message: str
) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @member_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not predicate(request):
                raise PermissionDenied(message)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


trader_required = _role_required(can_trade, "Viewers cannot trade or change strategies.")
owner_required = _role_required(is_owner, "Only the desk's owner can change its settings.")


def staff_required(view: View) -> View:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied("System health is for operators (staff) only.")
        return view(request, *args, **kwargs)

    return wrapper
