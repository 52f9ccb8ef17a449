"""The platform's side of the gateway: a client per broker connection, and the broker-facing services
(flatten, cancel, sync of accounts and contracts).

Clients are cached per process and connection (one login, one token), and share the Redis rate limiter
and metrics with every other process, so the whole fleet stays inside each broker user's budget.
"""

import contextlib
import hashlib
import logging
import threading
from datetime import datetime
from decimal import Decimal

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import AccountPlan, BrokerConnection, GatewayEnvironment, TradingAccount
from accounts.services import audit_record, broker_connection_api_key
from execution.gateway import types as gw
from execution.gateway.client import GatewayClient
from execution.gateway.config import Credentials, GatewayConfig
from execution.gateway.errors import BrokerRejected, OrderStateConflict
from execution.gateway.metrics import RedisMetrics
from execution.gateway.ratelimit import RedisRateLimiter
from execution.models import Instrument, Position
from execution.realtime import publish_account_event
from markets.sessions import globex_session, trading_date
from markets.ticks import UnknownContract, spec_for
from notifications.services import notify

logger = logging.getLogger(__name__)

_clients: dict[int, tuple[str, GatewayClient]] = {}
_clients_lock = threading.Lock()


def gateway_config(environment: str) -> GatewayConfig:
    if environment == GatewayEnvironment.LIVE:
        urls = (
            settings.PROJECTX_LIVE_API_URL,
            settings.PROJECTX_LIVE_USER_HUB_URL,
            settings.PROJECTX_LIVE_MARKET_HUB_URL,
        )
    else:
        urls = (
            settings.PROJECTX_SIM_API_URL,
            settings.PROJECTX_SIM_USER_HUB_URL,
            settings.PROJECTX_SIM_MARKET_HUB_URL,
        )
    return GatewayConfig(
        base_url=urls[0],
        user_hub_url=urls[1],
        market_hub_url=urls[2],
        timeout_seconds=settings.PROJECTX_TIMEOUT_SECONDS,
    )


def _redis() -> redis.Redis:
    # Short time-outs: a Redis that hangs must not hold an order (the limiter then counts locally).
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)


def _redis_unavailable_alert(
    *, tenant_id: int, connection_id: int, name: str, exc: Exception
) -> None:
    """The rate limiter lost Redis: orders still go out under a local share of the budget, but the
    desk should know (the health page shows Redis down too). Once per login and hour."""
    notify(
        tenant_id=tenant_id,
        event="error",
        title=f"{name}: Redis unreachable, broker calls run on a local rate limit",
        body="Orders still reach the broker. Orders stored meanwhile are sent by reconciliation "
        "once Redis is back.",
        fields={"Error": f"{type(exc).__name__}: {exc}"[:200]},
        dedupe_key=f"redis-unavailable:{connection_id}:{timezone.now():%Y-%m-%dT%H}",
    )


def gateway_client_for(*, connection: BrokerConnection) -> GatewayClient:
    """The process's client for this login; rebuilt when the stored API key changes."""
    fingerprint = hashlib.sha256(connection.api_key_encrypted.encode()).hexdigest()
    with _clients_lock:
        cached = _clients.get(connection.pk)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        if cached is not None:
            cached[1].close()
        shared = _redis()
        client = GatewayClient(
            gateway_config(connection.environment),
            Credentials(connection.username, broker_connection_api_key(connection=connection)),
            rate_limiter=RedisRateLimiter(
                shared,
                on_unavailable=lambda exc: _redis_unavailable_alert(
                    tenant_id=connection.tenant_id,
                    connection_id=connection.pk,
                    name=connection.name,
                    exc=exc,
                ),
            ),
            metrics=RedisMetrics(shared),
        )
        _clients[connection.pk] = (fingerprint, client)
        return client


def _cancel_working(account: TradingAccount, contract_id: str | None = None) -> list[int]:
    """Cancel the account's working orders (of one contract, or all) at the broker; an order that
    filled or was cancelled meanwhile is passed over, so a flatten never stops half-way."""
    client = gateway_client_for(connection=account.connection)
    orders = client.search_open_orders(account.projectx_account_id)
    cancelled = []
    for order in orders:
        if contract_id in (None, order.contract_id):
            with contextlib.suppress(OrderStateConflict, BrokerRejected):
                client.cancel_order(account.projectx_account_id, order.id)
            cancelled.append(order.id)
    return cancelled


def _close_positions(account: TradingAccount, contract_id: str | None = None) -> list[str]:
    """Close the account's open positions (on one contract, or all) at market."""
    client = gateway_client_for(connection=account.connection)
    closed = []
    for position in client.search_open_positions(account.projectx_account_id):
        if contract_id in (None, position.contract_id):
            client.close_position(account.projectx_account_id, position.contract_id)
            closed.append(position.contract_id)
    return closed


def account_cancel_open_orders(*, account: TradingAccount) -> int:
    """Cancel every working order of the account at the broker; returns how many were cancelled."""
    cancelled = _cancel_working(account)
    audit_record(
        tenant=account.tenant_id,
        actor=None,
        actor_label="execution",
        target=account,
        action="account.open_orders_cancelled",
        after={"broker_order_ids": cancelled},
    )
    return len(cancelled)


def contract_flatten(*, account: TradingAccount, contract_id: str, reason: str) -> None:
    """Cancel what is working on one contract, then close its position: a strategy's flatten, which
    must not touch the account's other contracts. Idempotent (acts on what is still open)."""
    cancelled = _cancel_working(account, contract_id)
    closed = _close_positions(account, contract_id)
    audit_record(
        tenant=account.tenant_id,
        actor=None,
        actor_label="execution",
        target=account,
        action="account.contract_flattened",
        after={"reason": reason, "contract": contract_id, "cancelled": cancelled, "closed": closed},
    )


def account_flatten(*, account: TradingAccount, reason: str) -> None:
    """Cancel everything working, then close every open position at the broker."""
    cancelled = account_cancel_open_orders(account=account)
    closed = _close_positions(account)
    audit_record(
        tenant=account.tenant_id,
        actor=None,
        actor_label="execution",
        target=account,
        action="account.flattened",
        after={"reason": reason, "cancelled": cancelled, "closed": closed},
    )
    publish_account_event(
        tenant_id=account.tenant_id,
        account_id=account.pk,
        kind="flattened",
        data={"reason": reason, "cancelled_orders": cancelled, "closed_contracts": closed},
    )
    logger.info(
        "flattened account %s: %s orders cancelled, %s closed (%s)",
        account.pk,
        cancelled,
        closed,
        reason,
    )


@transaction.atomic
def connection_sync(
    *, connection: BrokerConnection, plan: AccountPlan | None = None
) -> list[TradingAccount]:
    """Create or update our trading accounts and instruments from what the broker reports."""
    client = gateway_client_for(connection=connection)
    for contract in client.available_contracts(live=False):
        instrument_upsert(contract=contract)
    plan = plan or AccountPlan.objects.get(
        code="practice-50k" if connection.is_simulated else "combine-50k"
    )
    accounts = []
    for remote in client.search_accounts(only_active=True):
        account = (
            TradingAccount.objects.for_tenant(connection.tenant_id)
            .filter(connection=connection, projectx_account_id=remote.id)
            .first()
        )
        if account is None:
            from accounts.services import trading_account_create

            account = trading_account_create(
                tenant=connection.tenant,
                actor=None,
                connection=connection,
                projectx_account_id=remote.id,
                name=remote.name,
                plan=plan,
                starting_balance_usd=remote.balance_usd.quantize(Decimal("0.01")),
            )
        accounts.append(account)
    return accounts


def instrument_upsert(*, contract) -> Instrument:
    """Reference data for one contract; our symbol and fees come from markets.ticks."""
    try:
        spec = spec_for(contract.symbol_id or contract.id)
        symbol, fee = spec.symbol, spec.fee_per_side_usd
    except UnknownContract:  # a product we have no spec for: real fees come with each trade
        symbol, fee = contract.name, Decimal("0")
    instrument, _ = Instrument.objects.update_or_create(
        contract_id=contract.id,
        defaults={
            "symbol": symbol,
            "symbol_id": contract.symbol_id or "",
            "name": contract.name,
            "description": contract.description,
            "tick_size": contract.tick_size,
            "tick_value_usd": contract.tick_value_usd,
            "fee_per_side_usd": fee,
            "is_active": contract.active_contract,
        },
    )
    return instrument


def account_resync(*, account: TradingAccount, since: datetime | None = None) -> None:
    """Take the broker's truth by REST (after a hub gap, at start-up, or periodically): today's
    orders and trades, open positions (a position we hold that the broker doesn't is closed) and the
    balance, through the same ingest services as the hub events."""
    from execution import ingest  # ingest imports services that import this module's callers

    client = gateway_client_for(connection=account.connection)
    px_id = account.projectx_account_id
    if since is None:
        since, _ = globex_session(trading_date(timezone.now()))
    for order in client.search_orders(px_id, start=since):
        ingest.order_record_broker_update(account=account, order=order)
    for trade in client.search_trades(px_id, start=since):
        ingest.fill_record(account=account, trade=trade)
    open_positions = client.search_open_positions(px_id)
    held = {p.contract_id for p in open_positions}
    for position in open_positions:
        ingest.position_record(account=account, position=position)
    stale = (
        Position.objects.for_tenant(account.tenant_id).filter(account=account).exclude(net_size=0)
    )
    for row in stale.select_related("instrument"):
        if row.instrument.contract_id not in held:
            closed = gw.Position(
                id=0,
                account_id=px_id,
                contract_id=row.instrument.contract_id,
                created_at=timezone.now(),
                type=gw.PositionType.UNDEFINED,
                size=0,
                average_price=Decimal(0),
            )
            ingest.position_record(account=account, position=closed)
    for remote in client.search_accounts(only_active=False):
        if remote.id == px_id:
            ingest.account_balance_record(account=account, balance_usd=remote.balance_usd)
