"""Sign-up (a new desk, or joining one through an invitation link), the invitation page where its
recipient accepts or declines, the email-verification link, and the throttled login."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts import invitations
from accounts.links import verify_link_for
from accounts.login_forms import ThrottledAuthenticationForm
from accounts.middleware import SESSION_KEY
from accounts.signup import signup as signup_service
from web.forms import SignupForm


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    token = request.GET.get("invite") or request.POST.get("invite") or ""
    invitation = None
    if token:
        try:
            invitation = invitations.invitation_for_token(token=token)
        except invitations.InvalidInvitation as exc:
            return render(
                request, "registration/signup.html", {"invite_error": str(exc)}, status=400
            )
    form = SignupForm(request.POST or None, invitation=invitation)
    if request.method == "POST" and form.is_valid():
        try:
            user = signup_service(
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
                desk_name=form.cleaned_data.get("desk_name"),
                invitation_token=token or None,
                verify_link_for=verify_link_for(request),
            )
        except invitations.InvalidInvitation as exc:
            form.add_error(None, str(exc))
        except (ValidationError, IntegrityError) as exc:
            form.add_error(None, "; ".join(getattr(exc, "messages", [])) or "Please try again.")
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            if invitation is None:
                messages.success(
                    request, f"Welcome! We sent a link to {user.email}: open it to confirm it."
                )
            else:
                messages.success(request, f"Welcome to {invitation.tenant.name}!")
            return redirect("dashboard")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "registration/signup.html",
        {"form": form, "invitation": invitation, "invite": token},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def invitation_open(request: HttpRequest, token: str) -> HttpResponse:
    """The link from the email. Signed in: accept or decline (a POST, so a mail scanner fetching the
    link changes nothing). Signed out: sign up from here, or log in and come back."""
    try:
        invitation = invitations.invitation_for_token(token=token)
    except invitations.InvalidInvitation as exc:
        return render(request, "web/invitation.html", {"error": str(exc)}, status=400)
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect(f"{reverse('login')}?next={request.path}")
        return _invitation_answer(request, token, invitation.tenant.name)
    is_recipient = request.user.is_authenticated and (
        (request.user.email or "").strip().lower() == invitation.email
    )
    return render(
        request,
        "web/invitation.html",
        {"invitation": invitation, "token": token, "is_recipient": is_recipient},
    )


def _invitation_answer(request: HttpRequest, token: str, desk: str) -> HttpResponse:
    try:
        if request.POST.get("answer") == "decline":
            invitations.invitation_decline(token=token, user=request.user)
            messages.info(request, f"You declined the invitation to {desk}.")
            return redirect("dashboard")
        membership = invitations.invitation_accept(token=token, user=request.user)
    except invitations.InvalidInvitation as exc:
        return render(request, "web/invitation.html", {"error": str(exc)}, status=400)
    request.session[SESSION_KEY] = membership.tenant_id  # their own choice: show the desk joined
    messages.success(request, f"You joined {desk} as {membership.get_role_display().lower()}.")
    return redirect("dashboard")


@login_required
@require_GET
def email_verify(request: HttpRequest, token: str) -> HttpResponse:
    try:
        record = invitations.email_verification_confirm(token=token, user=request.user)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        return redirect("dashboard")
    messages.success(request, f"{record.email} is confirmed.")
    return redirect("dashboard")


class ThrottledLoginView(LoginView):
    """Django's login page behind the login throttle; a throttled attempt answers 429."""

    authentication_form = ThrottledAuthenticationForm

    def form_invalid(self, form: ThrottledAuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, code="throttled"):
            response.status_code = 429
        return response
