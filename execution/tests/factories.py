from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from accounts.tests.factories import TenantFactory, TenantOwnedFactory, TradingAccountFactory
from execution.models import Instrument, Order, OrderRole, OrderSide, OrderType


class InstrumentFactory(DjangoModelFactory):
    class Meta:
        model = Instrument
        django_get_or_create = ("contract_id",)

    symbol = "ES"
    contract_id = "CON.F.US.EP.Z26"
    symbol_id = "F.US.EP"
    name = "ESZ6"
    tick_size = Decimal("0.25")
    tick_value_usd = Decimal("12.50")
    fee_per_side_usd = Decimal("1.40")


class OrderFactory(TenantOwnedFactory):
    class Meta:
        model = Order

    tenant = factory.SubFactory(TenantFactory)
    account = factory.SubFactory(TradingAccountFactory, tenant=factory.SelfAttribute("..tenant"))
    instrument = factory.SubFactory(InstrumentFactory)
    custom_tag = factory.Sequence(lambda n: f"tag-{n}")
    order_type = OrderType.LIMIT
    side = OrderSide.BUY
    size = 1
    limit_price = Decimal("5000.25")
    role = OrderRole.MANUAL
