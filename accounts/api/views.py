"""Accounts endpoints: the user, trading accounts (flatten, lock, risk), logins, members, audit.

Every view below either derives from TenantScopedViewSet (tenant, roles, scoping) or touches only the
signed-in user's own rows. Writes call accounts/execution services, which audit them.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import invitations, paper, selectors, services
from accounts.api import serializers as s
from accounts.api.base import (
    API_AUTHENTICATION,
    ApiAnonThrottle,
    ApiUserThrottle,
    TenantCreateMixin,
    TenantRequired,
    TenantScopedViewSet,
    resolve_membership,
)
from accounts.api.schema import ApiAutoSchema
from accounts.links import invitation_link_for
from accounts.models import Invitation, Membership, Role, Tenant, TradingAccount
from execution import selectors as execution_selectors
from execution import services as execution_services
from execution.api.serializers import AccountDaySerializer, AccountRulesSerializer
from markets.sessions import trading_date


# --- The user ------------------------------------------------------------------------------------
class MeView(APIView):
    """Who is signed in, their tenants and roles, and which tenant requests default to."""

    authentication_classes = API_AUTHENTICATION
    throttle_classes = (ApiUserThrottle, ApiAnonThrottle)
    schema = ApiAutoSchema()
    is_tenant_scoped = True  # honours X-Tenant for `current_tenant`

    @extend_schema(responses=s.MeSerializer, tags=["auth"])
    def get(self, request: Request) -> Response:
        memberships = list(selectors.membership_list_for_user(user=request.user))
        try:
            current = resolve_membership(request).tenant.public_id if memberships else None
        except TenantRequired:
            current = None  # several tenants and none named: requests must send X-Tenant
        data = {
            "username": request.user.get_username(),
            "email": request.user.email,
            "email_verified": invitations.verified_email_of(user=request.user) is not None,
            "current_tenant": current,
            "memberships": memberships,
        }
        return Response(s.MeSerializer(data).data)


# --- Trading accounts ----------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(summary="Trading accounts of the tenant, with their risk profiles"),
    retrieve=extend_schema(summary="One trading account"),
)
class TradingAccountViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantCreateMixin, TenantScopedViewSet
):
    serializer_class = s.TradingAccountSerializer
    input_serializer_class = s.TradingAccountCreateSerializer
    # Creating an account binds a broker login; risk limits guard the funded account: owners only.
    write_roles = {
        "create": Role.OWNER,
        "paper": Role.OWNER,
        "risk_profile": Role.OWNER,
        "copier": Role.OWNER,
    }

    def scoped_queryset(self, *, tenant: Tenant) -> QuerySet[TradingAccount]:
        return selectors.trading_account_list(tenant=tenant)

    @extend_schema(
        request=s.TradingAccountCreateSerializer, responses={201: s.TradingAccountSerializer}
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)

    def create_object(self, *, tenant: Tenant, actor: Any, data: dict[str, Any]) -> TradingAccount:
        account = services.trading_account_create(tenant=tenant, actor=actor, **data)
        return selectors.trading_account_get(tenant=tenant, account_id=account.pk)

    @extend_schema(
        request=None,
        responses={
            201: s.TradingAccountSerializer,
            503: s.UnavailableSerializer,  # the simulator did not answer: nothing was stored
        },
        summary="A new paper account on the tenant's own simulator login (created on first use)",
    )
    @action(detail=False, methods=["post"])
    def paper(self, request: Request) -> Response:
        try:
            account = services.paper_account_provision(tenant=self.tenant, actor=request.user)
        except paper.SimulatorUnavailable as exc:  # nothing was stored; asking again is safe
            unavailable = status.HTTP_503_SERVICE_UNAVAILABLE
            return Response({"detail": exc.messages[0]}, status=unavailable)
        created = selectors.trading_account_get(tenant=self.tenant, account_id=account.pk)
        return self.respond(created, status_code=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.ReasonSerializer,
        responses={202: s.FlattenAcceptedSerializer},
        summary="Close every position and cancel working orders (queued on the critical queue)",
    )
    @action(detail=True, methods=["post"])
    def flatten(self, request: Request, public_id: str) -> Response:
        account = self.get_object()
        reason = self.validated(s.ReasonSerializer)["reason"]
        execution_services.account_flatten_request(
            tenant=self.tenant, account=account, actor=request.user, reason=reason
        )
        return Response({"status": "flatten requested"}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=None,
        responses={200: AccountRulesSerializer},
        summary="Which account rules apply (firm and personal daily loss limits, MLL mode, micro "
        "counting, today's size allowance) and the consistency target now",
    )
    @action(detail=True, methods=["get"])
    def rules(self, request: Request, public_id: str) -> Response:
        account = self.get_object()
        found = execution_selectors.account_rules(
            account=account, session_date=trading_date(timezone.now())
        )
        return Response(AccountRulesSerializer(found).data)

    @extend_schema(
        request=s.LockSerializer,
        responses={200: AccountDaySerializer},
        summary="Kill switch: no new orders for the rest of the trading day, then flatten",
    )
    @action(detail=True, methods=["post"])
    def lock(self, request: Request, public_id: str) -> Response:
        account = self.get_object()
        reason = self.validated(s.LockSerializer)["reason"]
        day = execution_services.account_lock_for_day(
            tenant=self.tenant, account=account, actor=request.user, reason=reason
        )
        return Response(AccountDaySerializer(day).data)

    @extend_schema(
        request=s.CopierSerializer,
        responses={200: s.TradingAccountSerializer},
        summary="Copier desk: copy a lead account's strategy orders (null: stop copying)",
    )
    @action(detail=True, methods=["post"])
    def copier(self, request: Request, public_id: str) -> Response:
        follower = self.get_object()
        lead = self.validated(s.CopierSerializer)["lead"]
        services.copier_follow(tenant=self.tenant, actor=request.user, follower=follower, lead=lead)
        return self.respond(
            selectors.trading_account_get(tenant=self.tenant, account_id=follower.pk)
        )

    @extend_schema(methods=["GET"], request=None, responses=s.RiskProfileSerializer)
    @extend_schema(
        methods=["PATCH"], request=s.RiskProfileSerializer, responses=s.RiskProfileSerializer
    )
    @action(detail=True, methods=["get", "patch"], url_path="risk-profile")
    def risk_profile(self, request: Request, public_id: str) -> Response:
        account = self.get_object()
        profile = getattr(
            account, "risk_profile", None
        )  # None if the reverse one-to-one is missing
        if profile is None:
            raise NotFound("This account has no risk profile.")
        if request.method == "PATCH":
            changes = self.validated(s.RiskProfileSerializer, partial=True)
            profile = services.risk_profile_update(
                tenant=self.tenant, profile=profile, actor=request.user, **changes
            )
        return Response(s.RiskProfileSerializer(profile).data)


# --- Broker connections (owners only: they hold the API keys) -------------------------------------
class BrokerConnectionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantCreateMixin, TenantScopedViewSet
):
    serializer_class = s.BrokerConnectionSerializer
    input_serializer_class = s.BrokerConnectionCreateSerializer
    read_role = Role.OWNER
    write_role = Role.OWNER

    def scoped_queryset(self, *, tenant: Tenant) -> QuerySet:
        return selectors.broker_connection_list(tenant=tenant)

    @extend_schema(
        request=s.BrokerConnectionCreateSerializer, responses={201: s.BrokerConnectionSerializer}
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)

    def create_object(self, *, tenant: Tenant, actor: Any, data: dict[str, Any]) -> Any:
        return services.broker_connection_create(tenant=tenant, actor=actor, **data)

    @extend_schema(
        request=s.ApiKeySerializer,
        responses={200: s.BrokerConnectionSerializer},
        summary="Replace the API key (write-only; it is never returned)",
    )
    @action(detail=True, methods=["post"], url_path="api-key")
    def api_key(self, request: Request, public_id: str) -> Response:
        connection = self.get_object()
        api_key = self.validated(s.ApiKeySerializer)["api_key"]
        connection = services.broker_connection_set_api_key(
            tenant=self.tenant, connection=connection, api_key=api_key, actor=request.user
        )
        return self.respond(connection)


# --- Members (owners only) -------------------------------------------------------------------------
class MemberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Members of the tenant, looked up by username (memberships have no public id of their own).
    Nobody is added here: people join by accepting an invitation (`invitations/`)."""

    serializer_class = s.MemberSerializer
    lookup_field = "user__username"
    lookup_url_kwarg = "username"
    lookup_value_regex = r"[\w.@+-]+"
    read_role = Role.OWNER
    write_role = Role.OWNER

    def scoped_queryset(self, *, tenant: Tenant) -> QuerySet[Membership]:
        return selectors.membership_list(tenant=tenant)

    @extend_schema(request=s.MemberUpdateSerializer, responses=s.MemberSerializer)
    def partial_update(self, request: Request, username: str) -> Response:
        membership = self.get_object()
        role = self.validated(s.MemberUpdateSerializer)["role"]
        membership = services.membership_set_role(
            tenant=self.tenant, membership=membership, role=role, actor=request.user
        )
        return self.respond(membership)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, username: str) -> Response:
        membership = self.get_object()
        services.membership_remove(tenant=self.tenant, membership=membership, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Invitations (owners send and revoke; the recipient accepts) -----------------------------------
class InvitationViewSet(
    mixins.ListModelMixin, mixins.DestroyModelMixin, TenantCreateMixin, TenantScopedViewSet
):
    """Pending invitations of the tenant. Creating one emails its link to the address; deleting one
    revokes it. The recipient accepts through `invitations/accept/` or the web page."""

    serializer_class = s.InvitationSerializer
    input_serializer_class = s.InvitationCreateSerializer
    read_role = Role.OWNER
    write_role = Role.OWNER

    def scoped_queryset(self, *, tenant: Tenant) -> QuerySet[Invitation]:
        return selectors.invitation_list_pending(tenant=tenant)

    @extend_schema(request=s.InvitationCreateSerializer, responses={201: s.InvitationSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)

    def create_object(self, *, tenant: Tenant, actor: Any, data: dict[str, Any]) -> Invitation:
        return invitations.invitation_create(
            tenant=tenant, actor=actor, link_for=invitation_link_for(self.request), **data
        )

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, public_id: str) -> Response:
        invitations.invitation_revoke(
            tenant=self.tenant, invitation=self.get_object(), actor=request.user
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationAcceptView(APIView):
    """The signed-in recipient accepts (or declines) an invitation with the token from its link.
    Their login's email must be the invited address."""

    authentication_classes = API_AUTHENTICATION
    throttle_classes = (ApiUserThrottle, ApiAnonThrottle)
    schema = ApiAutoSchema()

    @extend_schema(
        request=s.InvitationAcceptSerializer,
        responses={200: s.MembershipOfUserSerializer, 204: None, 400: OpenApiResponse()},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        data = s.InvitationAcceptSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token = data.validated_data["token"]
        try:
            if data.validated_data["decline"]:
                invitations.invitation_decline(token=token, user=request.user)
                return Response(status=status.HTTP_204_NO_CONTENT)
            membership = invitations.invitation_accept(token=token, user=request.user)
        except invitations.InvalidInvitation as exc:
            raise ValidationError({"token": [str(exc)]}) from exc
        return Response(s.MembershipOfUserSerializer(membership).data)


# --- Audit log (owners only, read-only) -------------------------------------------------------------
@extend_schema_view(list=extend_schema(parameters=[s.AuditFilterSerializer]))
class AuditEntryViewSet(mixins.ListModelMixin, TenantScopedViewSet):
    serializer_class = s.AuditEntrySerializer
    filter_serializer_class = s.AuditFilterSerializer
    read_role = Role.OWNER

    def scoped_queryset(self, *, tenant: Tenant) -> QuerySet:
        return selectors.audit_entry_list_filtered(tenant=tenant, **self.list_filters())
