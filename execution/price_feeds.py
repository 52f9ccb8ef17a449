"""Which broker login feeds each contract's prices, per source (execution/sources.py).

The hubs process subscribes each contract's market trades once per source, under one login of that
source: a live account's open P&L, risk watch and bars come only from a live login's prints, a paper
account's only from its simulator's. When the feeding login's market hub is down, the contract moves to
another login of the same source (failover never crosses sources: a simulator cannot stand in for the
live gateway). The assignment is logged and reported to the health page.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from django.conf import settings

from accounts.models import BrokerConnection
from execution.sources import MarketSource, market_source_for

logger = logging.getLogger(__name__)


@dataclass(frozen=True, order=True)
class PriceFeed:
    source: str
    contract_id: str
    connection_id: int
    is_live: bool


def price_feeds_assign(
    *,
    logins: Mapping[int, BrokerConnection],
    wanted: Mapping[int, Iterable[str]],
    down: Iterable[int] = (),
) -> list[PriceFeed]:
    """One feeding login per (source, contract) that a login of the source wants: a login whose market
    hub is up before one that is down, then one that wants the contract itself, then the oldest."""
    down = set(down)
    sources: dict[int, MarketSource] = {
        pk: market_source_for(connection=conn) for pk, conn in logins.items()
    }
    wanted_by_source: dict[str, set[str]] = {}
    for pk, contract_ids in wanted.items():
        if pk in sources:
            wanted_by_source.setdefault(sources[pk].key, set()).update(contract_ids)
    feeds = []
    for key, contract_ids in sorted(wanted_by_source.items()):
        candidates = sorted(pk for pk, source in sources.items() if source.key == key)
        for contract_id in sorted(contract_ids):
            chosen = min(
                candidates,
                key=lambda pk, c=contract_id: (pk in down, c not in wanted.get(pk, ()), pk),
            )
            feeds.append(PriceFeed(key, contract_id, chosen, sources[chosen].is_live))
    return feeds


def contracts_fed_by(feeds: Iterable[PriceFeed]) -> dict[int, list[str]]:
    """connection id -> the contracts whose market trades it subscribes."""
    by_login: dict[int, list[str]] = {}
    for feed in feeds:
        by_login.setdefault(feed.connection_id, []).append(feed.contract_id)
    return by_login


# --- Freshness ------------------------------------------------------------------------------------
# A market hub can freeze for minutes while its connection says it is healthy, and REST bars stay
# fresh (projectx-gateway.md §11). So the hubs process's watchdog compares, per fed contract, the
# exchange time of the newest hub event with the open of the gateway's newest REST bar (never the
# user hub: a quiet user hub while flat is normal). A stale feed is recorded here, per source and
# contract, for the desks (strategies/live/steps.py does not step on a stale tail); the record
# expires unless renewed, so a hubs process that died leaves no stale flag behind.

STALE_RECORD_TTL_SECONDS = 600


def feed_is_stale(
    *, last_event_at: datetime | None, rest_bar_at: datetime | None, threshold: timedelta
) -> bool:
    """The gateway has a bar that opened `threshold` or more after the hub's newest event."""
    if rest_bar_at is None or last_event_at is None:
        return False  # nothing traded (a closed market) or nothing to compare with yet
    return rest_bar_at - last_event_at >= threshold


def _stale_key(source: str, contract_id: str) -> str:
    return f"{settings.HEALTH_KEY_PREFIX}:feed_stale:{source}:{contract_id}"


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)


def feed_stale_record(
    *,
    source: str,
    contract_id: str,
    since: datetime,
    last_event_at: datetime,
    rest_bar_at: datetime,
) -> None:
    state = {
        "since": since.isoformat(),
        "last_event_at": last_event_at.isoformat(),
        "rest_bar_at": rest_bar_at.isoformat(),
    }
    _redis().set(_stale_key(source, contract_id), json.dumps(state), ex=STALE_RECORD_TTL_SECONDS)


def feed_fresh_record(*, source: str, contract_id: str) -> None:
    _redis().delete(_stale_key(source, contract_id))


def feed_staleness(*, source: str, contract_id: str) -> dict[str, str] | None:
    """The stale record of the contract's feed in `source`, or None while it is fresh. Redis down
    reads as fresh: bars then come from REST alone (nothing built from the hub is newer)."""
    try:
        raw = _redis().get(_stale_key(source, contract_id))
    except redis.RedisError as exc:
        logger.warning("feed freshness unreadable (%s): taken as fresh", exc)
        return None
    return json.loads(raw) if raw else None
