"""A self-contained API reference page at /api/docs/, rendered on the server from the OpenAPI schema.

No JavaScript or CDN assets: the page lists every operation with its parameters, request body and
answers, and links the machine-readable schema (/api/schema/) for tools such as Swagger UI or
schemathesis. (drf-spectacular-sidecar would serve Swagger UI locally; it is not installed.)
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template import Context, Engine
from django.urls import reverse
from django.views import View
from drf_spectacular.generators import SchemaGenerator

METHODS = ("get", "post", "put", "patch", "delete")

_ENGINE = Engine(autoescape=True)
_TEMPLATE = _ENGINE.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} {{ version }}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;color:#1b1f24}
h2{border-bottom:1px solid #ccd;margin-top:2rem}
.op{border:1px solid #dde;border-radius:6px;margin:.8rem 0;padding:.5rem .8rem}
.m{display:inline-block;min-width:4.2rem;font-weight:700;text-transform:uppercase}
.get{color:#0a6}.post{color:#06c}.patch{color:#b70}.put{color:#b70}.delete{color:#c22}
code{background:#f3f4f6;padding:0 .25rem;border-radius:3px;word-break:break-all}
table{border-collapse:collapse;width:100%;font-size:14px}td,th{text-align:left;padding:.15rem .4rem;border-top:1px solid #eee;vertical-align:top}
</style></head><body>
<h1>{{ title }} <small>{{ version }}</small></h1>
<p>Machine-readable schema: <a href="{{ schema_url }}">{{ schema_url }}</a> (OpenAPI 3).
Authenticate with the browser session or <code>Authorization: Bearer &lt;access&gt;</code>
(POST username and password to <code>/api/v1/auth/token/</code> for an access token of a few
minutes and a refresh token; POST the refresh token to <code>/api/v1/auth/token/refresh/</code> for
a new pair; revoke at <code>/api/v1/auth/tokens/</code>); choose a tenant with the
<code>X-Tenant</code> header.</p>
{% for tag in tags %}<h2 id="{{ tag.name }}">{{ tag.name }}</h2>
{% for op in tag.operations %}<div class="op"><span class="m {{ op.method }}">{{ op.method }}</span>
<code>{{ op.path }}</code>{% if op.summary %} &mdash; {{ op.summary }}{% endif %}
{% if op.description %}<p>{{ op.description }}</p>{% endif %}
{% if op.parameters %}<table><tr><th>parameter</th><th>in</th><th>type</th><th>about</th></tr>
{% for p in op.parameters %}<tr><td><code>{{ p.name }}</code>{% if p.required %} *{% endif %}</td><td>{{ p.in }}</td><td>{{ p.type }}</td><td>{{ p.description }}</td></tr>{% endfor %}</table>{% endif %}
{% if op.body %}<p>Body: <code>{{ op.body }}</code></p>{% endif %}
<p>Answers: {% for code in op.responses %}<code>{{ code }}</code> {% endfor %}</p></div>
{% endfor %}{% endfor %}
</body></html>"""
)


def _type_of(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return f"array of {_type_of(schema.get('items', {}))}"
    return schema.get("format") or schema.get("type") or "object"


def _operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    tags: dict[str, list[dict[str, Any]]] = {}
    for path, item in schema.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            tags.setdefault((operation.get("tags") or ["other"])[0], []).append(
                {
                    "method": method,
                    "path": path,
                    "summary": operation.get("summary", ""),
                    "description": operation.get("description", ""),
                    "parameters": [
                        {**p, "type": _type_of(p.get("schema", {}))}
                        for p in operation.get("parameters", [])
                    ],
                    "body": _type_of(body["schema"]) if body.get("schema") else "",
                    "responses": sorted(operation.get("responses", {})),
                }
            )
    return [{"name": name, "operations": ops} for name, ops in sorted(tags.items())]


class ApiDocsView(View):
    """Public like the schema itself: it describes endpoints, never data."""

    def get(self, request: HttpRequest) -> HttpResponse:
        schema = SchemaGenerator().get_schema(request=None, public=True)
        info = schema.get("info", {})
        context = Context(
            {
                "title": info.get("title", "API"),
                "version": info.get("version", ""),
                "schema_url": reverse("api:schema"),
                "tags": _operations(schema),
            }
        )
        return HttpResponse(_TEMPLATE.render(context))
