"""The order state machine, driven by named cases and by random event sequences (hypothesis)."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from execution.models import OrderStatus
from execution.orders import (
    InvalidTransition,
    OrderEvent,
    OrderState,
    apply,
    apply_broker_status,
)

S = OrderStatus


def new(size: int = 3) -> OrderState:
    return OrderState(S.NEW, size)


def test_happy_path_new_submitted_working_partial_filled():
    state = apply(new(), OrderEvent.SUBMIT)
    assert state.status is S.SUBMITTED
    state = apply(state, OrderEvent.ACKNOWLEDGE)
    assert state.status is S.WORKING
    state = apply(state, OrderEvent.FILL, filled_size=1)
    assert (state.status, state.filled_size) == (S.PARTIALLY_FILLED, 1)
    state = apply(state, OrderEvent.FILL, filled_size=3)
    assert (state.status, state.filled_size) == (S.FILLED, 3)


def test_fill_before_acknowledgement_then_late_ack_is_ignored():
    state = apply(apply(new(1), OrderEvent.SUBMIT), OrderEvent.FILL, filled_size=1)
    assert state.status is S.FILLED
    assert apply(state, OrderEvent.ACKNOWLEDGE) == state


def test_duplicated_fill_changes_nothing():
    state = apply(apply(new(), OrderEvent.SUBMIT), OrderEvent.FILL, filled_size=2)
    assert apply(state, OrderEvent.FILL, filled_size=2) == state
    assert apply(state, OrderEvent.FILL, filled_size=1) == state  # stale, out of order


def test_fill_racing_a_cancel_is_recorded():
    cancelled = apply(apply(new(2), OrderEvent.SUBMIT), OrderEvent.CANCEL)
    assert apply(cancelled, OrderEvent.FILL, filled_size=1) == OrderState(S.CANCELLED, 2, 1)
    assert apply(cancelled, OrderEvent.FILL, filled_size=2).status is S.FILLED


def test_cancel_after_fill_is_ignored():
    filled = apply(new(1), OrderEvent.FILL, filled_size=1)
    assert apply(filled, OrderEvent.CANCEL) == filled


@pytest.mark.parametrize(
    ("state", "event", "kwargs"),
    [
        (OrderState(S.REJECTED, 1), OrderEvent.FILL, {"filled_size": 1}),
        (OrderState(S.PARTIALLY_FILLED, 2, 1), OrderEvent.REJECT, {}),
        (OrderState(S.WORKING, 2), OrderEvent.FILL, {"filled_size": 3}),
        (OrderState(S.WORKING, 2), OrderEvent.FILL, {}),
        (OrderState(S.EXPIRED, 2), OrderEvent.CANCEL, {}),
    ],
    ids=[
        "fill_on_rejected",
        "reject_after_partial",
        "overfill",
        "fill_without_size",
        "cancel_expired",
    ],
)
def test_impossible_events_raise(state, event, kwargs):
    with pytest.raises(InvalidTransition):
        apply(state, event, **kwargs)


def test_state_accepts_the_plain_string_a_row_holds():
    state = OrderState("working", 2)
    assert apply(state, OrderEvent.FILL, filled_size=2).status is S.FILLED


def test_broker_status_updates_map_to_events():
    state = apply(new(2), OrderEvent.SUBMIT)
    state = apply_broker_status(state, 8)  # suspended bracket child
    assert state.status is S.WORKING
    state = apply_broker_status(state, 2, fill_volume=2)
    assert state.status is S.FILLED
    assert apply_broker_status(OrderState(S.SUBMITTED, 1), 6) == OrderState(S.SUBMITTED, 1)


# --- Properties over random event sequences --------------------------------------------------

events = st.one_of(
    st.sampled_from(
        [
            OrderEvent.SUBMIT,
            OrderEvent.ACKNOWLEDGE,
            OrderEvent.CANCEL,
            OrderEvent.REJECT,
            OrderEvent.EXPIRE,
        ]
    ).map(lambda e: (e, None)),
    st.integers(min_value=0, max_value=5).map(lambda n: (OrderEvent.FILL, n)),
)


def run(size: int, sequence: list) -> list[OrderState]:
    states = [OrderState(S.NEW, size)]
    for event, filled in sequence:
        try:
            states.append(apply(states[-1], event, filled_size=filled))
        except InvalidTransition:
            states.append(states[-1])  # the caller stores nothing
    return states


@given(size=st.integers(1, 5), sequence=st.lists(events, max_size=30))
def test_filled_size_never_decreases_nor_exceeds_size(size, sequence):
    states = run(size, sequence)
    for before, after in itertools.pairwise(states):
        assert before.filled_size <= after.filled_size <= size


@given(size=st.integers(1, 5), sequence=st.lists(events, max_size=30))
def test_filled_status_iff_fully_filled(size, sequence):
    for state in run(size, sequence):
        assert (state.status is S.FILLED) == (state.filled_size == size)


@given(size=st.integers(1, 5), sequence=st.lists(events, max_size=30))
def test_terminal_states_only_move_by_fills(size, sequence):
    states = run(size, sequence)
    for before, after in itertools.pairwise(states):
        if before.is_terminal and after != before:
            assert before.status is S.CANCELLED
            assert after.filled_size > before.filled_size


@given(size=st.integers(1, 5), sequence=st.lists(events, max_size=30))
def test_every_event_is_idempotent(size, sequence):
    state = OrderState(S.NEW, size)
    for event, filled in sequence:
        try:
            once = apply(state, event, filled_size=filled)
        except InvalidTransition:
            continue
        assert apply(once, event, filled_size=filled) == once
        state = once


@given(size=st.integers(1, 5), fills=st.lists(st.integers(1, 5), min_size=1, max_size=8))
def test_order_of_fill_events_does_not_matter(size, fills):
    fills = [f for f in fills if f <= size]
    if not fills:
        return
    forward = run(size, [(OrderEvent.FILL, f) for f in fills])[-1]
    backward = run(size, [(OrderEvent.FILL, f) for f in reversed(fills)])[-1]
    assert forward.filled_size == backward.filled_size == max(fills)
