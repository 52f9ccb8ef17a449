"""Absolute links put in emails, built from the request that sends them (its scheme and host).

The pages they open are the web UI's (web/urls.py: `invitation_open`, `email_verify`); the API sends
the same links, so a recipient always lands on a page whatever the owner used.
"""

from collections.abc import Callable

from django.http import HttpRequest
from django.urls import reverse


def invitation_link_for(request: HttpRequest) -> Callable[[str], str]:
    return lambda token: request.build_absolute_uri(reverse("invitation_open", args=[token]))


def verify_link_for(request: HttpRequest) -> Callable[[str], str]:
    return lambda token: request.build_absolute_uri(reverse("email_verify", args=[token]))
