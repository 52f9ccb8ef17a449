"""OpenAPI: document AccessTokenAuthentication as the bearer JWT scheme simplejwt's own class has."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class AccessTokenScheme(SimpleJWTScheme):
    target_class = "apiauth.authentication.AccessTokenAuthentication"
    name = "jwtAuth"
