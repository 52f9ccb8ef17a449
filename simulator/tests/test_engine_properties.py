"""Property tests of the engine's accounting (in-process, no HTTP: fast enough for hypothesis)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.engine import Engine
from simulator.market import Unit, aggregate, aggregate_columns, bucket_end
from simulator.records import GatewayError, SimConfig
from simulator.testing import market_data_dir
from simulator.wire import Fields

CID = "CON.F.US.MES.H25"
TICK_VALUE = Decimal("1.25")
FEE = Decimal("0.37")


def _engine() -> Engine:
    return Engine(
        SimConfig(speed=None, start=datetime(2025, 3, 3, 14, 30, tzinfo=UTC), history_minutes=5)
    )


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0, 1]), st.integers(1, 4)), min_size=1, max_size=12))
def test_balance_is_cash_flow_of_fills_minus_fees_once_flat(fills: list[tuple[int, int]]) -> None:
    engine = _engine()
    account = min(engine.accounts)
    for side, size in fills:
        engine.place_order(
            "demo",
            Fields(
                {"accountId": account, "contractId": CID, "type": 2, "side": side, "size": size}
            ),
        )
        engine.step(1)
    net = sum(size if side == 0 else -size for side, size in fills)
    positions = engine.positions_open("demo", Fields({"accountId": account}))
    assert sum(p["size"] * (1 if p["type"] == 1 else -1) for p in positions) == net
    if net:
        engine.close_position(
            "demo", Fields({"accountId": account, "contractId": CID}), partial=False
        )
        engine.step(1)
    trades = engine.trade_search("demo", Fields({"accountId": account}))
    cash_ticks = sum(
        (-1 if t["side"] == 0 else 1) * t["size"] * int(t["price"] / Decimal("0.25"))
        for t in trades
    )
    realised = sum((t["profitAndLoss"] or Decimal(0)) for t in trades)
    fees = sum(t["fees"] for t in trades)
    contracts = sum(t["size"] for t in trades)
    assert realised == cash_ticks * TICK_VALUE  # FIFO lots account exactly, to the cent
    assert fees == contracts * FEE
    balance = Decimal(engine.accounts[account].balance)
    assert balance == Decimal(50000) + realised - fees
    assert engine.positions_open("demo", Fields({"accountId": account})) == []
    # a trade is an opening half (P&L null) exactly when it did not reduce a position
    assert trades[0]["profitAndLoss"] is None


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 30))
def test_random_walk_bars_are_valid_and_reproducible(seed: int, n: int) -> None:
    def bars(seed: int) -> list[tuple[int, ...]]:
        engine = Engine(
            SimConfig(
                speed=None,
                seed=seed,
                history_minutes=n,
                start=datetime(2025, 1, 6, 15, 0, tzinfo=UTC),
            )
        )
        series = engine.series["ENQ"]
        return list(series.bars(series.first_time(), series.first_time() + 60 * n))

    first = bars(seed)
    assert first == bars(seed)
    assert len(first) == n
    for _, o, h, low, c, v in first:
        assert low <= min(o, c) <= max(o, c) <= h
        assert v > 0


NQ_FILE = market_data_dir() / "nq_1min_sample_2023-11.csv.gz"


@pytest.fixture(scope="module")
def nq_engine() -> Engine:
    if not NQ_FILE.is_file():
        pytest.skip("shared market data not available")
    return Engine(
        SimConfig(
            data={"ENQ": str(NQ_FILE)},
            replay_mode="calendar",
            speed=None,
            start=datetime(2023, 12, 4, 22, 0, tzinfo=UTC),
        )
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    unit=st.sampled_from([(2, 1), (2, 5), (2, 60), (3, 1), (3, 4), (4, 1), (5, 1), (6, 1)]),
    limit=st.integers(1, 400),
    days_back=st.integers(0, 16),
    partial=st.booleans(),
)
def test_history_window_matches_a_full_scan_through_gaps(
    nq_engine: Engine, unit: tuple[int, int], limit: int, days_back: int, partial: bool
) -> None:
    """Scanning only the newest part of the range gives exactly what a full scan would."""
    start = datetime(2023, 11, 19, tzinfo=UTC) + timedelta(days=16 - days_back)
    end = nq_engine.now()
    fast = nq_engine.history("ENQ", start, end, Unit(*unit), limit, partial)
    full = nq_engine._aggregate_range(
        "ENQ", int(start.timestamp()), int(end.timestamp()) + 1, Unit(*unit), partial
    )
    if not partial and full and bucket_end(Unit(*unit), full[-1][0]) > end.timestamp():
        full.pop()  # a bucket still forming is only served with includePartialBar
    assert [(b["t"], b["o"], b["c"], b["v"]) for b in fast] == [
        (datetime.fromtimestamp(r[0], UTC), r[1] * Decimal("0.25"), r[4] * Decimal("0.25"), r[5])
        for r in reversed(full[-limit:])
    ]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    unit=st.sampled_from([(2, 1), (2, 7), (3, 1), (3, 2), (4, 1), (4, 3), (5, 1), (6, 1)]),
    offset=st.integers(0, 14_000),
    length=st.integers(0, 1500),
)
def test_numpy_aggregation_equals_the_plain_python_fold(
    nq_engine: Engine, unit: tuple[int, int], offset: int, length: int
) -> None:
    series = nq_engine.series["ENQ"]
    times = series.columns(0, 2**40)[0]
    lo = int(times[min(offset, len(times) - 1)])
    hi = lo + length * 60
    rows = list(series.bars(lo, hi))
    assert aggregate_columns(series.columns(lo, hi), Unit(*unit)) == aggregate(rows, Unit(*unit))


actions = st.lists(
    st.one_of(
        st.tuples(
            st.just("order"),
            st.sampled_from([1, 2, 4, 5, 6, 7]),
            st.sampled_from([0, 1]),
            st.integers(1, 3),
            st.integers(-12, 12),
            st.one_of(st.none(), st.integers(1, 20)),
            st.one_of(st.none(), st.integers(1, 20)),
        ),
        st.tuples(st.just("cancel"), st.integers(0, 50)),
        st.tuples(st.just("close")),
        st.tuples(st.just("step"), st.integers(1, 4)),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None)
@given(actions)
def test_random_order_flow_keeps_the_books_consistent(script: list[tuple]) -> None:
    """Whatever mix of orders, brackets, cancels and closes: money and state agree."""
    engine = _engine()
    account = min(engine.accounts)
    spec_tick = Decimal("0.25")
    for action in script:
        if action[0] == "order":
            _, kind, side, size, offset, sl, tp = action
            last = engine.quotes["MES"].last
            body: dict = {
                "accountId": account,
                "contractId": CID,
                "type": kind,
                "side": side,
                "size": size,
            }
            price = (last + offset) * spec_tick
            if kind == 1:
                body["limitPrice"] = price
            if kind == 4:
                body["stopPrice"] = (
                    last + (abs(offset) + 1) * (1 if side == 0 else -1)
                ) * spec_tick
            if kind == 5:
                body["trailDistance"] = abs(offset) + 1
            sign = 1 if side == 0 else -1
            if sl:
                body["stopLossBracket"] = {"ticks": -sign * sl, "type": 4}
            if tp:
                body["takeProfitBracket"] = {"ticks": sign * tp, "type": 1}
            engine.place_order("demo", Fields(body))
        elif action[0] == "cancel":
            working = sorted(o.id for o in engine.orders.values() if o.status in (1, 8))
            if working:
                engine.cancel_order(
                    "demo",
                    Fields({"accountId": account, "orderId": working[action[1] % len(working)]}),
                )
        elif action[0] == "close":
            if engine.positions_open("demo", Fields({"accountId": account})):
                engine.close_position(
                    "demo", Fields({"accountId": account, "contractId": CID}), partial=False
                )
        else:
            engine.step(action[1])
    engine.step(1)

    trades = engine.trade_search("demo", Fields({"accountId": account}))
    orders = {o.id: o for o in engine.orders.values()}
    realised = sum((t["profitAndLoss"] or Decimal(0)) for t in trades)
    fees = sum(t["fees"] for t in trades)
    assert Decimal(engine.accounts[account].balance) == Decimal(50000) + realised - fees
    net = sum(t["size"] * (1 if t["side"] == 0 else -1) for t in trades)
    positions = engine.positions_open("demo", Fields({"accountId": account}))
    assert sum(p["size"] * (1 if p["type"] == 1 else -1) for p in positions) == net
    for trade in trades:  # one trade per filled order, at its fill price and size
        order = orders[trade["orderId"]]
        assert order.status == 2
        assert (order.filled_ticks * spec_tick, order.size) == (trade["price"], trade["size"])
    assert len(trades) == sum(1 for o in orders.values() if o.status == 2)
    for order in orders.values():  # OCO: never both legs of one bracket
        if order.linked_id:
            assert not (order.status == 2 and orders[order.linked_id].status == 2)
        if order.role and order.status in (1, 8):  # a working leg protects an open position
            assert net != 0 or orders[order.parent_id].status != 2


@functools.cache
def _price_check_engine() -> Engine:
    return _engine()  # shared: a refused order changes nothing, an accepted one only rests


@settings(max_examples=150, deadline=None)
@given(
    st.decimals(
        min_value=-10_000, max_value=10_000, places=3, allow_nan=False, allow_infinity=False
    )
)
def test_a_limit_price_is_taken_exactly_when_positive_and_on_the_tick_grid(price: Decimal) -> None:
    engine = _price_check_engine()
    body = {
        "accountId": min(engine.accounts),
        "contractId": CID,
        "type": 1,
        "side": 0,
        "size": 1,
        "limitPrice": price,
    }
    if price > 0 and price % Decimal("0.25") == 0:
        order_id = engine.place_order("demo", Fields(body))
        assert engine.order_payload(engine.orders[order_id])["limitPrice"] == price
    else:
        with pytest.raises(GatewayError, match="limitPrice") as refused:
            engine.place_order("demo", Fields(body))
        assert refused.value.code == 2


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([0, 1]), st.integers(1, 3), st.integers(0, 50)),
        min_size=1,
        max_size=10,
    )
)
def test_on_a_wall_clock_every_market_order_fills_when_placed_at_the_last_price(
    orders: list[tuple[int, int, int]],
) -> None:
    start = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)
    engine = Engine(SimConfig(speed=1.0, start=start, history_minutes=5))
    account = min(engine.accounts)
    for side, size, seconds in orders:
        engine.advance_to(engine.now() + timedelta(seconds=seconds))
        last = engine.quotes["MES"].last
        body = {"accountId": account, "contractId": CID, "type": 2, "side": side, "size": size}
        order = engine.orders[engine.place_order("demo", Fields(body))]
        assert (order.status, order.filled_ticks, order.fill_volume) == (2, last, size)
        assert order.updated_us == order.created_us  # filled when placed
    net = sum(size if side == 0 else -size for side, size, _ in orders)
    positions = engine.positions_open("demo", Fields({"accountId": account}))
    assert sum(p["size"] * (1 if p["type"] == 1 else -1) for p in positions) == net
