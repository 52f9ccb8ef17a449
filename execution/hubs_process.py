"""The long-lived hubs process (`manage.py runhubs`): one HubListener per broker login with active
accounts. User-hub events go to execution.ingest.handle_hub_event; market trades of the contracts that
enabled strategies trade or accounts hold are built into 1-minute bars for the market-data cache and
mark open positions. The fleet is re-read every 15 seconds so new accounts and strategies are picked up
without a restart.

Prices are kept per source (execution/sources.py): each contract is fed once per source by one login of
that source (execution/price_feeds.py), its prints go to that source's bars, and they mark only the
accounts of that source. A simulator's prints can never value or risk-check a live account.

A market hub can freeze while its connection says it is healthy (projectx-gateway.md §11). The feed
watchdog (`FeedWatchdog`) compares, per fed contract, the newest hub event with the gateway's newest
REST bar; a stale feed is recorded in Redis for the desks (which then do not step), its hub-built
bars since the freeze are forgotten (REST refills them), the trader and operator are alerted, and
the login's market hub is reconnected (one reconnect at a time, subscriptions replayed).
"""

import asyncio
import contextlib
import dataclasses
import logging
import signal
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.conf import settings

from accounts import selectors
from analytics.health import market_hubs_down, price_feeds_record
from execution import selectors as execution_selectors
from execution.broker import gateway_client_for
from execution.gateway.errors import GatewayError
from execution.gateway.hubs import MARKET_HUB, HubListener, MarketTradeEvent, run_listeners
from execution.gateway.types import BarUnit
from execution.ingest import handle_hub_event
from execution.marketdata import LiveBarBuilder, bars_append_live, bars_uncover_since
from execution.price_feeds import (
    PriceFeed,
    contracts_fed_by,
    feed_fresh_record,
    feed_is_stale,
    feed_stale_record,
    price_feeds_assign,
)
from execution.risk_gate import account_marks_record
from execution.sources import MarketSource, market_source_for
from notifications.services import notify
from strategies.selectors import fleet_enabled_contracts

logger = logging.getLogger(__name__)
FLUSH_SECONDS = 2.0


def _wanted() -> dict[int, set[str]]:
    """connection id -> the contracts its enabled strategies trade or its accounts hold."""
    wanted: dict[int, set[str]] = {}
    for source in (fleet_enabled_contracts(), execution_selectors.fleet_position_contracts()):
        for connection_id, contract_ids in source.items():
            wanted.setdefault(connection_id, set()).update(contract_ids)
    return wanted


def _fleet() -> tuple[dict, list[PriceFeed]]:
    """Logins with active accounts, and the price feeds: per source, each contract that enabled
    strategies trade or accounts hold (their open P&L is marked) under one login of that source,
    away from logins whose market hub is down."""
    logins = selectors.fleet_hub_logins()
    wanted = _wanted()
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


@dataclasses.dataclass
class WatchedLogin:
    """A login whose market hub feeds contracts, as the feed watchdog sees it."""

    connection: object
    source: MarketSource
    listener: HubListener
    client: object  # its GatewayClient, for the REST side of the comparison
    reconnected_at: float = float("-inf")  # monotonic time of the last reconnect requested


class Fleet:
    """The listeners of one fleet picture, and per source the bar builder and marks their market
    trades feed."""

    def __init__(self, fleet: tuple[dict, list[PriceFeed]]) -> None:
        self.sources: dict[str, SourcePrices] = {}
        self.watched: list[WatchedLogin] = []
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
        listener = HubListener.for_client(
            client,
            account_ids=account_ids,
            contract_ids=contract_ids,
            on_event=on_event,
            subscribe_market_trades=True,
        )
        self.watched.append(WatchedLogin(connection, source, listener, client))
        return listener

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


class FeedWatchdog:
    """Every `check_seconds`, each fed contract's newest market-hub event against the gateway's
    newest REST bar (see the module docstring). State lives for the process: the stale record in
    Redis expires on its own if the process dies."""

    def __init__(self, *, check_seconds: float, stale_after: timedelta) -> None:
        self.check_seconds = check_seconds
        self.stale_after = stale_after
        self.stale_since: dict[tuple[str, str], datetime] = {}
        self.baseline: dict[tuple[str, str], datetime] = {}  # first REST bar of a silent feed

    async def run(self, fleet: Fleet, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.check_seconds)
            for watched in fleet.watched:
                if not watched.listener.market.connected.is_set():
                    continue  # a hub that is down is the supervisor's; the health page shows it
                for contract_id in list(watched.listener.contract_ids):
                    try:
                        await self.check(watched, contract_id)
                    except GatewayError as exc:  # REST busy or down: judge at the next check
                        logger.warning("feed check of %s skipped: %s", contract_id, exc)
                    except Exception:  # one contract's check must not stop the others'
                        logger.exception("feed check of %s failed", contract_id)

    async def check(self, watched: WatchedLogin, contract_id: str) -> bool:
        """Judge one contract's feed; True while it is stale."""
        key = (watched.source.key, contract_id)
        seen = watched.listener.market_seen_at.get(contract_id)
        rest_at = await asyncio.to_thread(self._newest_rest_bar, watched.client, contract_id, seen)
        if seen is None and rest_at is not None:
            seen = self.baseline.setdefault(key, rest_at)
        if not feed_is_stale(last_event_at=seen, rest_bar_at=rest_at, threshold=self.stale_after):
            if self.stale_since.pop(key, None) is not None:
                await sync_to_async(feed_fresh_record)(source=key[0], contract_id=contract_id)
                logger.warning("market feed of %s (%s) is fresh again", contract_id, key[0])
            return False
        first = key not in self.stale_since
        since = self.stale_since.setdefault(key, seen)
        await sync_to_async(feed_stale_record)(
            source=key[0],
            contract_id=contract_id,
            since=since,
            last_event_at=seen,
            rest_bar_at=rest_at,
        )
        if first:
            await sync_to_async(_feed_stale_effects, thread_sensitive=True)(
                watched.source, contract_id, seen, rest_at
            )
        now = time.monotonic()
        if now - watched.reconnected_at >= self.stale_after.total_seconds():
            reason = f"{contract_id} feed stale since {seen:%H:%M:%S}Z"
            if watched.listener.request_reconnect(MARKET_HUB, reason):
                watched.reconnected_at = now
        return True

    @staticmethod
    def _newest_rest_bar(client, contract_id: str, seen: datetime | None) -> datetime | None:
        now = datetime.now(UTC)
        start = (seen or now - timedelta(days=1)) - timedelta(minutes=1)
        bars = client.retrieve_bars(
            contract_id,
            start=start,
            end=max(now, start) + timedelta(minutes=1),
            unit=BarUnit.MINUTE,
            include_partial_bar=True,
        )
        return max((bar.opened_at for bar in bars), default=None)


def _feed_stale_effects(
    source: MarketSource, contract_id: str, last_event_at: datetime, rest_bar_at: datetime
) -> None:
    """Once per stale episode: forget the hub-built bars since the freeze (they may be partial;
    REST refills them) and alert the operator (log) and every desk whose login of this source
    wants the contract."""
    minute = last_event_at.replace(second=0, microsecond=0)
    bars_uncover_since(source=source.key, contract_id=contract_id, since=minute)
    logger.error(
        "market feed of %s (%s) is stale: newest hub event %s, newest REST bar %s",
        contract_id,
        source.key,
        last_event_at.isoformat(),
        rest_bar_at.isoformat(),
    )
    logins = selectors.fleet_hub_logins()
    tenants = {
        logins[pk][0].tenant_id
        for pk, contracts in _wanted().items()
        if contract_id in contracts
        and pk in logins
        and market_source_for(connection=logins[pk][0]).key == source.key
    }
    for tenant_id in sorted(tenants):
        notify(
            tenant_id=tenant_id,
            event="error",
            title=f"{contract_id}: market data feed frozen, strategies paused",
            body="The broker's market hub stopped sending prices while its REST bars go on. "
            "Strategies on this contract do not step until the feed is fresh; the hub is "
            "being reconnected.",
            fields={
                "Newest hub price": last_event_at.isoformat(),
                "Newest bar": rest_bar_at.isoformat(),
            },
            dedupe_key=f"feed-stale:{source.key}:{contract_id}:{last_event_at:%Y%m%dT%H%M%S}",
        )


async def serve(stop: asyncio.Event, *, rescan_seconds: float = 15.0) -> None:
    """Run until `stop` is set, rebuilding the listeners whenever the fleet changes."""
    watchdog = FeedWatchdog(
        check_seconds=settings.MARKET_FEED_CHECK_SECONDS,
        stale_after=timedelta(seconds=settings.MARKET_FEED_STALE_SECONDS),
    )
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
            run_listeners(fleet.listeners, run_stop),
            fleet.periodic(run_stop),
            watchdog.run(fleet, run_stop),
            watch(),
            relay(),
        )


def run_forever() -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(stop)

    asyncio.run(main())
