"""The long-lived hubs process (`manage.py runhubs`): one HubListener per broker login with active
accounts. User-hub events go to execution.ingest.handle_hub_event; market trades of the contracts that
enabled strategies trade are built into 1-minute bars for the market-data cache. The fleet is re-read
every 15 seconds so new accounts and strategies are picked up without a restart."""

import asyncio
import contextlib
import logging
import signal
from datetime import UTC, datetime

from asgiref.sync import sync_to_async

from accounts import selectors
from execution.broker import gateway_client_for
from execution.gateway.hubs import HubListener, MarketTradeEvent, run_listeners
from execution.ingest import handle_hub_event
from execution.marketdata import LiveBarBuilder, bars_append_live
from strategies.selectors import fleet_enabled_contracts

logger = logging.getLogger(__name__)
FLUSH_SECONDS = 2.0


def _fleet() -> tuple[dict, dict]:
    return selectors.fleet_hub_logins(), fleet_enabled_contracts()


def _signature(fleet: tuple[dict, dict]) -> tuple:
    logins, contracts = fleet
    return (
        tuple(
            (pk, conn.api_key_encrypted, tuple(ids)) for pk, (conn, ids) in sorted(logins.items())
        ),
        tuple(sorted((pk, tuple(ids)) for pk, ids in contracts.items())),
    )


class Fleet:
    """The listeners of one fleet picture, and the bar builder their market trades feed."""

    def __init__(self, fleet: tuple[dict, dict]) -> None:
        self.bars = LiveBarBuilder()
        self.store_bars = sync_to_async(bars_append_live, thread_sensitive=True)
        logins, contracts = fleet
        self.listeners = [
            self._listener(conn, ids, contracts.get(pk, [])) for pk, (conn, ids) in logins.items()
        ]

    def _listener(self, connection, account_ids: list[int], contract_ids: list[str]) -> HubListener:
        ingest = sync_to_async(handle_hub_event, thread_sensitive=True)

        async def on_event(event) -> None:
            try:
                if isinstance(event, MarketTradeEvent):
                    trade = event.trade
                    done = self.bars.add(trade.contract_id, trade.at, trade.price, trade.volume)
                    if done:
                        await self.store_bars(done)
                else:
                    await ingest(connection=connection, event=event)
            except Exception:  # one bad event must not stop the login's stream; resync repairs
                logger.exception("hub event for connection %s could not be stored", connection.pk)

        client = gateway_client_for(connection=connection)
        return HubListener.for_client(
            client,
            account_ids=account_ids,
            contract_ids=contract_ids,
            on_event=on_event,
            subscribe_market_trades=True,
        )

    async def flush_bars(self, stop: asyncio.Event) -> None:
        """Bars of minutes that ended without a later print (a quiet market) are stored after a grace."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=FLUSH_SECONDS)
            done = self.bars.flush(datetime.now(UTC))
            if done:
                try:
                    await self.store_bars(done)
                except Exception:
                    logger.exception("live bars could not be stored")


async def serve(stop: asyncio.Event, *, rescan_seconds: float = 15.0) -> None:
    """Run until `stop` is set, rebuilding the listeners whenever the fleet changes."""
    while not stop.is_set():
        picture = await sync_to_async(_fleet)()
        fleet = await sync_to_async(Fleet)(picture)
        logger.info("hubs: %d broker logins", len(fleet.listeners))
        changed, run_stop = asyncio.Event(), asyncio.Event()
        signature = _signature(picture)

        async def watch(signature=signature, changed=changed) -> None:
            while not (stop.is_set() or changed.is_set()):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=rescan_seconds)
                if _signature(await sync_to_async(_fleet)()) != signature:
                    changed.set()

        async def relay(changed=changed, run_stop=run_stop) -> None:
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(changed.wait())]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for pending in waits:
                pending.cancel()
            run_stop.set()

        await asyncio.gather(
            run_listeners(fleet.listeners, run_stop), fleet.flush_bars(run_stop), watch(), relay()
        )


def run_forever() -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(stop)

    asyncio.run(main())
