"""Login throttling on the web and admin login pages: per username and per client address, the same
answer (and the same password work) for an unknown user and a wrong password, and an
X-Forwarded-For header that only counts when a proxy is declared."""

import itertools
import re
import uuid

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import RequestFactory, override_settings
from django.urls import reverse
from django.utils.html import escape

from accounts.login_throttle import THROTTLED_MESSAGE, client_address
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests"  # UserFactory's
WRONG_LOGIN = "Your username and password didn't match. Please try again."
LIMITS = {"LOGIN_FAILURES_PER_USERNAME": 3, "LOGIN_FAILURES_PER_ADDRESS": 6}
_addresses = (f"198.51.100.{n}" for n in itertools.count(1))


@pytest.fixture(autouse=True)
def _own_counters(settings):
    """Each test counts its own failures (the counters live in Redis across tests)."""
    settings.LOGIN_THROTTLE_KEY_PREFIX = f"login-fail-test-{uuid.uuid4().hex}"


@pytest.fixture
def address():
    """A client address of the test's own: counters of other tests never reach it."""
    return next(_addresses)


@pytest.fixture(params=["login", "admin:login"])
def login_url(request):
    return reverse(request.param)


def log_in(client, url, username, password, address, **headers):
    return client.post(
        url, {"username": username, "password": password}, REMOTE_ADDR=address, **headers
    )


def is_logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_an_unknown_user_and_a_wrong_password_get_the_same_answer(client, address):
    UserFactory(username="erin")
    wrong = log_in(client, reverse("login"), "erin", "not-it", address)
    unknown = log_in(client, reverse("login"), "nobody-here", "not-it", address)
    assert wrong.status_code == unknown.status_code == 200
    assert escape(WRONG_LOGIN) in wrong.content.decode()
    assert page_text(wrong).replace("erin", "nobody-here") == page_text(unknown)


def page_text(response) -> str:
    """The page without its CSRF token (masked afresh on every response)."""
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", response.content.decode())


class CountingHasher(MD5PasswordHasher):
    calls = 0

    def encode(self, password, salt):
        CountingHasher.calls += 1
        return super().encode(password, salt)


@override_settings(PASSWORD_HASHERS=[f"{__name__}.CountingHasher"])
def test_an_unknown_user_costs_the_same_password_work_as_a_wrong_password(client, address):
    """No timing tell: the unknown user's password is hashed once too (Django's ModelBackend)."""
    UserFactory(username="erin")
    work = {}
    for username in ("erin", "nobody-here"):
        CountingHasher.calls = 0
        log_in(client, reverse("login"), username, "not-it", address)
        work[username] = CountingHasher.calls
    assert work == {"erin": 1, "nobody-here": 1}


@override_settings(**LIMITS)
@pytest.mark.parametrize("username", ["erin", "nobody-here"])
def test_failures_on_one_username_from_anywhere_throttle_it_even_with_the_right_password(
    client, login_url, username
):
    UserFactory(username="erin", is_staff=True)
    for _ in range(3):
        log_in(client, login_url, username, "guess", next(_addresses))
    response = log_in(client, login_url, username, PASSWORD, next(_addresses))
    assert escape(THROTTLED_MESSAGE) in response.content.decode()
    assert not is_logged_in(client)
    assert response.status_code == (429 if login_url == reverse("login") else 200)
    other = UserFactory(username="frank", is_staff=True)
    log_in(client, login_url, other.username, PASSWORD, next(_addresses))
    assert is_logged_in(client)  # another username is not affected


@override_settings(**LIMITS)
def test_a_spray_from_one_address_throttles_that_address_only(client, login_url, address):
    UserFactory(username="erin", is_staff=True)
    for n in range(6):
        log_in(client, login_url, f"user-{n}", "guess", address)
    throttled = log_in(client, login_url, "erin", PASSWORD, address)
    assert escape(THROTTLED_MESSAGE) in throttled.content.decode()
    assert not is_logged_in(client)
    log_in(client, login_url, "erin", PASSWORD, next(_addresses))
    assert is_logged_in(client)


@override_settings(**LIMITS)
def test_a_forged_forwarded_for_header_does_not_escape_the_address_throttle(client, address):
    UserFactory(username="erin")
    for n in range(6):
        headers = {"HTTP_X_FORWARDED_FOR": f"203.0.113.{n}"}
        log_in(client, reverse("login"), f"user-{n}", "guess", address, **headers)
    response = log_in(
        client, reverse("login"), "erin", PASSWORD, address, HTTP_X_FORWARDED_FOR="203.0.113.99"
    )
    assert response.status_code == 429
    assert not is_logged_in(client)


@override_settings(**LIMITS)
def test_a_successful_login_clears_the_usernames_failures(client, address):
    UserFactory(username="erin")
    url = reverse("login")
    for _ in range(2):
        log_in(client, url, "erin", "guess", next(_addresses))
    log_in(client, url, "erin", PASSWORD, address)
    client.logout()
    for _ in range(2):
        log_in(client, url, "erin", "guess", next(_addresses))
    log_in(client, url, "erin", PASSWORD, address)
    assert is_logged_in(client)


@override_settings(**LIMITS, LOGIN_FAILURE_WINDOW_SECONDS=1)
def test_the_throttle_lifts_after_its_window(client, address):
    import time

    UserFactory(username="erin")
    for _ in range(3):
        log_in(client, reverse("login"), "erin", "guess", address)
    assert log_in(client, reverse("login"), "erin", PASSWORD, address).status_code == 429
    time.sleep(1.2)  # the counters expire in Redis, whose clock no test can move
    log_in(client, reverse("login"), "erin", PASSWORD, address)
    assert is_logged_in(client)


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "expected"),
    [
        (0, "203.0.113.7", "192.0.2.1"),  # no proxy declared: the header is the client's own words
        (1, "203.0.113.7", "203.0.113.7"),  # what our one proxy saw
        (1, "10.6.6.6, 203.0.113.7", "203.0.113.7"),  # a forged entry lies further left
        (2, "10.6.6.6, 203.0.113.7, 10.0.0.2", "203.0.113.7"),  # two proxies
        (1, None, "192.0.2.1"),
    ],
)
def test_the_client_address_trusts_only_the_declared_proxies(proxies, forwarded_for, expected):
    headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for else {}
    request = RequestFactory().post("/login/", REMOTE_ADDR="192.0.2.1", **headers)
    from django.conf import settings

    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "NUM_PROXIES": proxies}):
        assert client_address(request) == expected
