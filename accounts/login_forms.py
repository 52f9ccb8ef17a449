"""The web and admin login forms with the login throttle (accounts/login_throttle.py) in front of
the password check. Django's own forms already answer an unknown user and a wrong password alike, and
its ModelBackend hashes the password for an unknown user too, so both take the same time."""

from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from accounts.login_throttle import (
    THROTTLED_MESSAGE,
    LoginAttempt,
    login_failure_record,
    login_is_throttled,
    login_success_record,
)


class ThrottledLoginMixin:
    def clean(self) -> dict[str, Any]:
        attempt = LoginAttempt.of(self.request, self.data.get("username"))
        if login_is_throttled(attempt):
            raise ValidationError(THROTTLED_MESSAGE, code="throttled")
        try:
            cleaned = super().clean()
        except ValidationError:
            login_failure_record(attempt)
            raise
        if self.get_user() is not None:
            login_success_record(attempt)
        return cleaned


class ThrottledAuthenticationForm(ThrottledLoginMixin, AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Your username and password didn't match. Please try again.",
    }


class ThrottledAdminAuthenticationForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass
