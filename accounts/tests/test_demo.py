"""The demo desk as `make run` makes it: seeded, connected to the simulator's session market, and
trading its headline strategy on the first morning.

The simulator runs as the demo runs it (`market="sessions"`: 90 sessions of history, a price every
second), its clock placed at a Tuesday 09:22 ET; the platform's clock follows it (time-machine) and
the jobs beat runs every minute run on it, as in strategies/tests/test_live_day.py. The gateway
client keeps the broker's request budget, as in the demo: the desk's warm-up may wait for it.
Celery runs inline, so the seed's connect task runs as a worker would run it.
"""

from __future__ import annotations

from datetime import date, time

import pytest
import time_machine
from django.contrib.auth import get_user_model

from accounts.demo import DEMO_USERNAME, demo_desk_seed
from accounts.models import BrokerConnection, Tenant, TradingAccount
from execution import day
from execution.models import Order, OrderRole, OvernightRange
from execution.tests.simulated import platform_on, tasks_inline
from markets.sessions import NEW_YORK, at_et
from simulator.testing import running_simulator
from strategies.live.outbox import TAG_PREFIX
from strategies.live.steps import desk_step
from strategies.models import StrategyConfig, StrategyDecision
from strategies.services import strategy_set_enabled

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("trading_sim")]

TRADING_DATE = date(2026, 3, 10)  # a Tuesday, two days after the spring DST change
START = at_et(TRADING_DATE, time(9, 22))
UNTIL = at_et(TRADING_DATE, time(9, 32))


@pytest.fixture
def demo(tmp_path, settings):
    settings.DEBUG = True  # the shared demo login is for development only (accounts/paper.py)
    with (
        running_simulator(tmp_path / "sim.sqlite3", market="sessions", start=START) as sim,
        platform_on(sim, settings),
        tasks_inline(),
        time_machine.travel(START, tick=False),
    ):
        desk = demo_desk_seed()
        yield sim, desk.tenant


def test_seeding_twice_keeps_one_desk_one_account_one_breakout(demo):
    sim, tenant = demo
    demo_desk_seed()
    assert Tenant.objects.filter(slug="demo-desk").count() == 1
    assert BrokerConnection.objects.for_tenant(tenant).count() == 1
    account = TradingAccount.objects.for_tenant(tenant).get()
    assert account.projectx_account_id == sim.account_id
    breakout = StrategyConfig.objects.for_tenant(tenant).get()
    assert (breakout.name, breakout.kind, breakout.is_enabled) == (
        "Overnight Range Breakout",
        "overnight_range_breakout",
        False,
    )
    assert breakout.account == account
    assert breakout.instrument.contract_id == sim.contract_id("EP")
    assert breakout.params["atr_period"] == 14  # the defaults, untouched


def test_the_demo_trades_the_breakout_at_0930_on_its_first_morning(demo):
    sim, tenant = demo
    breakout = StrategyConfig.objects.for_tenant(tenant).get()
    trader = get_user_model().objects.get(username=DEMO_USERNAME)
    strategy_set_enabled(tenant=tenant, config=breakout, is_enabled=True, actor=trader)
    account, instrument = breakout.account, breakout.instrument

    now = sim.server.engine.now()
    assert now == START
    with time_machine.travel(now, tick=False) as clock:
        while now < UNTIL:
            clock.move_to(now)
            desk_step(account=account, instrument=instrument, now=now)
            day.overnight_ranges_record(now=now)
            sim.step(1)
            now = sim.server.engine.now()

    # The range of the 18:00-09:30 bars is recorded: a full overnight session of the demo market.
    overnight = OvernightRange.objects.get(instrument=instrument, session_date=TRADING_DATE)
    assert overnight.is_complete
    assert overnight.bar_count == 930

    # Both entries went out on the 09:30:00 step, around that range, with the default ATR.
    notes = list(StrategyDecision.objects.for_tenant(tenant).values_list("reason", flat=True))
    assert not [n for n in notes if "ATR not ready" in n]
    entries = Order.objects.for_tenant(tenant).filter(role=OrderRole.ENTRY).order_by("side")
    assert [o.custom_tag.removeprefix(TAG_PREFIX).split("/", 1)[1] for o in entries] == [
        f"{TRADING_DATE}#1:buy",
        f"{TRADING_DATE}#1:sell",
    ]
    assert {o.submitted_at.astimezone(NEW_YORK).strftime("%H:%M:%S") for o in entries} == {
        "09:30:00"
    }
    buy, sell = entries
    tick = instrument.tick_size
    assert buy.stop_price == overnight.high_price + 2 * tick  # buffer_ticks=2 beyond the range
    assert sell.stop_price == overnight.low_price - 2 * tick
