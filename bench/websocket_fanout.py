"""Benchmark of live pushes (issue: the people's side, live updates).

1,000 websocket clients across 100 tenants (10 members each, each watching their tenant's account) connect
to the real ASGI server (uvicorn, Channels, the Redis channel layer). A fill event is then published to
every tenant's account group at once, through the same helper the services use; each client measures
when its event arrives. Target: every client receives its tenant's fill within 250 ms p99, and no client
ever receives another tenant's event.

Run: `.venv/bin/python bench/websocket_fanout.py` (a scratch database `tradingsite_bench` is created and
migrated; REDIS_URL defaults to redis://127.0.0.1:6379/0).
"""

import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tradingsite_bench")
os.environ.setdefault("DJANGO_DEBUG", "True")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")
TENANTS, MEMBERS = 100, 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def desks() -> list[tuple[int, int, list[str]]]:
    """(tenant id, account id, session keys of its members), created once and reused."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore

    from accounts.models import Membership, Tenant
    from accounts.tests.factories import TradingAccountFactory

    user_model = get_user_model()
    password = make_password("bench-only")
    result = []
    for t in range(TENANTS):
        tenant, _ = Tenant.objects.get_or_create(
            slug=f"bench-{t}", defaults={"name": f"Bench desk {t}"}
        )
        account = (
            TradingAccountFactory(tenant=tenant)
            if not tenant_accounts(tenant)
            else tenant_accounts(tenant)[0]
        )
        keys = []
        for m in range(MEMBERS):
            user, _ = user_model.objects.get_or_create(
                username=f"bench-{t}-{m}", defaults={"password": password}
            )
            Membership.all_tenants.get_or_create(
                tenant=tenant, user=user, defaults={"role": "viewer"}
            )
            session = SessionStore()
            session["_auth_user_id"] = str(user.pk)
            session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
            session["_auth_user_hash"] = user.get_session_auth_hash()
            session.create()
            keys.append(session.session_key)
        result.append((tenant.pk, account.pk, keys))
    return result


def tenant_accounts(tenant):
    from accounts.models import TradingAccount

    return list(TradingAccount.objects.for_tenant(tenant))


async def client(
    port: int, tenant_id: int, account_id: int, key: str, ready: asyncio.Event, results: list
):
    import websockets

    url = f"ws://127.0.0.1:{port}/ws/accounts/{account_id}/"
    headers = {"Cookie": f"sessionid={key}", "Origin": f"http://127.0.0.1:{port}"}
    async with websockets.connect(
        url, additional_headers=headers, open_timeout=60, max_queue=None
    ) as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello", hello
        results.append(("connected", tenant_id))
        await ready.wait()
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
        results.append(
            (
                "event",
                tenant_id,
                message["data"]["tenant_id"],
                time.time() - message["data"]["sent_at"],
            )
        )
        try:  # anything else arriving within a second would be someone else's event
            extra = json.loads(await asyncio.wait_for(ws.recv(), timeout=1.0))
            results.append(("extra", tenant_id, extra["data"]["tenant_id"], 0.0))
        except TimeoutError:
            pass


async def run(port: int, plan: list[tuple[int, int, list[str]]]) -> list:
    from channels.layers import get_channel_layer

    from execution.realtime import account_group

    ready, results = asyncio.Event(), []
    tasks = [
        asyncio.create_task(client(port, t, a, key, ready, results))
        for t, a, keys in plan
        for key in keys
    ]
    started = time.monotonic()
    while sum(1 for r in results if r[0] == "connected") < len(tasks):
        if time.monotonic() - started > 120:
            raise TimeoutError("clients did not all connect")
        await asyncio.sleep(0.1)
    print(f"{len(tasks)} clients connected in {time.monotonic() - started:.1f} s")
    await asyncio.sleep(0.5)
    ready.set()
    layer = get_channel_layer()
    sent_at = time.time()
    await asyncio.gather(
        *(
            layer.group_send(
                account_group(tenant_id=t, account_id=a),
                {
                    "type": "account.event",
                    "payload": {"kind": "fill", "data": {"tenant_id": t, "sent_at": sent_at}},
                },
            )
            for t, a, _ in plan
        )
    )
    await asyncio.gather(*tasks)
    return results


def main() -> None:
    import django

    from bench.marketdata_cache import ensure_database

    ensure_database()
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    plan = desks()
    port = free_port()
    env = {**os.environ, "DJANGO_ALLOWED_HOSTS": "127.0.0.1"}
    server = subprocess.Popen(  # noqa: S603  (our own uvicorn on loopback)
        [
            str(ROOT / ".venv" / "bin" / "uvicorn"),
            "tradingsite.asgi:application",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--ws-max-queue",
            "64",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        results = asyncio.run(run(port, plan))
    finally:
        server.terminate()
        server.wait(timeout=10)
    events = [r for r in results if r[0] == "event"]
    leaks = [r for r in results if r[0] == "extra" or (r[0] == "event" and r[1] != r[2])]
    latencies = sorted(r[3] * 1000 for r in events)
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"{len(events)} of {TENANTS * MEMBERS} clients received their tenant's fill: "
        f"p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms, max {latencies[-1]:.1f} ms, "
        f"mean {statistics.mean(latencies):.1f} ms (target p99 < 250 ms)"
    )
    print(f"events of another tenant received: {len(leaks)} (target 0)")


if __name__ == "__main__":
    main()
