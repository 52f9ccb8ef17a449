"""The long-lived hubs process (`manage.py runhubs`): one HubListener per broker login with active
accounts, every event handed to execution.ingest.handle_hub_event, the fleet re-read every minute so
new accounts are picked up without a restart."""

import asyncio
import contextlib
import logging
import signal

from asgiref.sync import sync_to_async

from accounts import selectors
from execution.broker import gateway_client_for
from execution.gateway.hubs import HubListener, run_listeners
from execution.ingest import handle_hub_event

logger = logging.getLogger(__name__)


def _fleet_signature() -> tuple:
    return tuple(
        (conn_id, conn.api_key_encrypted, tuple(ids))
        for conn_id, (conn, ids) in sorted(selectors.fleet_hub_logins().items())
    )


def _listeners() -> list[HubListener]:
    listeners = []
    for connection, account_ids in selectors.fleet_hub_logins().values():
        ingest = sync_to_async(handle_hub_event, thread_sensitive=True)

        async def on_event(event, connection=connection, ingest=ingest) -> None:
            try:
                await ingest(connection=connection, event=event)
            except Exception:  # one bad event must not stop the login's stream; resync repairs
                logger.exception("hub event for connection %s could not be stored", connection.pk)

        client = gateway_client_for(connection=connection)
        listeners.append(
            HubListener.for_client(
                client, account_ids=account_ids, on_event=on_event, subscribe_market_trades=False
            )
        )
    return listeners


async def serve(stop: asyncio.Event, *, rescan_seconds: float = 60.0) -> None:
    """Run until `stop` is set, rebuilding the listeners whenever the fleet changes."""
    while not stop.is_set():
        signature = await sync_to_async(_fleet_signature)()
        listeners = await sync_to_async(_listeners)()
        logger.info("hubs: %d broker logins", len(listeners))
        changed = asyncio.Event()

        async def watch(signature=signature, changed=changed) -> None:
            while not (stop.is_set() or changed.is_set()):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=rescan_seconds)
                if await sync_to_async(_fleet_signature)() != signature:
                    changed.set()

        run_stop = asyncio.Event()

        async def relay(changed=changed, run_stop=run_stop) -> None:
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(changed.wait())]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for pending in waits:
                pending.cancel()
            run_stop.set()

        await asyncio.gather(run_listeners(listeners, run_stop), watch(), relay())


def run_forever() -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(stop)

    asyncio.run(main())
