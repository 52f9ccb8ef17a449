"""Serializer fields that keep related-object choices inside the request's tenant.

`PrimaryKeyRelatedField(queryset=Model.all_tenants.all())` is the quiet leak: it accepts another
tenant's row (and its error messages confirm which ids exist). `TenantRelatedField` takes a selector
instead of a queryset, calls it with the tenant from the serializer context, and refuses to run
without one (fail closed). Objects are named by their public UUID; unknown and foreign look the same.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.db.models import Model, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.tenancy import TenantScopeError


@extend_schema_field(OpenApiTypes.UUID)
class TenantRelatedField(serializers.RelatedField):
    default_error_messages = {
        "does_not_exist": "No such object.",
        "invalid": "Must be a UUID.",
    }

    def __init__(self, *, selector: Callable[..., QuerySet], **kwargs: Any) -> None:
        self.selector = selector
        kwargs.setdefault("queryset", None)  # RelatedField insists on one of queryset/read_only
        if kwargs.get("read_only"):
            kwargs.pop("queryset")
        super().__init__(**kwargs)

    def get_queryset(self) -> QuerySet:
        tenant = self.context.get("tenant")
        if tenant is None:
            raise TenantScopeError(f"{self.field_name}: no tenant in the serializer context")
        return self.selector(tenant=tenant)

    def to_internal_value(self, data: Any) -> Model:
        try:
            public_id = uuid.UUID(str(data))
        except (TypeError, ValueError, AttributeError):
            self.fail("invalid")
        instance = self.get_queryset().filter(public_id=public_id).first()
        if instance is None:
            self.fail("does_not_exist")
        return instance

    def to_representation(self, value: Model) -> str:
        return str(value.public_id)


class ReferenceSlugField(serializers.SlugRelatedField):
    """A slug naming shared reference data (plans, instruments); refuses text PostgreSQL cannot hold.

    DRF's SlugRelatedField sends any string to the database, and a NUL byte there raises a
    DataError (a 500) instead of a field error.
    """

    default_error_messages = {"invalid": "Must be a plain string."}

    def to_internal_value(self, data: Any) -> Model:
        if not isinstance(data, str) or "\x00" in data:
            self.fail("invalid")
        return super().to_internal_value(data)
