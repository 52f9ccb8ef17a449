"""Helpers for tests that call the API as a script does: with a real, freshly issued access token."""

from typing import Any

from apiauth.services import api_token_issue


def bearer_for(user: Any) -> str:
    """An `Authorization` header value for a new sign-in of `user`."""
    _, pair = api_token_issue(user=user, name="tests")
    return f"Bearer {pair.access}"
