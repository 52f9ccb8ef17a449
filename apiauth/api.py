"""API endpoints for API sign-ins: obtain a token pair, refresh it, list and revoke your own.

`POST auth/token/` exchanges a username and password for a short-lived access token (send it as
`Authorization: Bearer <access>`) and a refresh token; `POST auth/token/refresh/` trades a refresh token
for a new pair (the old refresh token stops working); `auth/tokens/` lists and revokes the caller's
own sign-ins, from a token or the browser session.
"""

from __future__ import annotations

import uuid

from django.contrib.auth import authenticate
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed, NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.base import (
    API_AUTHENTICATION,
    ApiAnonThrottle,
    ApiUserThrottle,
    LoginThrottle,
    LoginUsernameThrottle,
)
from accounts.api.schema import ApiAutoSchema
from apiauth import selectors, services
from apiauth.models import ApiToken
from apiauth.tokens import TokenPair


# --- Shapes ------------------------------------------------------------------------------------------
class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(
        max_length=128, write_only=True, style={"input_type": "password"}
    )
    name = serializers.CharField(
        max_length=120, required=False, default="", help_text="Which script or device."
    )


class RefreshRequestSerializer(serializers.Serializer):
    refresh = serializers.CharField(max_length=4096)


class TokenPairSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True, help_text="The sign-in, as auth/tokens/ lists it.")
    token_type = serializers.CharField(read_only=True)
    access = serializers.CharField(read_only=True)
    access_expires_at = serializers.DateTimeField(read_only=True)
    refresh = serializers.CharField(read_only=True)
    refresh_expires_at = serializers.DateTimeField(read_only=True)


class ApiTokenSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    state = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = ("id", "name", "created_at", "refreshed_at", "expires_at", "revoked_at", "state")
        read_only_fields = fields

    def get_state(self, api_token: ApiToken) -> str:
        return selectors.api_token_state(api_token=api_token)


def _pair_response(pair: TokenPair) -> Response:
    data = {
        "id": pair.sid,
        "token_type": "Bearer",
        "access": pair.access,
        "access_expires_at": pair.access_expires_at,
        "refresh": pair.refresh,
        "refresh_expires_at": pair.refresh_expires_at,
    }
    return Response(TokenPairSerializer(data).data)


# --- Views -------------------------------------------------------------------------------------------
class ObtainTokenView(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = (LoginThrottle, LoginUsernameThrottle)
    schema = ApiAutoSchema()

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: TokenPairSerializer, 400: OpenApiResponse(description="Bad credentials.")},
        tags=["auth"],
        summary="Sign in: a short-lived access token and a refresh token",
    )
    def post(self, request: Request) -> Response:
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = authenticate(request._request, username=data["username"], password=data["password"])
        if user is None or not user.is_active:
            # The same answer for an unknown user and a wrong password.
            raise ValidationError(
                {"non_field_errors": ["Unable to sign in with these credentials."]}
            )
        _, pair = services.api_token_issue(user=user, name=data["name"])
        return _pair_response(pair)


class RefreshTokenView(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = (ApiAnonThrottle,)
    schema = ApiAutoSchema()

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'  # a refused refresh token is a 401, not a 403

    @extend_schema(
        request=RefreshRequestSerializer,
        responses={200: TokenPairSerializer},
        tags=["auth"],
        summary="A new token pair for a refresh token, which stops working",
    )
    def post(self, request: Request) -> Response:
        serializer = RefreshRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            pair = services.api_token_refresh(raw_refresh=serializer.validated_data["refresh"])
        except services.TokenRefused as exc:
            raise AuthenticationFailed(str(exc), code="token_refused") from None
        return _pair_response(pair)


class ApiTokenListView(APIView):
    """The caller's own sign-ins, newest first (any state)."""

    authentication_classes = API_AUTHENTICATION
    throttle_classes = (ApiUserThrottle, ApiAnonThrottle)
    schema = ApiAutoSchema()

    @extend_schema(responses=ApiTokenSerializer(many=True), tags=["auth"])
    def get(self, request: Request) -> Response:
        api_tokens = selectors.api_token_list_for_user(user=request.user)
        return Response(ApiTokenSerializer(api_tokens, many=True).data)


class ApiTokenRevokeView(APIView):
    """Revoke one of the caller's sign-ins: its refresh and access tokens stop working at once."""

    authentication_classes = API_AUTHENTICATION
    throttle_classes = (ApiUserThrottle, ApiAnonThrottle)
    schema = ApiAutoSchema()

    @extend_schema(
        parameters=[OpenApiParameter("public_id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses={204: None},
        tags=["auth"],
    )
    def delete(self, request: Request, public_id: str) -> Response:
        try:
            revoked = services.api_token_revoke(user=request.user, public_id=uuid.UUID(public_id))
        except ValueError:
            revoked = False
        if not revoked:
            raise NotFound("No such live token.")  # another user's looks the same as none
        return Response(status=status.HTTP_204_NO_CONTENT)
