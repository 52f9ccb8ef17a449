"""Run a simulator inside a test: a real server on a free port, in a background thread.

Usage (pytest)::

    from simulator.testing import running_simulator

    def test_login(tmp_path):
        with running_simulator(tmp_path / "sim.sqlite3") as sim:
            r = httpx.post(f"{sim.base_url}/Auth/loginKey",
                           json={"userName": sim.username, "apiKey": sim.api_key})
            sim.step(3)                      # play three 1-minute bars (stepped clock)

or as a fixture::

    @pytest.fixture
    def sim(tmp_path):
        with running_simulator(tmp_path / "sim.sqlite3") as handle:
            yield handle

The handle (`SimulatorHandle`) exposes:
  base_url        REST root ending in `/api` (what `PROJECTX_SIM_API_URL` expects)
  user_hub_url, market_hub_url   `http://host:port/hubs/user|market` (SignalR clients add ws)
  username, api_key, account_id  the demo user (`demo` / `demo-api-key`) and its 50K account
  contract_id(root="EP")         the front-month contract id, e.g. `CON.F.US.EP.Z25`
  step(n_bars=1), step_until(dt), state(), set_faults(**kw), clear_faults(), restart(), stop()
  set_market(roll_on=, freeze_seconds=, freeze_contracts=, partial_quotes=)  the market switches
  login() -> token               a fresh session token for the demo user
  control_headers                the header carrying the control API's secret (`/_sim/...`)
  control(method, path, body)    one control API call over HTTP, secret sent (e.g. "/state")
  and async twins `astep`, `aset_faults`, `aset_market` for tests running inside an event loop.

Defaults: stepped clock (nothing moves unless the test steps it), the seeded random walk for
every product, clock start 2025-03-03 14:30 UTC (a Monday, RTH) unless `start=` is given. Pass
`data={"ENQ": path}` to replay real bars, and `replay_mode="calendar"` for original timestamps.
The store path is required so `restart()` can prove nothing is lost. The control API gets a
fresh random secret (`control_secret=None` leaves it open to loopback callers only).
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from markets.ticks import spec_for
from simulator.records import CONTROL_AUTH_HEADER, DEMO_USER, SimConfig
from simulator.server import Faults, SimServer

__all__ = ["DEFAULT_START", "SimulatorHandle", "market_data_dir", "running_simulator"]

DEFAULT_START = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)
T = TypeVar("T")
_FRESH = object()  # start_simulator's default: a new random control secret


def market_data_dir() -> Path:
    """Where the shared real market data lives (never copied into the repo)."""
    import os

    env = os.environ.get("MARKET_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass
class SimulatorHandle:
    server: SimServer
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    username: str = DEMO_USER[0]
    api_key: str = DEMO_USER[1]

    # -- addresses -------------------------------------------------------------------------------
    @property
    def root_url(self) -> str:
        return f"http://{self.server.host}:{self.server.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/api"

    @property
    def user_hub_url(self) -> str:
        return f"{self.root_url}/hubs/user"

    @property
    def market_hub_url(self) -> str:
        return f"{self.root_url}/hubs/market"

    @property
    def account_id(self) -> int:
        return min(a.id for a in self.server.engine.accounts.values() if a.user == self.username)

    def contract_id(self, root: str = "EP") -> str:
        return self.server.engine.front_month(spec_for(root))

    @property
    def control_headers(self) -> dict[str, str]:
        secret = self.server.config.control_secret
        return {CONTROL_AUTH_HEADER: secret} if secret else {}

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One control API call over HTTP (`path` after `/_sim`, e.g. "/state"); JSON back."""
        import httpx

        reply = httpx.request(
            method,
            f"{self.root_url}/_sim{path}",
            json=body,
            headers=self.control_headers,
            timeout=60,
        )
        return reply.raise_for_status().json()

    # -- running code on the server's loop -----------------------------------------------------------
    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def _sync(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        async def run() -> Any:
            return fn(*args, **kwargs)

        return self.call(run())

    async def _in_loop(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        async def run() -> Any:
            return fn(*args, **kwargs)

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(run(), self.loop))

    # -- control ------------------------------------------------------------------------------------
    def step(self, n_bars: int = 1) -> int:
        """Play `n_bars` whole 1-minute bars (quotes, fills, hub events). Returns bars played."""
        return self._sync(self.server.engine.step, n_bars)

    async def astep(self, n_bars: int = 1) -> int:
        return await self._in_loop(self.server.engine.step, n_bars)

    def step_until(self, at: datetime) -> None:
        self._sync(self.server.engine.step_until, at)

    def state(self) -> dict[str, Any]:
        return self._sync(self.server.engine.state)

    def set_faults(self, **faults: Any) -> Faults:
        """See `simulator.server.Faults`; `expire_tokens=True` expires all issued tokens."""
        return self._sync(self.server.set_faults, **faults)

    async def aset_faults(self, **faults: Any) -> Faults:
        return await self._in_loop(self.server.set_faults, **faults)

    def set_market(self, **switches: Any) -> dict[str, Any]:
        """See `SimServer.set_market`: roll_on, freeze_seconds, freeze_contracts, partial_quotes."""
        return self._sync(self.server.set_market, **switches)

    async def aset_market(self, **switches: Any) -> dict[str, Any]:
        return await self._in_loop(self.server.set_market, **switches)

    def clear_faults(self) -> None:
        self._sync(self.server.set_faults, clear=True)

    def login(self) -> str:
        import time

        return self._sync(self.server.engine.login, self.username, self.api_key, int(time.time()))

    def restart(self) -> None:
        """Stop and start the server on the same port from its store (sockets drop)."""
        self.call(self.server.restart())

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        try:
            self.call(self.server.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


def start_simulator(
    store_path: str | Path,
    *,
    data: dict[str, str | Path] | None = None,
    replay_mode: str = "shifted",
    speed: float | None = None,
    start: datetime | None = DEFAULT_START,
    seed: int = 7,
    ping_interval: float = 15.0,
    control_secret: str | object | None = _FRESH,
    **config: Any,
) -> SimulatorHandle:
    """Start a simulator in a daemon thread; the caller must `stop()` it (or use the context
    manager). Extra keyword arguments go to `SimConfig` (e.g. `bars_rate=(5, 30)`)."""
    cfg = SimConfig(
        store_path=str(store_path),
        data={k: str(v) for k, v in (data or {}).items()},
        replay_mode=replay_mode,
        speed=speed,
        start=start,
        seed=seed,
        control_secret=(
            secrets.token_urlsafe(24)
            if control_secret is _FRESH
            else cast("str | None", control_secret)
        ),
        control_on_loopback=True,  # tests are development
        **config,
    )
    loop = asyncio.new_event_loop()
    ready: Future[SimServer] = Future()

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def boot() -> None:
            try:
                server = SimServer(cfg, ping_interval=ping_interval)
                await server.start("127.0.0.1", 0)
            except BaseException as exc:
                ready.set_exception(exc)
                return
            ready.set_result(server)

        loop.run_until_complete(boot())
        if ready.exception() is None:
            loop.run_forever()
        loop.close()

    thread = threading.Thread(target=run, name="projectx-simulator", daemon=True)
    thread.start()
    server = ready.result(120)
    return SimulatorHandle(server, loop, thread)


@contextmanager
def running_simulator(store_path: str | Path, **kwargs: Any) -> Iterator[SimulatorHandle]:
    """Context manager around `start_simulator` (same arguments)."""
    handle = start_simulator(store_path, **kwargs)
    try:
        yield handle
    finally:
        handle.stop()
