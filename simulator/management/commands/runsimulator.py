"""`python manage.py runsimulator`: a ProjectX-compatible gateway for paper trading and demos.

Examples::

    # demo: every product trades a seeded walk on the CME calendar (90 sessions of history, a
    # price every second), real time, demo/demo-api-key, one 50K account
    python manage.py runsimulator --host 127.0.0.1 --port 8700

    # replay real NQ bars shifted to now, 10x faster, plus a second user
    python manage.py runsimulator --data ENQ=../shared/data/nq_1min_sample_2023-11.csv.gz \
        --speed 10 --user alice:alice-key

    # calendar-true replay (weekends and halts closed) driven by POST /_sim/step
    python manage.py runsimulator --data ../shared/data/es_1min_2019-2023.csv.gz \
        --replay-mode calendar --start 2023-03-01T14:30:00Z --speed stepped
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from simulator.market import DataFileError, root_from_filename
from simulator.records import DEMO_USER, SimConfig
from simulator.server import SimServer
from simulator.wire import parse_ts


def _speed(value: str) -> float | None:
    text = value.strip().lower()
    if text in ("stepped", "step", "0"):
        return None
    if text in ("realtime", "real", "1", "x1"):
        return 1.0
    try:
        speed = float(text.removeprefix("x"))
    except ValueError:
        raise ValueError(
            f"--speed must be 'realtime', 'stepped' or a factor, got {value!r}"
        ) from None
    if speed <= 0:
        raise ValueError("--speed factor must be positive")
    return speed


class Command(BaseCommand):
    help = "Run the ProjectX Gateway simulator (REST + SignalR hubs) for paper trading and tests."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=settings.SIMULATOR_HOST)
        parser.add_argument("--port", type=int, default=settings.SIMULATOR_PORT)
        parser.add_argument(
            "--data",
            action="append",
            default=[],
            metavar="[ROOT=]PATH",
            help="CSV(.gz) of 1-minute bars to replay; ROOT is the ProjectX root (EP, ENQ, MES...),"
            " inferred from es_/nq_/mes_ file names. Repeatable. Products without data"
            " trade the continuous walk (shifted mode) or are not listed (calendar mode).",
        )
        parser.add_argument(
            "--market",
            choices=["sessions", "continuous"],
            default="sessions",
            help="without --data: sessions = a seeded walk on the CME calendar with"
            " --history-sessions of history and a price every second (the demo);"
            " continuous = a walk open around the clock, 4 prices a minute",
        )
        parser.add_argument(
            "--history-sessions",
            type=int,
            default=90,
            help="sessions market: trading dates of history before the clock",
        )
        parser.add_argument(
            "--replay-mode",
            choices=["shifted", "calendar"],
            default="shifted",
            help="shifted: bars re-stamped one per minute up to now (always open);"
            " calendar: original timestamps",
        )
        parser.add_argument(
            "--replay-from", default=None, help="shifted mode: first file bar to replay (ISO time)"
        )
        parser.add_argument("--start", default=None, help="clock start (ISO); default now")
        parser.add_argument(
            "--speed", default="realtime", help="realtime | stepped | N (accelerated xN)"
        )
        parser.add_argument("--seed", type=int, default=7, help="random-walk seed")
        parser.add_argument(
            "--history-minutes",
            type=int,
            default=2 * 1440,
            help="continuous market and shifted replays: minutes of history before the clock",
        )
        parser.add_argument(
            "--store",
            default=str(Path(settings.SIMULATOR_DATA_DIR) / "sim.sqlite3"),
            help="SQLite store path (state survives restarts)",
        )
        parser.add_argument(
            "--user",
            action="append",
            default=[],
            metavar="NAME:APIKEY",
            help="simulated user (repeatable); demo:demo-api-key is always present",
        )
        parser.add_argument("--balance", default="50000", help="starting balance of new accounts")
        parser.add_argument(
            "--bars-rate",
            default="50/30",
            help="retrieveBars budget per token, requests/seconds (docs: 50/30 or 30/30)",
        )
        parser.add_argument(
            "--general-rate", default="200/60", help="other endpoints, requests/seconds"
        )
        parser.add_argument(
            "--bracket-ticks",
            choices=["signed", "magnitude"],
            default="signed",
            help="signed: reject wrong-sign bracket ticks like the live gateway",
        )
        parser.add_argument(
            "--token-ttl", type=int, default=24 * 3600, help="token lifetime, seconds"
        )
        parser.add_argument(
            "--bars-cap",
            type=int,
            default=20_000,
            help="History/retrieveBars answers at most this many bars (the gateway: 20000)",
        )
        parser.add_argument(
            "--bracket-mode",
            choices=["auto-oco", "position", "position-with-id"],
            default="auto-oco",
            help="new accounts' bracket setting: position refuses stopLossBracket/"
            "takeProfitBracket with errorCode 2; position-with-id places the entry without"
            " them and still refuses, with its orderId",
        )
        # The market switches (also at POST /_sim/market; docs/gateway-behaviours.md).
        parser.add_argument(
            "--roll-date",
            default=None,
            metavar="YYYY-MM-DD",
            help="the trading date the next contract month becomes the front month (default:"
            " the calendar rule of markets/contracts.py); the old month expires 8 days later",
        )
        parser.add_argument(
            "--freeze-market",
            default=None,
            metavar="SECONDS[:CONTRACT,...]",
            help="from the start, the market hub sends no quotes/trades/depth (of those"
            " contracts, else all) for SECONDS while connections stay open",
        )
        parser.add_argument(
            "--partial-quotes",
            action="store_true",
            help="GatewayQuote carries only the fields that changed (as the live hub does)",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            config = self._config(opts)
        except (ValueError, DataFileError) as exc:
            raise CommandError(str(exc)) from exc
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        try:
            asyncio.run(self._serve(config, opts["host"], opts["port"]))
        except (DataFileError, OSError) as exc:
            raise CommandError(str(exc)) from exc

    def _config(self, opts: dict[str, Any]) -> SimConfig:
        data: dict[str, str] = {}
        for item in opts["data"]:
            root, sep, path = item.partition("=")
            if not sep:
                path, root = item, root_from_filename(Path(item))
            data[root.strip().upper()] = path
        users = [DEMO_USER]
        for item in opts["user"]:
            name, sep, key = item.partition(":")
            if not sep or not name or not key:
                raise ValueError(f"--user must be NAME:APIKEY, got {item!r}")
            users.append((name, key))

        if opts["history_sessions"] < 1:
            raise ValueError("--history-sessions must be at least 1")
        if not 1 <= opts["bars_cap"] <= 20_000:
            raise ValueError("--bars-cap must be 1..20000")
        if opts["token_ttl"] < 1:
            raise ValueError("--token-ttl must be at least 1 second")

        freeze_seconds, _, frozen = (opts["freeze_market"] or "0").partition(":")
        try:
            roll_on = date.fromisoformat(opts["roll_date"]) if opts["roll_date"] else None
            freeze = float(freeze_seconds)
        except ValueError as exc:
            raise ValueError(f"--roll-date / --freeze-market: {exc}") from None

        def rate(text: str) -> tuple[int, int]:
            count, _, seconds = text.partition("/")
            return int(count), int(seconds)

        return SimConfig(
            store_path=opts["store"],
            data=data,
            replay_mode=opts["replay_mode"],
            replay_from=parse_ts(opts["replay_from"]) if opts["replay_from"] else None,
            start=parse_ts(opts["start"]) if opts["start"] else None,
            speed=_speed(opts["speed"]),
            seed=opts["seed"],
            market=opts["market"],
            history_minutes=opts["history_minutes"],
            history_sessions=opts["history_sessions"],
            users=users,
            starting_balance=Decimal(opts["balance"]),
            token_ttl_seconds=opts["token_ttl"],
            bars_rate=rate(opts["bars_rate"]),
            general_rate=rate(opts["general_rate"]),
            bracket_ticks=opts["bracket_ticks"],
            bars_cap=opts["bars_cap"],
            bracket_mode="auto_oco" if opts["bracket_mode"] == "auto-oco" else "position",
            bracket_refusal_places_entry=opts["bracket_mode"] == "position-with-id",
            roll_on=roll_on,
            freeze_market_seconds=freeze,
            freeze_contracts=[c for c in frozen.split(",") if c],
            partial_quotes=opts["partial_quotes"],
            control_secret=settings.SIMULATOR_CONTROL_SECRET or None,
            control_on_loopback=settings.DEBUG,
        )

    async def _serve(self, config: SimConfig, host: str, port: int) -> None:
        server = SimServer(config)
        await server.start(host, port)
        root = f"http://{server.host}:{server.port}"
        users = ", ".join(f"{n}/{k}" for n, k in config.users)
        accounts = ", ".join(f"{a.id} ({a.user})" for a in server.engine.accounts.values())
        clock = "stepped (POST /_sim/step)" if config.speed is None else f"x{config.speed:g}"
        if config.control_secret:
            control = "secret required (X-Simulator-Secret header)"
        elif config.control_on_loopback:
            control = "loopback callers only (development)"
        else:
            control = "refused: set SIMULATOR_CONTROL_SECRET to use it"
        self.stdout.write(self.style.SUCCESS(f"ProjectX simulator listening on {root}"))
        self.stdout.write(
            f"  REST:        {root}/api\n"
            f"  User hub:    {root}/hubs/user\n"
            f"  Market hub:  {root}/hubs/market\n"
            f"  Control:     {root}/_sim/state  ({control}; see simulator/server.py)\n"
            f"  Users:       {users}\n  Accounts:    {accounts}\n"
            f"  Clock:       {clock}, now {server.engine.now().isoformat()}\n"
            f"  Store:       {config.store_path}\n"
            "Point a client at it:\n"
            f"  PROJECTX_SIM_API_URL={root}/api PROJECTX_SIM_USER_HUB_URL={root}/hubs/user "
            f"PROJECTX_SIM_MARKET_HUB_URL={root}/hubs/market\n"
            f"  project-x-py: PROJECTX_API_URL={root}/api PROJECTX_USER_HUB_URL={root}/hubs/user "
            f"PROJECTX_MARKET_HUB_URL={root}/hubs/market PROJECT_X_USERNAME=demo "
            "PROJECT_X_API_KEY=demo-api-key\nCtrl-C stops it."
        )
        self.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop()
        self.stdout.write("simulator stopped")
