from django.urls import path

from chatops import views

urlpatterns = [
    # No trailing slash: Discord posts to the exact URL saved in the developer portal.
    path("discord/interactions", views.interactions, name="discord_interactions"),
    path("settings/discord/code/", views.link_code_create, name="discord_link_code"),
    path("settings/discord/unlink/", views.link_remove, name="discord_unlink"),
]
