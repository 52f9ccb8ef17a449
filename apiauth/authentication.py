"""`Authorization: Bearer <access token>` for the API.

simplejwt checks the signature, the type and the expiry; then the token's sign-in row must be live
(not revoked or expired, password unchanged, user active). That is one query, joined to the user:
the same cost as the static tokens it replaces, and a revocation takes effect on the next request.
"""

from django.contrib.auth.models import AbstractBaseUser
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token

from apiauth import selectors, services
from apiauth.tokens import SID_CLAIM


class AccessTokenAuthentication(JWTAuthentication):
    def get_user(self, validated_token: Token) -> AbstractBaseUser:
        api_token = selectors.api_token_get_live(
            public_id=validated_token.get(SID_CLAIM),
            user_id=validated_token.get(api_settings.USER_ID_CLAIM),
        )
        if api_token is None or not services.api_token_confirm(api_token=api_token):
            raise AuthenticationFailed(services.REFUSED, code="token_revoked")
        return api_token.user
