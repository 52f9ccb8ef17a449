"""The long-lived hubs process (`manage.py runhubs`): one HubListener per broker login with active
accounts. User-hub events go to execution.ingest.handle_hub_event; market trades of the contracts that
enabled strategies trade are built into 1-minute bars for the market-data cache. The fleet is re-read
every 15 seconds so new accounts and strategies are picked up without a restart."""

import asyncio
import contextlib
import logging
import signal
from datetime import UTC, datetime
from decimal import Decimal

from asgiref.sync import sync_to_async

from accounts import selectors
from execution import selectors as execution_selectors
from execution.broker import gateway_client_for
from execution.gateway.hubs import HubListener, MarketTradeEvent, run_listeners
from execution.ingest import handle_hub_event
from execution.marketdata import LiveBarBuilder, bars_append_live
from execution.risk_gate import account_marks_record
from strategies.selectors import fleet_enabled_contracts

logger = logging.getLogger(__name__)
FLUSH_SECONDS = 2.0


def _fleet() -> tuple[dict, dict]:
    """Logins with active accounts, and the contracts each login watches on the market hub: those
    enabled strategies trade and those held (their open P&L is marked), each under one login only."""
    contracts, seen = {}, set()
    for source in (fleet_enabled_contracts(), execution_selectors.fleet_position_contracts()):
        for connection_id, contract_ids in source.items():
            for contract_id in contract_ids:
                if contract_id not in seen:
                    seen.add(contract_id)
                    contracts.setdefault(connection_id, []).append(contract_id)
    return selectors.fleet_hub_logins(), contracts


def _marks_record(marks: dict[str, Decimal]) -> None:
    """Open P&L of every account holding a marked contract, then its risk watch."""
    for account in execution_selectors.fleet_accounts_holding(contract_ids=list(marks)):
        try:
            account_marks_record(account=account, marks=marks)
        except Exception:  # one account's failure must not stop the others' risk watch
            logger.exception("open P&L of account %s could not be marked", account.pk)


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
        self.marks: dict[str, Decimal] = {}
        self.marks_changed = False
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
                    self.marks[trade.contract_id], self.marks_changed = trade.price, True
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

    async def periodic(self, stop: asyncio.Event) -> None:
        """Every couple of seconds: bars of minutes that ended without a later print (a quiet market)
        are stored after a grace, and open positions are marked at the latest prints."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=FLUSH_SECONDS)
            done = self.bars.flush(datetime.now(UTC))
            try:
                if done:
                    await self.store_bars(done)
                if self.marks_changed:
                    self.marks_changed = False
                    await sync_to_async(_marks_record, thread_sensitive=True)(dict(self.marks))
            except Exception:
                logger.exception("live bars or open P&L could not be stored")


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
            run_listeners(fleet.listeners, run_stop), fleet.periodic(run_stop), watch(), relay()
        )


def run_forever() -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(stop)

    asyncio.run(main())
