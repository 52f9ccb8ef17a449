"""Where market data comes from. A source is one gateway: the live TopStepX gateway, or a simulator.

Prices of different sources never mix: the simulator uses TopStepX's contract ids, so a bar or a
print is only meaningful together with its source. A source is named by a short stable key of its
environment and API base URL ("live-3f09c1d2ab"), so pointing an environment at another gateway
starts a fresh cache instead of reusing the old one's prices.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from accounts.models import BrokerConnection, GatewayEnvironment
from execution.broker import gateway_config

SOURCE_KEY_LENGTH = 24  # the column width of the cache tables' `source`


@dataclass(frozen=True)
class MarketSource:
    key: str
    environment: str

    @property
    def is_live(self) -> bool:
        return self.environment == GatewayEnvironment.LIVE


def source_key(*, environment: str, api_url: str) -> str:
    digest = hashlib.sha256(f"{environment}|{api_url.rstrip('/').lower()}".encode()).hexdigest()
    return f"{environment}-{digest[:10]}"


def market_source(environment: str) -> MarketSource:
    """The source an environment's logins read, at the URL the settings give it now."""
    url = gateway_config(environment).api_root
    return MarketSource(
        key=source_key(environment=environment, api_url=url), environment=environment
    )


def market_source_for(*, connection: BrokerConnection) -> MarketSource:
    return market_source(connection.environment)
