from django.apps import AppConfig


class ChatopsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chatops"
    verbose_name = "Discord control (chatops)"
