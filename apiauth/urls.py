"""The API tokens page, included under /account/api-tokens/."""

from django.urls import path

from apiauth import views

urlpatterns = [
    path("", views.api_token_list, name="api_tokens"),
    path("<uuid:public_id>/revoke/", views.api_token_revoke, name="api_token_revoke"),
    path("revoke-all/", views.api_token_revoke_all, name="api_token_revoke_all"),
]
