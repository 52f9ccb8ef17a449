"""A live desk steps on its own source's bars (strategies/live/steps.py): simulated bars that a paper
desk cached under the same contract id are never handed to it."""

from datetime import timedelta
from decimal import Decimal

import pytest

from accounts.crypto import encrypt_secret
from accounts.models import GatewayEnvironment
from accounts.tests.factories import TradingAccountFactory
from execution import broker
from execution.gateway.types import BarUnit
from execution.marketdata import LiveBar, bars_append_live
from execution.models import BarCoverage
from execution.sources import market_source
from execution.tests.factories import InstrumentFactory
from simulator.testing import running_simulator
from simulator.tests.conftest import BRACKET_BARS, BRACKET_START, write_bars
from strategies.live.steps import _bars

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_gateway(tmp_path, settings):
    """A simulator standing in for the live gateway, replaying bars around 5000."""
    data = write_bars(tmp_path / "live.csv.gz", BRACKET_BARS, BRACKET_START)
    with running_simulator(
        tmp_path / "live.sqlite3", data={"EP": data}, history_minutes=2
    ) as handle:
        settings.PROJECTX_LIVE_API_URL = handle.base_url
        settings.PROJECTX_LIVE_USER_HUB_URL = handle.user_hub_url
        settings.PROJECTX_LIVE_MARKET_HUB_URL = handle.market_hub_url
        broker._clients.clear()
        yield handle
        broker._clients.clear()


def test_a_live_desk_never_reads_the_bars_a_paper_desk_cached(live_gateway, tenant_a):
    contract_id = live_gateway.contract_id()
    instrument = InstrumentFactory(contract_id=contract_id, tick_size=Decimal("0.25"))
    account = TradingAccountFactory(
        tenant=tenant_a,
        projectx_account_id=live_gateway.account_id,
        connection__environment=GatewayEnvironment.LIVE,
        connection__username=live_gateway.username,
        connection__api_key_encrypted=encrypt_secret(live_gateway.api_key),
    )
    start, end = BRACKET_START - timedelta(minutes=2), BRACKET_START
    paper = market_source(GatewayEnvironment.SIMULATOR).key
    fake = [
        LiveBar(contract_id, start + timedelta(minutes=i), *[Decimal("4000.00")] * 4, 1)
        for i in range(2)
    ]
    BarCoverage.objects.create(
        source=paper, contract_id=contract_id, unit=BarUnit.MINUTE, unit_number=1,
        start_at=start, end_at=end,
    )  # fmt: skip
    bars_append_live(source=paper, bars=fake)  # the paper source knows this window at 4000

    bars = _bars(account, instrument, start, end, now=end)

    assert [b.close for b in bars] == [
        20000,
        20000,
    ]  # 5000.00 in quarter ticks, from the live gateway
