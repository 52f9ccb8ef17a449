"""The one base for every tenant-scoped API view: tenant resolution, roles, scoping, errors, throttles.

Invariants (tests: */tests/test_api_isolation.py):
- The tenant comes from the authenticated user's memberships, chosen by the `X-Tenant` header (a
  tenant's public_id) or else the dashboard's session choice or else the user's only membership (a
  member of several tenants must name one: 400); never from a request body. A tenant the user is
  not a member of answers 404, like a missing one.
- `get_queryset` belongs to this class: subclasses implement `scoped_queryset(tenant=...)`, which calls
  a selector, and `__init_subclass__` refuses a subclass that overrides `get_queryset` or sets a
  class-level `queryset` (PostHog's TeamAndOrgViewSetMixin does the same). Objects are looked up by
  public UUID inside that scope, so another tenant's object is simply "not found".
- Writes go through services (which audit); views never save models themselves.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import QuerySet
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle
from rest_framework.viewsets import GenericViewSet

from accounts import selectors
from accounts.api.schema import ApiAutoSchema
from accounts.models import Membership, Role, Tenant
from accounts.tenancy import TenantScopeError
from apiauth.authentication import AccessTokenAuthentication

TENANT_HEADER = "X-Tenant"
UUID_PATTERN = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"

# Higher rank = more rights. A viewer reads; a trader also trades and edits strategies; an owner also
# manages members, broker logins, risk limits and reads the audit log.
ROLE_RANK = {Role.VIEWER: 0, Role.TRADER: 1, Role.OWNER: 2}


def role_allows(role: str, required: str) -> bool:
    return ROLE_RANK.get(Role(role), -1) >= ROLE_RANK[Role(required)]


# --- Throttles and pagination ----------------------------------------------------------------------
# Rates live here, not in settings, so the API layer is self-contained; see the report for proposed
# DEFAULT_THROTTLE_RATES if they should become configurable. The counters use the default cache (Redis).
class ApiUserThrottle(UserRateThrottle):
    """Per signed-in user: a dashboard polls a few endpoints a second; scripts stay well below."""

    rate = "1200/min"


class ApiAnonThrottle(AnonRateThrottle):
    """Per client IP, unauthenticated requests (they can only reach the token and schema views)."""

    rate = "60/min"


class LoginThrottle(AnonRateThrottle):
    """Password guesses against the token endpoint, per client IP.

    Behind a reverse proxy every client shares the proxy's address unless REST_FRAMEWORK's
    NUM_PROXIES is set, so this rate is a ceiling for the whole site there; the per-username
    throttle below is what protects one account.
    """

    scope = "login"
    rate = "30/min"


class LoginUsernameThrottle(SimpleRateThrottle):
    """Password guesses against one username, from anywhere."""

    scope = "login_username"
    rate = "10/min"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        data = request.data if isinstance(request.data, dict) else {}
        username = data.get("username")
        if not isinstance(username, str) or not username:
            return None  # the serializer refuses the request anyway
        # Hash: usernames are free text, cache keys are not.
        ident = hashlib.sha256(username.strip().lower().encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


# Bearer first: its `WWW-Authenticate: Bearer` header makes a missing login answer 401 (with session
# first, DRF answers 403, which scripts cannot tell from a role refusal). Sessions still work.
API_AUTHENTICATION = (AccessTokenAuthentication, SessionAuthentication)


class ApiPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


# --- Errors from services ----------------------------------------------------------------------
def _api_error(exc: Exception) -> exceptions.APIException | None:
    """Domain errors raised by services, as the API answers them (None: not ours, let DRF decide)."""
    if isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        return exceptions.ValidationError(detail)
    if isinstance(exc, (PermissionError, TenantScopeError)):
        # A service found a row of another tenant: answer like a missing row, never "forbidden".
        return exceptions.NotFound()
    if isinstance(exc, IntegrityError):
        # A uniqueness race the serializer's own check could not see; nothing was written.
        return Conflict()
    return None


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This conflicts with an existing record."
    default_code = "conflict"


# --- Tenant resolution -----------------------------------------------------------------------------
def resolve_membership(request: Request) -> Membership:
    """The membership this request acts under; see the module docstring for the order of choice."""
    wanted = request.headers.get(TENANT_HEADER)
    if wanted:
        try:
            tenant_public_id = uuid.UUID(wanted.strip())
        except ValueError:
            raise exceptions.NotFound("No such tenant.") from None
        membership = selectors.membership_get_by_tenant_public_id(
            user=request.user, tenant_public_id=tenant_public_id
        )
        if membership is None:
            raise exceptions.NotFound("No such tenant.")
        return membership
    # The dashboard's choice, already resolved by accounts.middleware for session logins (no query).
    session_membership = getattr(request._request, "membership", None)
    if session_membership is not None and session_membership.user_id == request.user.pk:
        return session_membership
    memberships = list(selectors.membership_list_for_user(user=request.user)[:2])
    if not memberships:
        raise exceptions.PermissionDenied("You are not a member of any tenant.")
    if len(memberships) > 1:
        # Never guess: which desk a script acts on must not change when its user joins another.
        raise TenantRequired()
    return memberships[0]


class TenantRequired(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = (
        f"You are a member of several tenants: name one with the {TENANT_HEADER} header "
        "(its id is listed by /api/v1/me/)."
    )
    default_code = "tenant_required"


class TenantScopedViewSet(GenericViewSet):
    """Base of every tenant-owned endpoint. Subclasses implement `scoped_queryset`."""

    authentication_classes = API_AUTHENTICATION
    is_tenant_scoped = True  # read by accounts.api.schema to document the X-Tenant header
    schema = ApiAutoSchema()
    lookup_field = "public_id"
    lookup_value_regex = UUID_PATTERN
    pagination_class = ApiPagination
    throttle_classes = (ApiUserThrottle, ApiAnonThrottle)

    read_role: ClassVar[str] = Role.VIEWER
    write_role: ClassVar[str] = Role.TRADER
    # Per action (e.g. {"create": Role.OWNER}); applies to unsafe methods only.
    write_roles: ClassVar[dict[str, str]] = {}
    # Query-parameter filters for `list`, validated before the selector sees them (400 per field).
    filter_serializer_class: ClassVar[type[serializers.Serializer] | None] = None

    # The model behind the lookup, for schema generation when the output serializer has no Meta.
    schema_model: ClassVar[type | None] = None

    tenant: Tenant
    membership: Membership

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("get_queryset", "check_permissions", "initial"):
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__} overrides {name}(); implement scoped_queryset(tenant=...) "
                    "instead, so every query stays inside the request's tenant"
                )
        if cls.__dict__.get("queryset") is not None:
            raise TypeError(f"{cls.__name__} sets a class-level queryset, which is unscoped")

    # -- scoping -----------------------------------------------------------------------------------
    def scoped_queryset(self, *, tenant: Tenant) -> QuerySet:
        raise NotImplementedError(f"{type(self).__name__} must implement scoped_queryset()")

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular introspection: no request
            model = self.schema_model or self.get_serializer_class().Meta.model
            return model._default_manager.none()
        if getattr(self, "tenant", None) is None:
            raise TenantScopeError("no tenant resolved for this request")
        return self.scoped_queryset(tenant=self.tenant)

    def list_filters(self) -> dict[str, Any]:
        """Validated query-parameter filters for `list` (empty for other actions)."""
        if self.action != "list" or self.filter_serializer_class is None:
            return {}
        serializer = self.filter_serializer_class(data=self.request.query_params)
        serializer.is_valid(raise_exception=True)
        return {k: v for k, v in serializer.validated_data.items() if v not in (None, "", [])}

    # -- authentication happened; now tenant and role ----------------------------------------------
    def check_permissions(self, request: Request) -> None:
        # IsAuthenticated first: an anonymous request gets 401 before any tenant lookup.
        super().check_permissions(request)
        self.membership = resolve_membership(request)
        self.tenant = self.membership.tenant
        request.tenant, request.membership = self.tenant, self.membership  # type: ignore[attr-defined]
        required = self.required_role(request)
        if not role_allows(self.membership.role, required):
            self.permission_denied(
                request, message=f"This needs the {Role(required).label.lower()} role."
            )

    def required_role(self, request: Request) -> str:
        if request.method in SAFE_METHODS:
            return self.read_role
        return self.write_roles.get(self.action or "", self.write_role)

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        context["tenant"] = getattr(self, "tenant", None)
        return context

    def handle_exception(self, exc: Exception) -> Response:
        return super().handle_exception(_api_error(exc) or exc)

    # -- writes --------------------------------------------------------------------------------------
    def validated(self, serializer_class: type[serializers.Serializer], **kwargs: Any) -> dict:
        """Validate the body with `serializer_class` (tenant in context); 400 with per-field errors."""
        serializer = serializer_class(
            data=self.request.data, context=self.get_serializer_context(), **kwargs
        )
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def respond(self, instance: Any, *, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(instance).data, status=status_code)

    def perform_create(self, data: dict[str, Any]) -> Any:
        """The tenant and actor come from the request, never the body; a service does the write."""
        return self.create_object(tenant=self.tenant, actor=self.request.user, data=data)

    def create_object(self, *, tenant: Tenant, actor: Any, data: dict[str, Any]) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not create objects")


class TenantCreateMixin:
    """`POST` on the list route: validate with `input_serializer_class`, create through a service.

    Separate from the base so read-only endpoints have no create route at all.
    """

    input_serializer_class: ClassVar[type[serializers.Serializer]]

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.validated(self.input_serializer_class)
        instance = self.perform_create(data)
        return self.respond(instance, status_code=status.HTTP_201_CREATED)
