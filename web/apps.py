from django.apps import AppConfig


class WebConfig(AppConfig):
    """The people's side: server-rendered pages for traders, owners and operators."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "web"
