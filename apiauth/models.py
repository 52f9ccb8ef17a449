"""API sign-ins: one row per refresh-token family, holding no secret.

A refresh token is a signed JWT; what we keep is only the SHA-256 of its current `jti` (it changes at
every refresh), so a copy of this table lets nobody sign in. Access tokens are short-lived JWTs that
name their row (`sid`); every request looks the row up, so revoking it stops them at once.
"""

import uuid

from django.conf import settings
from django.db import models


class RevokedReason(models.TextChoices):
    USER = "user", "Revoked by its owner"
    PASSWORD_CHANGED = "password_changed", "Password changed"
    REFRESH_REUSED = "refresh_reused", "An old refresh token was used again (possible theft)"
    USER_INACTIVE = "user_inactive", "User deactivated"


class ApiToken(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=120, blank=True, help_text="Which script or device.")
    jti_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    # The user's session-auth hash (an HMAC of the password hash) when issued: a password change,
    # by any path (reset, admin, manage.py), makes it differ and the token stop working.
    password_fingerprint = models.CharField(max_length=128, editable=False)
    created_at = models.DateTimeField()
    refreshed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=20, choices=RevokedReason.choices, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"], name="api_token_user_recent")]

    def __str__(self) -> str:
        return f"API token {self.name or self.public_id} of {self.user_id}"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
