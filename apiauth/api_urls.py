"""API sign-in routes, included under /api/v1/auth/."""

from django.urls import path

from apiauth import api

urlpatterns = [
    path("token/", api.ObtainTokenView.as_view(), name="token"),
    path("token/refresh/", api.RefreshTokenView.as_view(), name="token_refresh"),
    path("tokens/", api.ApiTokenListView.as_view(), name="api_token_list"),
    # Any segment: a malformed id is the API's own JSON 404, not the site's HTML one.
    path("tokens/<str:public_id>/", api.ApiTokenRevokeView.as_view(), name="api_token_revoke"),
]
