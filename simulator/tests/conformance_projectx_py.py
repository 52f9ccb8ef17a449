"""Conformance client: drive the simulator with project-x-py 4.4.1, unchanged, in its own venv.

Not collected by pytest (no `test_` prefix): `test_conformance.py` runs it with the Python 3.12
interpreter named by `PROJECTX_PY_PYTHON` (a venv with `project-x-py==4.4.1`), e.g.::

    python3.12 -m venv /tmp/pxpy && /tmp/pxpy/bin/pip install project-x-py==4.4.1
    PROJECTX_PY_PYTHON=/tmp/pxpy/bin/python pytest simulator/tests/test_conformance.py

Usage: python conformance_projectx_py.py ROOT_URL. Prints one `OK <step>` line per step that
worked and exits non-zero on the first failure.
"""

import asyncio
import os
import sys


async def main(root: str) -> None:
    os.environ["PROJECTX_API_URL"] = f"{root}/api"
    os.environ["PROJECTX_USER_HUB_URL"] = f"{root}/hubs/user"
    os.environ["PROJECTX_MARKET_HUB_URL"] = f"{root}/hubs/market"
    from project_x_py import EventBus, OrderManager, ProjectX, ProjectXRealtimeClient
    from project_x_py.config import load_default_config

    cfg = load_default_config()
    async with ProjectX("demo", "demo-api-key", config=cfg) as client:
        await client.authenticate()
        account = client.account_info
        print("OK authenticate", account.id, account.name, account.balance, flush=True)
        accounts = await client.list_accounts()
        assert [a.id for a in accounts] == [account.id], accounts
        print("OK list_accounts", flush=True)
        instrument = await client.get_instrument("MNQ")
        assert instrument.id.startswith("CON.F.US.MNQ."), instrument
        assert float(instrument.tickSize) == 0.25
        print("OK get_instrument", instrument.id, flush=True)
        bars = await client.get_bars("MNQ", days=1, interval=5)
        assert len(bars) > 100, bars
        print("OK get_bars", len(bars), bars.columns, flush=True)
        assert await client.search_open_positions() == []
        print("OK search_open_positions", flush=True)
        await client.search_trades()
        print("OK search_trades", flush=True)

        realtime = ProjectXRealtimeClient(
            jwt_token=client.session_token, account_id=str(account.id), config=client.config
        )
        seen: dict[str, int] = {}

        def counter(name: str):
            async def callback(_: dict) -> None:
                seen[name] = seen.get(name, 0) + 1

            return callback

        for event in (
            "quote_update",
            "market_trade",
            "order_update",
            "position_update",
            "account_update",
            "trade_execution",
        ):
            await realtime.add_callback(event, counter(event))
        assert await realtime.connect(), "realtime connect failed"
        assert await realtime.subscribe_user_updates()
        assert await realtime.subscribe_market_data([instrument.id])
        print("OK realtime connect + subscribe", flush=True)

        orders = OrderManager(client, EventBus())
        placed = await orders.place_market_order(instrument.id, side=0, size=1)
        assert placed.success, placed
        print("OK place_market_order", placed.orderId, flush=True)
        for _ in range(100):  # the accelerated clock fills it at the next price it prints
            if seen.get("position_update") and seen.get("quote_update"):
                break
            await asyncio.sleep(0.1)
        positions = await client.search_open_positions()
        assert [(p.size, p.type) for p in positions] == [(1, 1)], positions
        print("OK filled, position", positions[0].averagePrice, flush=True)
        print("OK events", dict(sorted(seen.items())), flush=True)
        for name in ("quote_update", "order_update", "position_update", "account_update"):
            assert seen.get(name), f"no {name} event"
        await realtime.disconnect()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
