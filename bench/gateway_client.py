"""Benchmark of the gateway client's own costs (execution/gateway), against the real simulator (in
a child process) and a real Redis. Run from the repository root:

    .venv/bin/python bench/gateway_client.py [--calls 500] [--redis redis://127.0.0.1:6379/14]

Prints:
- the shared rate limiter: acquire latency p50/p95 and acquires/s from one process;
- metrics recording latency p50/p95;
- a REST read (Account/search) against the simulator: p50/p95 without and with the Redis limiter
  and metrics, i.e. what sharing the budget across processes costs per call;
- the hubs: from stepping a bar that fills a market order to the filled OrderEvent, p50/p95.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from execution.gateway import (
    Credentials,
    GatewayClient,
    GatewayConfig,
    HubListener,
    OrderEvent,
    OrderSide,
    OrderType,
    PlaceOrderRequest,
    RateLimit,
    RedisMetrics,
    RedisRateLimiter,
)
from execution.gateway.metrics import Outcome
from execution.gateway.ratelimit import EndpointGroup
from simulator.records import CONTROL_AUTH_HEADER


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def report(name: str, samples: list[float]) -> None:
    print(
        f"{name:<44} p50 {pct(samples, 0.5):7.3f} ms   p95 {pct(samples, 0.95):7.3f} ms"
        f"   mean {statistics.fmean(samples) * 1000:7.3f} ms   n={len(samples)}"
    )


def bench_limiter(r: redis.Redis, prefix: str, n: int) -> None:
    limiter = RedisRateLimiter(
        r,
        key_prefix=prefix,
        limits={
            EndpointGroup.GENERAL: RateLimit(10**9, 60),
            EndpointGroup.BARS: RateLimit(10**9, 60),
        },
    )
    samples = []
    started = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        limiter.acquire("bench", "Order/search", wait_seconds=1)
        samples.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    report("limiter acquire (Lua, sliding window)", samples)
    print(f"{'':<44} {n / elapsed:,.0f} acquires/s from one process")


def bench_metrics(r: redis.Redis, prefix: str, n: int) -> None:
    metrics = RedisMetrics(r, key_prefix=prefix)
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        metrics.record("Order/search", outcome=Outcome.OK, latency_seconds=0.003)
        samples.append(time.perf_counter() - t0)
    report("metrics record (one Lua call)", samples)


class ChildSimulator:
    """The simulator in its own process (as in production), driven by its /_sim control API, so
    its work never competes with ours for this process's GIL."""

    def __init__(self, store: Path) -> None:
        code = (
            "import sys, time\n"
            "from simulator.testing import start_simulator\n"
            "h = start_simulator(sys.argv[1], general_rate=(10**6, 60))\n"
            "print(h.root_url, flush=True)\n"
            "print(h.server.config.control_secret, flush=True)\n"
            "sys.stdin.read()\n"
            "h.stop()\n"
        )
        root = str(Path(__file__).resolve().parents[1])
        self.proc = subprocess.Popen(  # noqa: S603 (our own interpreter and code)
            [sys.executable, "-c", code, str(store)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=root,
            env={**os.environ, "PYTHONPATH": root},
        )
        assert self.proc.stdout is not None
        self.root_url = self.proc.stdout.readline().strip()
        self.control_headers = {CONTROL_AUTH_HEADER: self.proc.stdout.readline().strip()}
        self.base_url = f"{self.root_url}/api"
        self.user_hub_url = f"{self.root_url}/hubs/user"
        self.market_hub_url = f"{self.root_url}/hubs/market"
        self.username, self.api_key = "demo", "demo-api-key"

    def config(self) -> GatewayConfig:
        return GatewayConfig(self.base_url, self.user_hub_url, self.market_hub_url)

    async def astep(self, bars: int) -> None:
        async with httpx.AsyncClient() as http:
            reply = await http.post(
                f"{self.root_url}/_sim/step", json={"bars": bars}, headers=self.control_headers
            )
            reply.raise_for_status()

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)


def bench_rest(sim: ChildSimulator, r: redis.Redis, prefix: str, n: int) -> None:
    config = sim.config()
    creds = Credentials(sim.username, sim.api_key)
    limits = {
        EndpointGroup.GENERAL: RateLimit(10**6, 60),
        EndpointGroup.BARS: RateLimit(10**6, 60),
    }
    for label, kwargs in (
        ("Account/search, no limiter/metrics", {}),
        (
            "Account/search, Redis limiter + metrics",
            {
                "rate_limiter": RedisRateLimiter(r, key_prefix=prefix, limits=limits),
                "metrics": RedisMetrics(r, key_prefix=prefix),
            },
        ),
    ):
        with GatewayClient(config, creds, **kwargs) as client:
            client.search_accounts()  # login
            samples = []
            for _ in range(n):
                t0 = time.perf_counter()
                client.search_accounts()
                samples.append(time.perf_counter() - t0)
        report(label, samples)


async def bench_hub_fill(sim: ChildSimulator, fills: int) -> None:
    client = GatewayClient(sim.config(), Credentials(sim.username, sim.api_key))
    account_id = (await asyncio.to_thread(client.search_accounts))[0].id
    contracts = await asyncio.to_thread(client.search_contracts, "EP")
    contract_id = next(c.id for c in contracts if c.active_contract)
    filled: asyncio.Queue[float] = asyncio.Queue()

    def on_event(event: object) -> None:
        if isinstance(event, OrderEvent) and event.order.is_filled:
            filled.put_nowait(time.perf_counter())

    listener = HubListener(
        client,
        user_hub_url=sim.user_hub_url,
        market_hub_url=sim.market_hub_url,
        account_ids=[account_id],
        contract_ids=[contract_id],
        on_event=on_event,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(stop))
    await listener.wait_connected(10)
    samples, steps = [], []
    side = OrderSide.BID
    for _ in range(fills):
        request = PlaceOrderRequest(account_id, contract_id, OrderType.MARKET, side, 1)
        await asyncio.to_thread(client.place_order, request)
        t0 = time.perf_counter()
        await sim.astep(1)
        steps.append(time.perf_counter() - t0)
        samples.append(await asyncio.wait_for(filled.get(), 10) - t0)
        side = OrderSide.ASK if side == OrderSide.BID else OrderSide.BID
    stop.set()
    await task
    client.close()
    report("/_sim/step round trip (simulator's own work)", steps)
    report("step sent -> filled OrderEvent via pysignalr", samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--fills", type=int, default=50)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    r = redis.Redis.from_url(args.redis)
    prefix = f"bench-gw-{secrets.token_hex(4)}"
    try:
        bench_limiter(r, prefix, args.calls * 4)
        bench_metrics(r, prefix, args.calls * 4)
        # the simulator enforces the broker's 200/60 s per session; lifted to measure our costs
        with tempfile.TemporaryDirectory() as tmp:
            sim = ChildSimulator(Path(tmp) / "sim.sqlite3")
            try:
                bench_rest(sim, r, prefix, args.calls)
                asyncio.run(bench_hub_fill(sim, args.fills))
            finally:
                sim.stop()
    finally:
        keys = list(r.scan_iter(f"{prefix}:*"))
        if keys:
            r.delete(*keys)


if __name__ == "__main__":
    main()
