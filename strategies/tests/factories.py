import factory

from accounts.tests.factories import TenantFactory, TenantOwnedFactory, TradingAccountFactory
from execution.tests.factories import InstrumentFactory
from strategies.models import StrategyConfig, StrategyKind


class StrategyConfigFactory(TenantOwnedFactory):
    class Meta:
        model = StrategyConfig

    tenant = factory.SubFactory(TenantFactory)
    account = factory.SubFactory(TradingAccountFactory, tenant=factory.SelfAttribute("..tenant"))
    instrument = factory.SubFactory(InstrumentFactory)
    name = factory.Sequence(lambda n: f"Breakout {n}")
    kind = StrategyKind.OVERNIGHT_RANGE_BREAKOUT
    params = factory.LazyFunction(dict)
