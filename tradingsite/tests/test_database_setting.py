"""The platform runs on PostgreSQL only: another DATABASE_URL is refused at start-up with a clear message."""

import os
import subprocess
import sys

from tradingsite.tests.stack import ROOT


def check_with(database_url: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(DJANGO_DEBUG="True", DATABASE_URL=database_url)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_sqlite_is_refused_with_the_way_out(tmp_path):
    result = check_with(f"sqlite:///{tmp_path}/db.sqlite3")
    assert result.returncode != 0
    assert "DATABASE_URL must point at PostgreSQL" in result.stderr
    assert "embedded PostgreSQL" in result.stderr
    assert not (tmp_path / "db.sqlite3").exists()  # refused before anything was written


def test_postgresql_urls_are_accepted():
    for url in ("postgres://postgres@127.0.0.1:5432/x", "postgres://postgres@/x?host=/tmp/pg"):
        result = check_with(url)
        assert result.returncode == 0, result.stderr
