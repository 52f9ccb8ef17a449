"""The market-open burst's submissions as worker tasks (loaded by the benchmark's workers with
`celery worker -I bench.burst_tasks`): at the open, the desks' steps submit in the workers, one
process per core, not in one process's threads."""

from datetime import datetime
from decimal import Decimal

from celery import shared_task


@shared_task(name="bench.burst_submit")
def burst_submit(*, account_id: int, instrument_id: int, open_at: str) -> int:
    from accounts.models import TradingAccount
    from execution import trading
    from execution.models import Instrument, OrderRole, OrderSide, OrderType

    account = TradingAccount.all_tenants.select_related("tenant").get(pk=account_id)
    order = trading.order_submit(
        tenant=account.tenant,
        account=account,
        now=datetime.fromisoformat(open_at),
        proposal=trading.OrderProposal(
            instrument=Instrument.objects.get(pk=instrument_id),
            side=OrderSide.BUY,
            size=1,
            order_type=OrderType.MARKET,
            stop_loss_ticks=8,
            take_profit_ticks=16,
            role=OrderRole.ENTRY,
            last_price=Decimal("5000"),
        ),
    )
    if order.status != "new":
        raise RuntimeError(f"refused: {order.rejection_reason}")
    return order.pk
