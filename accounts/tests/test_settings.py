"""Production start-up refuses missing or malformed settings and passes Django's deploy checks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "tradingsite.settings",
    "DJANGO_DEBUG": "False",
    "DJANGO_SECRET_KEY": "a" * 20 + "-production-like-secret-key-with-enough-entropy-0123456789",
    "DJANGO_ALLOWED_HOSTS": "trading.example.com",
    "BROKER_CREDENTIALS_KEYS": "QK4yf86rMNhgUXrwtiR9d7jKIgmPpIfTrbNBPfIkntE=",
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
