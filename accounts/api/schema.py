"""OpenAPI generation tweaks shared by every API view: the X-Tenant header and the error answers.

Documenting 401/403/404/429 everywhere keeps the schema honest (schemathesis checks that each answer
the server gives is one the schema lists).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

ERROR_BODY = {
    "application/json": {
        "schema": {
            "type": "object",
            "additionalProperties": True,
            "description": 'Either {"detail": message} or {field: [messages]}.',
        }
    }
}
ERRORS = {
    "400": "Invalid input: messages per field.",
    "401": "Not signed in (session) or no valid token (`Authorization: Bearer <access>`).",
    "403": "Signed in, but the role in this tenant does not allow it.",
    "404": "No such object in this tenant (or no such tenant for X-Tenant).",
    "415": "The request body's content type is not one this endpoint reads (send JSON).",
    "429": "Too many requests; retry after the `Retry-After` seconds.",
}

TENANT_PARAMETER = OpenApiParameter(
    name="X-Tenant",
    type=OpenApiTypes.UUID,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Public id of the tenant to act in (see /api/v1/me/). Default: the dashboard's "
    "current tenant, else your first membership.",
)


class ApiAutoSchema(AutoSchema):
    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        if getattr(self.view, "is_tenant_scoped", False):
            parameters.append(TENANT_PARAMETER)
        return parameters

    def get_tags(self) -> list[str]:
        """Group by resource (`/api/v1/<resource>/...`), not by the version prefix."""
        segments = [part for part in self.path.split("/") if part and not part.startswith("{")]
        if len(segments) >= 3 and segments[:2] == ["api", "v1"]:
            return [segments[2] if segments[2] != "analytics" else "analytics"]
        return super().get_tags()

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for code, description in ERRORS.items():
            responses.setdefault(code, {"description": description, "content": ERROR_BODY})
        return responses
