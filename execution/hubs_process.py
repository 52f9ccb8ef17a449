"""The long-lived hubs process (`manage.py runhubs`): one HubListener per broker login with active
accounts. User-hub events go to execution.ingest.handle_hub_event; market trades of the contracts that
enabled strategies trade or accounts hold are built into 1-minute bars for the market-data cache and
mark open positions. The fleet is re-read every 15 seconds so new accounts and strategies are picked up
without a restart.

Prices are kept per source (execution/sources.py): each contract is fed once per source by one login of
that source (execution/price_feeds.py), its prints go to that source's bars, and they mark only the
accounts of that source. A simulator's prints can never value or risk-check a live account.
"""

import asyncio
import contextlib
import dataclasses
import logging
import signal
from datetime import UTC, datetime
from decimal import Decimal

from asgiref.sync import sync_to_async

from accounts import selectors
from analytics.health import market_hubs_down, price_feeds_record
from execution import selectors as execution_selectors
from execution.broker import gateway_client_for
from execution.gateway.hubs import HubListener, MarketTradeEvent, run_listeners
from execution.ingest import handle_hub_event
from execution.marketdata import LiveBarBuilder, bars_append_live
from execution.price_feeds import PriceFeed, contracts_fed_by, price_feeds_assign
from execution.risk_gate import account_marks_record
from execution.sources import MarketSource, market_source_for
from strategies.selectors import fleet_enabled_contracts

logger = logging.getLogger(__name__)
FLUSH_SECONDS = 2.0


def _fleet() -> tuple[dict, list[PriceFeed]]:
    """Logins with active accounts, and the price feeds: per source, each contract that enabled
    strategies trade or accounts hold (their open P&L is marked) under one login of that source,
    away from logins whose market hub is down."""
    logins = selectors.fleet_hub_logins()
    wanted: dict[int, set[str]] = {}
    for source in (fleet_enabled_contracts(), execution_selectors.fleet_position_contracts()):
        for connection_id, contract_ids in source.items():
            wanted.setdefault(connection_id, set()).update(contract_ids)
    feeds = price_feeds_assign(
        logins={pk: conn for pk, (conn, _) in logins.items()}, wanted=wanted, down=_hubs_down()
    )
    return logins, feeds


def _hubs_down() -> set[int]:
    try:
        return market_hubs_down()
    except Exception:  # health state is advisory: without it, keep the preferred logins
        logger.warning("hub states unreadable; price feeds assigned without them", exc_info=True)
        return set()


def _marks_record(source: MarketSource, marks: dict[str, Decimal]) -> None:
    """Open P&L of every account of the source's environment holding a marked contract, then its
    risk watch: `marks` are that source's prints only."""
    holding = execution_selectors.fleet_accounts_holding(
        environment=source.environment, contract_ids=list(marks)
    )
    for account in holding:
        try:
            account_marks_record(account=account, marks=marks, source=source.key)
        except Exception:  # one account's failure must not stop the others' risk watch
            logger.exception("open P&L of account %s could not be marked", account.pk)


def _signature(fleet: tuple[dict, list[PriceFeed]]) -> tuple:
    logins, feeds = fleet
    return (
        tuple(
            (pk, conn.api_key_encrypted, tuple(ids)) for pk, (conn, ids) in sorted(logins.items())
        ),
        tuple(sorted(feeds)),
    )


def _feeds_publish(feeds: list[PriceFeed]) -> None:
    """Say which login feeds each contract: in the log and on the health page."""
    for feed in feeds:
        logger.info(
            "price feed: %s %s from broker login %s%s",
            feed.source,
            feed.contract_id,
            feed.connection_id,
            " (live)" if feed.is_live else "",
        )
    try:
        price_feeds_record([dataclasses.asdict(feed) for feed in feeds])
    except Exception:  # the health page is advisory; the feeds run without it
        logger.warning("price feeds could not be reported to the health page", exc_info=True)


@dataclasses.dataclass
class SourcePrices:
    """One source's prints: the bars they build and the latest price per contract."""

    source: MarketSource
    bars: LiveBarBuilder = dataclasses.field(default_factory=LiveBarBuilder)
    marks: dict[str, Decimal] = dataclasses.field(default_factory=dict)
    marks_changed: bool = False


class Fleet:
    """The listeners of one fleet picture, and per source the bar builder and marks their market
    trades feed."""

    def __init__(self, fleet: tuple[dict, list[PriceFeed]]) -> None:
        self.sources: dict[str, SourcePrices] = {}
        self.store_bars = sync_to_async(bars_append_live, thread_sensitive=True)
        logins, feeds = fleet
        contracts = contracts_fed_by(feeds)
        self.listeners = [
            self._listener(conn, ids, contracts.get(pk, [])) for pk, (conn, ids) in logins.items()
        ]

    def _listener(self, connection, account_ids: list[int], contract_ids: list[str]) -> HubListener:
        ingest = sync_to_async(handle_hub_event, thread_sensitive=True)
        source = market_source_for(connection=connection)
        prices = self.sources.setdefault(source.key, SourcePrices(source))

        async def on_event(event) -> None:
            try:
                if isinstance(event, MarketTradeEvent):
                    trade = event.trade
                    prices.marks[trade.contract_id], prices.marks_changed = trade.price, True
                    done = prices.bars.add(trade.contract_id, trade.at, trade.price, trade.volume)
                    if done:
                        await self.store_bars(source=source.key, bars=done)
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
            for key, prices in self.sources.items():
                await self._flush(key, prices)

    async def _flush(self, key: str, prices: SourcePrices) -> None:
        done = prices.bars.flush(datetime.now(UTC))
        try:
            if done:
                await self.store_bars(source=key, bars=done)
            if prices.marks_changed:
                prices.marks_changed = False
                marks = dict(prices.marks)
                await sync_to_async(_marks_record, thread_sensitive=True)(prices.source, marks)
        except Exception:
            logger.exception("live bars or open P&L of source %s could not be stored", key)


async def serve(stop: asyncio.Event, *, rescan_seconds: float = 15.0) -> None:
    """Run until `stop` is set, rebuilding the listeners whenever the fleet changes."""
    while not stop.is_set():
        picture = await sync_to_async(_fleet)()
        fleet = await sync_to_async(Fleet)(picture)
        logger.info("hubs: %d broker logins", len(fleet.listeners))
        await sync_to_async(_feeds_publish)(picture[1])
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
