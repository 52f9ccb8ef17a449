"""ProjectX Gateway client: REST (`GatewayClient`), shared rate limits and metrics in Redis, and the
real-time hubs (`HubListener`). No Django imports: settings arrive through `GatewayConfig` and
`Credentials`, so Celery workers, management commands and the hub process share one client.

Typical wiring::

    r = redis.Redis.from_url(settings.REDIS_URL)
    client = GatewayClient(
        GatewayConfig(base_url=..., user_hub_url=..., market_hub_url=...),
        Credentials(username, api_key),
        rate_limiter=RedisRateLimiter(r),
        metrics=RedisMetrics(r),
    )
    accounts = client.search_accounts()
"""

from execution.gateway.client import GatewayClient
from execution.gateway.config import Credentials, GatewayConfig
from execution.gateway.errors import (
    AuthenticationFailed,
    BrokerRejected,
    BrokerUnavailable,
    GatewayError,
    InvalidRequest,
    MalformedResponse,
    OrderStateConflict,
    OrderSubmissionUncertain,
    OutcomeUncertain,
    RateLimited,
)
from execution.gateway.hubs import (
    AccountEvent,
    DepthEvent,
    HubEvent,
    HubListener,
    HubStateEvent,
    MarketTradeEvent,
    OrderEvent,
    PositionEvent,
    QuoteEvent,
    TradeEvent,
    run_listeners,
    run_listeners_forever,
)
from execution.gateway.metrics import RedisMetrics
from execution.gateway.ratelimit import EndpointGroup, RateLimit, RedisRateLimiter
from execution.gateway.types import (
    Account,
    Bar,
    BarUnit,
    Bracket,
    Contract,
    DepthEntry,
    DomType,
    HalfTrade,
    MarketTrade,
    ModifyOrderRequest,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    PlacedOrder,
    PlaceOrderRequest,
    Position,
    PositionType,
    Quote,
    TradeLogType,
)

__all__ = [
    "Account",
    "AccountEvent",
    "AuthenticationFailed",
    "Bar",
    "BarUnit",
    "Bracket",
    "BrokerRejected",
    "BrokerUnavailable",
    "Contract",
    "Credentials",
    "DepthEntry",
    "DepthEvent",
    "DomType",
    "EndpointGroup",
    "GatewayClient",
    "GatewayConfig",
    "GatewayError",
    "HalfTrade",
    "HubEvent",
    "HubListener",
    "HubStateEvent",
    "InvalidRequest",
    "MalformedResponse",
    "MarketTrade",
    "MarketTradeEvent",
    "ModifyOrderRequest",
    "Order",
    "OrderEvent",
    "OrderSide",
    "OrderStateConflict",
    "OrderStatus",
    "OrderSubmissionUncertain",
    "OrderType",
    "OutcomeUncertain",
    "PlaceOrderRequest",
    "PlacedOrder",
    "Position",
    "PositionEvent",
    "PositionType",
    "Quote",
    "QuoteEvent",
    "RateLimit",
    "RateLimited",
    "RedisMetrics",
    "RedisRateLimiter",
    "TradeEvent",
    "TradeLogType",
    "run_listeners",
    "run_listeners_forever",
]
