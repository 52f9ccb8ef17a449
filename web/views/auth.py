"""Sign-up (a new desk, or joining one through an invitation link) and the throttled login."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import LoginView
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.login_forms import ThrottledAuthenticationForm
from web import services
from web.forms import SignupForm


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    token = request.GET.get("invite") or request.POST.get("invite") or ""
    invitation = None
    if token:
        try:
            invitation = services.invitation_read(token=token)
        except services.InvalidInvitation as exc:
            return render(
                request, "registration/signup.html", {"invite_error": str(exc)}, status=400
            )
    form = SignupForm(request.POST or None, invitation=invitation)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.signup(
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
                desk_name=form.cleaned_data.get("desk_name"),
                invitation=token or None,
            )
        except (ValidationError, IntegrityError) as exc:
            form.add_error(None, "; ".join(getattr(exc, "messages", [])) or "Please try again.")
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Welcome! Your login is ready.")
            return redirect("dashboard")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "registration/signup.html",
        {"form": form, "invitation": invitation, "invite": token},
        status=status,
    )


class ThrottledLoginView(LoginView):
    """Django's login page behind the login throttle; a throttled attempt answers 429."""

    authentication_form = ThrottledAuthenticationForm

    def form_invalid(self, form: ThrottledAuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, code="throttled"):
            response.status_code = 429
        return response
