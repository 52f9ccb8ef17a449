"""Benchmark of the market-data cache (issue: the ProjectX gateway, market-data cache).

Replays one real NQ session (../shared/data, 2023-11-28) on the simulator, stepped bar by bar. As in the
hubs process, the market hub's trade prints are built into 1-minute bars that fill the cache's newest
minutes; a breakout strategy and a dashboard read bars through the cache with this access pattern:
  * session start: the strategy reads 3 days of 1-minute history (indicator warm-up), fresh;
  * every minute: a dashboard reads today's bars, accepting bars up to 15 minutes stale;
  * 09:30 ET: the strategy reads the overnight window, fresh;
  * 09:30-11:00 ET, every 5 minutes: the strategy reads the last 30 minutes, fresh.
Then times cached reads of one complete day of 1-minute bars (the hot layer).

Targets: a cached one-day read under 2 ms; hit rate >= 95 %; <= 100 broker calls per account per day.
Run: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/tradingsite_bench .venv/bin/python bench/marketdata_cache.py`
(the database is created and migrated if missing; REDIS_URL defaults to redis://127.0.0.1:6379/0).
"""

import asyncio
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tradingsite_bench")
os.environ.setdefault("DJANGO_DEBUG", "True")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")

NEW_YORK = ZoneInfo("America/New_York")
SESSION_START = datetime(2023, 11, 27, 18, 0, tzinfo=NEW_YORK)
SESSION_END = datetime(2023, 11, 28, 17, 0, tzinfo=NEW_YORK)
RTH_OPEN = datetime(2023, 11, 28, 9, 30, tzinfo=NEW_YORK)
ENTRY_WINDOW_END = datetime(2023, 11, 28, 11, 0, tzinfo=NEW_YORK)


def ensure_database() -> None:
    import psycopg

    url = os.environ["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    if url.startswith("postgres"):
        with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    ensure_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from execution.gateway.client import GatewayClient
    from execution.gateway.config import Credentials, GatewayConfig
    from execution.gateway.hubs import HubListener, MarketTradeEvent
    from execution.gateway.types import BarUnit
    from execution.marketdata import BarCache, LiveBarBuilder, bars_append_live
    from execution.models import BarCoverage, CachedBar
    from simulator.testing import market_data_dir, running_simulator

    CachedBar.objects.all().delete()
    BarCoverage.objects.all().delete()
    data = market_data_dir() / "nq_1min_sample_2023-11.csv.gz"
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_simulator(
            Path(tmp) / "sim.sqlite3",
            data={"ENQ": data},
            replay_mode="calendar",
            start=SESSION_START.astimezone(UTC),
            # A 23-hour day replayed in seconds: the per-30 s budget would throttle the compressed
            # replay, not a real day, so the simulator's limits are lifted here (calls are counted).
            bars_rate=(10**6, 30),
            general_rate=(10**6, 60),
        ) as sim,
    ):
        config = GatewayConfig(sim.base_url, sim.user_hub_url, sim.market_hub_url)
        client = GatewayClient(config, Credentials(sim.username, sim.api_key))
        calls: list[tuple] = []

        def fetch(contract_id, *, start, end, unit, unit_number):
            calls.append((start, end))
            return client.retrieve_bars(
                contract_id, start=start, end=end, unit=unit, unit_number=unit_number
            )

        contract_id = sim.contract_id("ENQ")
        now = {"at": SESSION_START.astimezone(UTC)}
        cache = BarCache(
            fetch=fetch,
            source="bench",
            scope=f"bench-{time.time_ns()}",
            clock=lambda: now["at"],
            key_prefix=f"bench-mdc-{time.time_ns()}",
        )

        def read(start, end, staleness=timedelta(0)):
            before = len(calls)
            cache.read(
                contract_id=contract_id,
                unit=BarUnit.MINUTE,
                unit_number=1,
                start=start,
                end=end,
                max_staleness=staleness,
            )
            return len(calls) == before

        # The market hub, as the hubs process runs it: trade prints -> 1-minute bars -> the cache.
        builder, completed, last_print = LiveBarBuilder(), [], {"at": None}
        lock = threading.Lock()

        async def on_event(event) -> None:
            if isinstance(event, MarketTradeEvent):
                trade = event.trade
                with lock:
                    completed.extend(
                        builder.add(trade.contract_id, trade.at, trade.price, trade.volume)
                    )
                    last_print["at"] = trade.at

        listener = HubListener.for_client(
            client,
            account_ids=[],
            contract_ids=[contract_id],
            on_event=on_event,
            subscribe_market_trades=True,
        )
        loop, stop = asyncio.new_event_loop(), asyncio.Event()
        hub_thread = threading.Thread(
            target=loop.run_until_complete, args=(listener.run(stop),), daemon=True
        )
        hub_thread.start()
        time.sleep(1.5)  # connected and subscribed

        def take_live_bars(minute_start) -> None:
            """After the clock played a minute: wait for its closing print (or 0.3 s when the minute
            had no trades), then store what the hub built, closing the minute 3 s after it ended."""
            deadline = time.monotonic() + 0.3
            while time.monotonic() < deadline:
                with lock:
                    if last_print["at"] is not None and last_print[
                        "at"
                    ] >= minute_start + timedelta(seconds=45):
                        break
                time.sleep(0.002)
            with lock:
                done = completed[:] + builder.flush(minute_start + timedelta(seconds=63))
                completed.clear()
            bars_append_live(source="bench", bars=done)

        hits = reads = 0
        minute = timedelta(minutes=1)
        t = SESSION_START.astimezone(UTC)
        while t < SESSION_END:
            now["at"] = t
            local = t.astimezone(NEW_YORK)
            planned = [(t - timedelta(days=3), t, timedelta(0))] if t == SESSION_START else []
            planned.append((SESSION_START, t + minute, timedelta(minutes=15)))  # dashboard
            if local == RTH_OPEN:
                planned.append((SESSION_START, RTH_OPEN, timedelta(0)))
            if RTH_OPEN <= local < ENTRY_WINDOW_END and local.minute % 5 == 0:
                planned.append((t - timedelta(minutes=30), t, timedelta(0)))
            for start, end, staleness in planned:
                reads += 1
                hits += read(start, end, staleness)
            sim.step(1)
            take_live_bars(t)
            t += minute
        loop.call_soon_threadsafe(stop.set)
        hub_thread.join(timeout=10)
        leftovers = asyncio.all_tasks(loop)  # the websocket's keep-alive and reader
        for task in leftovers:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        loop.close()

        day = datetime(2023, 11, 27, tzinfo=UTC)
        read(day, day + timedelta(days=1))  # make sure the day is complete and hot
        timings = []
        for _ in range(1000):
            started = time.perf_counter()
            series = cache.read(
                contract_id=contract_id,
                unit=BarUnit.MINUTE,
                unit_number=1,
                start=day,
                end=day + timedelta(days=1),
            )
            timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        )
        print(
            f"replayed session 2023-11-28 NQ: {reads} reads, hit rate {hits / reads:.1%} (target >= 95%)"
        )
        print(f"broker calls for the day: {len(calls)} (target <= 100 per account per day)")
        print(
            f"cached one-day read ({len(series)} bars): mean {statistics.mean(timings):.3f} ms, "
            f"p50 {timings[500]:.3f} ms, p99 {timings[989]:.3f} ms (target < 2 ms)"
        )
        client.close()


if __name__ == "__main__":
    main()
