from django.apps import AppConfig


class ApiAuthConfig(AppConfig):
    name = "apiauth"
    verbose_name = "API authentication"

    def ready(self) -> None:
        from apiauth import schema  # noqa: F401  (registers the OpenAPI scheme for our tokens)
