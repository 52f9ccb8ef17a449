"""The market-data cache against the real simulator: each span fetched once, the hot layer, the live edge."""

import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
import redis

from execution.gateway.client import GatewayClient
from execution.gateway.config import Credentials, GatewayConfig
from execution.gateway.types import BarUnit
from execution.marketdata import BarCache, BarSeries, UnsupportedBarUnit, _gaps
from execution.models import BarCoverage, CachedBar
from simulator.testing import running_simulator

START = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)  # the simulator's default clock start (Monday)


class RecordingFetch:
    """The real client's retrieve_bars, with the spans asked for written down."""

    def __init__(self, client: GatewayClient) -> None:
        self.client, self.calls = client, []

    def __call__(self, contract_id, *, start, end, unit, unit_number):
        self.calls.append((start, end))
        return self.client.retrieve_bars(
            contract_id, start=start, end=end, unit=unit, unit_number=unit_number
        )


@pytest.fixture
def sim(tmp_path):
    with running_simulator(tmp_path / "sim.sqlite3") as handle:
        yield handle


@pytest.fixture
def client(sim):
    config = GatewayConfig(sim.base_url, sim.user_hub_url, sim.market_hub_url)
    with GatewayClient(config, Credentials(sim.username, sim.api_key)) as gateway:
        yield gateway


@pytest.fixture
def redis_client(settings):
    return redis.Redis.from_url(settings.REDIS_URL)


@pytest.fixture
def cache(sim, client, redis_client, db):
    fetch = RecordingFetch(client)
    prefix = f"test-mdc-{secrets.token_hex(4)}"
    bar_cache = BarCache(
        fetch=fetch,
        source="sim",
        scope="demo",
        redis_client=redis_client,
        clock=lambda: sim.state()["now"],
        key_prefix=prefix,
    )
    yield bar_cache, fetch
    keys = list(redis_client.scan_iter(f"{prefix}:*"))
    if keys:
        redis_client.delete(*keys)


def read(bar_cache, sim, start, end):
    return bar_cache.read(
        contract_id=sim.contract_id(), unit=BarUnit.MINUTE, unit_number=1, start=start, end=end
    )


def test_a_past_day_is_fetched_once_then_served_from_the_hot_layer(
    cache, sim, django_assert_num_queries
):
    bar_cache, fetch = cache
    day = datetime(2025, 3, 2, tzinfo=UTC)
    first = read(bar_cache, sim, day, day + timedelta(days=1))
    assert len(first) == 1440  # the random walk trades every minute
    assert len(fetch.calls) == 1
    with django_assert_num_queries(0):
        second = read(bar_cache, sim, day, day + timedelta(days=1))
    assert len(fetch.calls) == 1
    assert (second.close == first.close).all()
    assert bar_cache.stats(START.date()).hits == 1


def test_prices_are_exact_and_match_the_gateway(cache, sim, client):
    bar_cache, _ = cache
    start, end = START - timedelta(minutes=30), START
    series = read(bar_cache, sim, start, end)
    direct = client.retrieve_bars(
        sim.contract_id(), start=start, end=end - timedelta(seconds=1), unit=BarUnit.MINUTE
    )
    assert series.prices("close") == [bar.close_price for bar in direct]
    assert all(isinstance(p, Decimal) for p in series.prices("open"))
    assert series.ticks("close", Decimal("0.25")).tolist() == [
        int(b.close_price / Decimal("0.25")) for b in direct
    ]


def test_only_missing_spans_are_fetched(cache, sim):
    bar_cache, fetch = cache
    sunday = datetime(2025, 3, 2, tzinfo=UTC)
    read(bar_cache, sim, sunday, sunday + timedelta(days=1))
    both = read(bar_cache, sim, sunday - timedelta(hours=12), sunday + timedelta(days=1))
    # The simulator's history starts 48 hours before its clock: Saturday 14:30 UTC.
    saturday_bars = 570
    assert len(both) == 1440 + saturday_bars
    assert fetch.calls == [
        (sunday, sunday + timedelta(days=1)),
        (sunday - timedelta(days=1), sunday),  # only Saturday was missing
    ]
    assert BarCoverage.objects.count() == 1  # adjacent spans merged
    assert CachedBar.objects.count() == 1440 + saturday_bars


def test_live_edge_is_refetched_as_the_clock_moves(cache, sim):
    bar_cache, fetch = cache
    before = read(bar_cache, sim, START - timedelta(minutes=10), START + timedelta(minutes=10))
    assert int(before.opened_at[-1]) == int((START - timedelta(minutes=1)).timestamp())
    sim.step(5)
    after = read(bar_cache, sim, START - timedelta(minutes=10), START + timedelta(minutes=10))
    assert len(after) == len(before) + 5
    assert fetch.calls[-1] == (START, START + timedelta(minutes=5))


def test_a_display_read_may_accept_slightly_stale_bars(cache, sim):
    bar_cache, fetch = cache
    read(bar_cache, sim, START - timedelta(minutes=10), START)
    sim.step(5)
    calls = len(fetch.calls)
    stale = bar_cache.read(
        contract_id=sim.contract_id(),
        unit=BarUnit.MINUTE,
        unit_number=1,
        start=START - timedelta(minutes=10),
        end=START + timedelta(minutes=10),
        max_staleness=timedelta(minutes=15),
    )
    assert len(fetch.calls) == calls  # nothing fetched: the missing tail is within 15 minutes
    assert int(stale.opened_at[-1]) == int((START - timedelta(minutes=1)).timestamp())
    fresh = read(bar_cache, sim, START - timedelta(minutes=10), START + timedelta(minutes=10))
    assert len(fresh) == len(stale) + 5


def test_weeks_are_refused_with_a_clear_error(cache, sim):
    bar_cache, _ = cache
    with pytest.raises(UnsupportedBarUnit):
        bar_cache.read(
            contract_id=sim.contract_id(),
            unit=BarUnit.WEEK,
            unit_number=1,
            start=START - timedelta(days=30),
            end=START,
        )


def test_naive_or_reversed_spans_are_refused(cache, sim):
    bar_cache, _ = cache
    with pytest.raises(ValueError, match="aware"):
        read(bar_cache, sim, datetime(2025, 3, 3), datetime(2025, 3, 4))
    with pytest.raises(ValueError, match="start < end"):
        read(bar_cache, sim, START, START - timedelta(minutes=1))


def test_gaps_between_covered_spans():
    t = [START + timedelta(minutes=m) for m in range(10)]
    assert _gaps([], t[0], t[9]) == [(t[0], t[9])]
    assert _gaps([(t[2], t[4]), (t[6], t[7])], t[0], t[9]) == [
        (t[0], t[2]),
        (t[4], t[6]),
        (t[7], t[9]),
    ]
    assert _gaps([(t[0], t[9])], t[1], t[8]) == []


def test_packing_round_trips():
    series = BarSeries(
        *(
            np.array(v, dtype=np.int64)
            for v in ([60, 120, 180], [1, 2, 3], [4, 5, 6], [0, 1, 2], [3, 4, 5], [10, 20, 30])
        )
    )
    back = BarSeries.unpack(series.pack())
    assert back.opened_at.tolist() == [60, 120, 180]
    assert back.volume.tolist() == [10, 20, 30]


@pytest.mark.django_db
def test_bars_of_a_frozen_feed_are_forgotten_from_the_freeze_on_and_nothing_else():
    from execution.marketdata import bars_uncover_since

    at = datetime(2025, 3, 3, 14, 0, tzinfo=UTC)

    def cover(source, start_min, end_min):
        BarCoverage.objects.create(
            source=source,
            contract_id="CON.F.US.EP.H25",
            unit=BarUnit.MINUTE,
            unit_number=1,
            start_at=at + timedelta(minutes=start_min),
            end_at=at + timedelta(minutes=end_min),
        )

    cover("paper", 0, 30)
    cover("paper", 40, 60)
    cover("live", 0, 60)  # another source keeps what it knows

    changed = bars_uncover_since(
        source="paper", contract_id="CON.F.US.EP.H25", since=at + timedelta(minutes=20)
    )

    spans = BarCoverage.objects.order_by("source", "start_at").values_list(
        "source", "start_at", "end_at"
    )
    assert changed == 2
    assert list(spans) == [
        ("live", at, at + timedelta(minutes=60)),
        ("paper", at, at + timedelta(minutes=20)),
    ]
