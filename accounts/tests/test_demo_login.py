"""The demo login (demo / demo-password) belongs to DEBUG: it is not created without it, and a
production start (the release step's `migrate`, or `check --database`) with it present fails, naming it."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError

from accounts.demo import DEMO_PASSWORD, DEMO_USERNAME
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_production_start_with_the_demo_login_fails_naming_it(settings):
    settings.DEBUG = False
    UserFactory(username=DEMO_USERNAME, password=DEMO_PASSWORD)

    with pytest.raises(SystemCheckError) as refused:
        call_command("check", "--database", "default")

    assert f"The demo login ({DEMO_USERNAME} / {DEMO_PASSWORD}) exists" in str(refused.value)
    assert "accounts.E002" in str(refused.value)


@pytest.mark.parametrize(
    ("debug", "password"),
    [(False, "a-secret-password-for-tests"), (True, DEMO_PASSWORD)],
    ids=["production_demo_user_with_a_secret_password", "debug"],
)
def test_the_check_passes_otherwise(settings, debug, password):
    settings.DEBUG = debug
    UserFactory(username=DEMO_USERNAME, password=password)

    call_command("check", "--database", "default")


def test_seed_demo_refuses_without_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="demo login"):
        call_command("seed_demo")

    assert not get_user_model().objects.filter(username=DEMO_USERNAME).exists()


def test_seed_demo_works_under_debug(settings):
    settings.DEBUG = True

    call_command("seed_demo")

    assert get_user_model().objects.get(username=DEMO_USERNAME).check_password(DEMO_PASSWORD)
