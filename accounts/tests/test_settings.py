"""Production start-up refuses missing or malformed settings and passes Django's deploy checks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "tradingsite.settings",
    "DJANGO_DEBUG": "False",
    "DJANGO_SECRET_KEY": "a" * 20 + "-production-like-secret-key-with-enough-entropy-0123456789",
    "DJANGO_ALLOWED_HOSTS": "trading.example.com",
    "BROKER_CREDENTIALS_KEYS": "RWQJsM5j-LuBZAVvjxVLknoD1jCYXr1sN3YgiNDgMuM=",
}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "BROKER_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "missing", ["DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "BROKER_CREDENTIALS_KEYS"]
)
def test_production_start_names_the_missing_variable(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert missing in result.stderr


def test_malformed_debug_flag_is_refused():
    result = run_manage("check", env={**PRODUCTION_ENV, "DJANGO_DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DJANGO_DEBUG" in result.stderr


def test_check_deploy_is_clean_with_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr + result.stdout


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DJANGO_SECRET_KEY", settings.DEV_SECRET_KEY),
        ("BROKER_CREDENTIALS_KEYS", settings.DEV_BROKER_CREDENTIALS_KEY),
        # Kept behind a new key during a rotation: still public, still refused.
        (
            "BROKER_CREDENTIALS_KEYS",
            f"{PRODUCTION_ENV['BROKER_CREDENTIALS_KEYS']},{settings.DEV_BROKER_CREDENTIALS_KEY}",
        ),
    ],
    ids=["secret_key", "credentials_key", "credentials_key_second"],
)
def test_production_start_with_a_development_secret_fails_naming_it(variable, value):
    result = run_manage("check", env={**PRODUCTION_ENV, variable: value})

    assert result.returncode != 0
    assert f"{variable} " in result.stderr
    assert "development key" in result.stderr


def test_the_development_secrets_still_work_under_debug():
    env = {
        k: v
        for k, v in PRODUCTION_ENV.items()
        if k not in ("DJANGO_SECRET_KEY", "BROKER_CREDENTIALS_KEYS")
    }
    result = run_manage("check", env={**env, "DJANGO_DEBUG": "True"})

    assert result.returncode == 0, result.stderr
