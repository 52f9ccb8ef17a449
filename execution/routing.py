from django.urls import path

from execution.consumers import AccountConsumer

websocket_urlpatterns = [
    path("ws/accounts/<int:account_id>/", AccountConsumer.as_asgi()),
]
