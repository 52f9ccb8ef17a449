"""`manage.py trading`: the operators' command line, with readable tables.

    python manage.py trading orders    --tenant demo-desk [--account ID] [--open]
    python manage.py trading positions --tenant demo-desk [--account ID]
    python manage.py trading place     --tenant demo-desk --account ID --contract CON.F.US.EP.Z26 \\
                                       --side buy --size 1 [--type market|limit|stop] [--price P] \\
                                       [--stop-loss-ticks N --take-profit-ticks N]
    python manage.py trading flatten   --tenant demo-desk [--account ID] --reason "..."
    python manage.py trading decisions --tenant demo-desk [--account ID] [--pending]
    python manage.py trading metrics

A manual order goes through the same order service and risk checks as a strategy's; a refusal prints
every failed rule. Every write is audited under the operator's name (`--as USERNAME`, default: system).
"""

from decimal import Decimal, InvalidOperation

import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import selectors as account_selectors
from accounts.models import Tenant
from execution import selectors, services, trading
from execution.gateway.metrics import RedisMetrics
from execution.models import OrderSide, OrderStatus, OrderType

ORDER_TYPES = {"market": OrderType.MARKET, "limit": OrderType.LIMIT, "stop": OrderType.STOP}
SIDES = {"buy": OrderSide.BUY, "sell": OrderSide.SELL}


def table(rows: list[list[object]], headers: list[str]) -> str:
    """Left-aligned text columns, as wide as their widest cell."""
    cells = [
        [str(c) for c in headers],
        *[["" if c is None else str(c) for c in row] for row in rows],
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


class Command(BaseCommand):
    help = (
        "Operators' tools: list orders, positions and the strategies' decisions, place a manual "
        "order, flatten, show metrics."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        for name in ("orders", "positions", "place", "flatten", "decisions"):
            p = sub.add_parser(name)
            p.add_argument("--tenant", required=True, help="tenant slug")
            p.add_argument("--account", type=int, help="trading account id (our id)")
            p.add_argument("--as", dest="operator", help="username the audit log records")
        sub.choices["orders"].add_argument(
            "--open", action="store_true", help="working orders only"
        )
        place = sub.choices["place"]
        place.add_argument("--contract", required=True, help="ProjectX contract id")
        place.add_argument("--side", required=True, choices=sorted(SIDES))
        place.add_argument("--size", required=True, type=int)
        place.add_argument("--type", default="market", choices=sorted(ORDER_TYPES))
        place.add_argument("--price", help="limit or stop price")
        place.add_argument("--stop-loss-ticks", type=int)
        place.add_argument("--take-profit-ticks", type=int)
        sub.choices["flatten"].add_argument("--reason", required=True)
        sub.choices["decisions"].add_argument(
            "--pending", action="store_true", help="only those still to carry out"
        )
        sub.add_parser("metrics")

    def handle(self, *args, **options) -> None:
        action = options["action"]
        if action == "metrics":
            return self.metrics()
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no tenant with slug {options['tenant']!r}")
        account = self.account(tenant, options["account"]) if options["account"] else None
        operator = self.operator(options["operator"])
        return getattr(self, action)(tenant, account, operator, options)

    def account(self, tenant: Tenant, account_id: int):
        account = account_selectors.trading_account_get(tenant=tenant, account_id=account_id)
        if account is None:
            raise CommandError(f"tenant {tenant.slug} has no trading account {account_id}")
        return account

    def operator(self, username: str | None):
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        return user

    def orders(self, tenant, account, operator, options) -> None:
        orders = selectors.order_list(tenant=tenant, account=account)
        if options["open"]:
            orders = orders.exclude(
                status__in=[
                    OrderStatus.FILLED,
                    OrderStatus.CANCELLED,
                    OrderStatus.REJECTED,
                    OrderStatus.EXPIRED,
                ]
            )
        rows = [
            [
                o.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                o.account.name,
                o.instrument.contract_id,
                o.get_side_display(),
                o.size,
                o.get_order_type_display(),
                o.limit_price or o.stop_price,
                o.status,
                o.filled_size,
                o.broker_order_id,
                o.rejection_reason[:60],
            ]
            for o in orders[:200]
        ]
        self.stdout.write(
            table(
                rows,
                [
                    "created (UTC)",
                    "account",
                    "contract",
                    "side",
                    "size",
                    "type",
                    "price",
                    "status",
                    "filled",
                    "broker id",
                    "reason",
                ],
            )
        )

    def decisions(self, tenant, account, operator, options) -> None:
        """The live strategies' journal: every decision with its reason and what came of it."""
        from strategies.models import DecisionStatus
        from strategies.selectors import strategy_decision_list

        statuses = [DecisionStatus.PENDING] if options["pending"] else []
        decisions = strategy_decision_list(tenant=tenant, account=account, statuses=statuses)
        rows = [
            [
                d.decided_at.strftime("%Y-%m-%d %H:%M:%S"),
                d.strategy_config.name if d.strategy_config else "desk",
                d.action,
                d.tag,
                d.status,
                d.reason[:60],
                d.outcome[:60],
            ]
            for d in decisions[:200]
        ]
        headers = ["decided (UTC)", "strategy", "action", "tag", "status", "reason", "outcome"]
        self.stdout.write(table(rows, headers))

    def positions(self, tenant, account, operator, options) -> None:
        accounts = (
            [account] if account else list(account_selectors.trading_account_list(tenant=tenant))
        )
        rows = [
            [a.name, p.instrument.contract_id, p.net_size, p.average_price, p.unrealized_pnl_usd]
            for a in accounts
            for p in selectors.position_list_open(tenant=tenant, account=a)
        ]
        self.stdout.write(
            table(rows, ["account", "contract", "net size", "average price", "open P&L $"])
        )

    def place(self, tenant, account, operator, options) -> None:
        if account is None:
            raise CommandError("place needs --account")
        instrument = selectors.instrument_get(contract_id=options["contract"])
        if instrument is None:
            raise CommandError(
                f"unknown contract {options['contract']!r} (sync contracts from the broker)"
            )
        price = self.price(options)
        order_type = ORDER_TYPES[options["type"]]
        proposal = trading.OrderProposal(
            instrument=instrument,
            side=SIDES[options["side"]],
            size=options["size"],
            order_type=order_type,
            limit_price=price if order_type == OrderType.LIMIT else None,
            stop_price=price if order_type == OrderType.STOP else None,
            stop_loss_ticks=options["stop_loss_ticks"],
            take_profit_ticks=options["take_profit_ticks"],
        )
        try:
            order = trading.order_submit(
                tenant=tenant, account=account, proposal=proposal, actor=operator
            )
        except (trading.InvalidOrder, PermissionError) as exc:
            raise CommandError(str(exc)) from exc
        if order.status == OrderStatus.REJECTED:
            raise CommandError(f"refused: {order.rejection_reason}")
        self.stdout.write(
            f"order {order.public_id} stored ({order.custom_tag}); a worker sends it now"
        )

    def price(self, options) -> Decimal | None:
        if options["type"] == "market":
            if options["price"]:
                raise CommandError("a market order takes no --price")
            return None
        try:
            return Decimal(options["price"])
        except (TypeError, InvalidOperation) as exc:
            raise CommandError(f"a {options['type']} order needs --price as a decimal") from exc

    def flatten(self, tenant, account, operator, options) -> None:
        if account is None:
            flattened = trading.tenant_flatten(
                tenant=tenant, actor=operator, reason=options["reason"]
            )
            self.stdout.write(f"flatten queued for {len(flattened)} account(s) of {tenant.slug}")
            return
        services.account_flatten_request(
            tenant=tenant, account=account, actor=operator, reason=options["reason"]
        )
        self.stdout.write(f"flatten queued for {account.name}")

    def metrics(self) -> None:
        stats = RedisMetrics(redis.Redis.from_url(settings.REDIS_URL)).snapshot()
        rows = [
            [
                s.endpoint,
                s.calls,
                s.calls_today,
                s.errors,
                s.rate_limited,
                s.p50_ms,
                s.p95_ms,
                s.max_ms,
            ]
            for s in stats.values()
        ]
        self.stdout.write(
            table(
                rows, ["endpoint", "calls", "today", "errors", "429s", "p50 ms", "p95 ms", "max ms"]
            )
        )
