"""Which broker login feeds each contract's prices, per source (execution/sources.py).

The hubs process subscribes each contract's market trades once per source, under one login of that
source: a live account's open P&L, risk watch and bars come only from a live login's prints, a paper
account's only from its simulator's. When the feeding login's market hub is down, the contract moves to
another login of the same source (failover never crosses sources: a simulator cannot stand in for the
live gateway). The assignment is logged and reported to the health page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from accounts.models import BrokerConnection
from execution.sources import MarketSource, market_source_for


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
