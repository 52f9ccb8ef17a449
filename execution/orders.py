"""The order state machine: the one place that decides which status moves are legal.

Broker events arrive late, twice, or out of order (a fill before the acknowledgement, a duplicated fill, a
cancel confirmation overtaken by a fill). The rules make every event idempotent and let the broker's facts
win:

- Fills carry the CUMULATIVE filled size. A fill that does not raise it is a duplicate and changes nothing;
  the filled size never decreases and never exceeds the order size.
- A fill is a fact: it is recorded from any live status, and even on a cancelled order (the fill raced the
  cancel); reaching the full size makes the order FILLED.
- An acknowledgement never moves an order backwards (a late ack after a fill is ignored).
- Terminal statuses (filled, cancelled, rejected, expired) are final, except the fill-races-cancel case.
- Impossible events (a fill on a rejected order, a reject after a partial fill, a fill beyond the size)
  raise InvalidTransition: the caller stores nothing and reconciliation takes the broker's full state.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from execution.models import OrderStatus

TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)
LIVE = frozenset(
    {OrderStatus.NEW, OrderStatus.SUBMITTED, OrderStatus.WORKING, OrderStatus.PARTIALLY_FILLED}
)


class OrderEvent(Enum):
    SUBMIT = "submit"  # we sent it
    ACKNOWLEDGE = "acknowledge"  # the broker has it working (ProjectX status 1 Open, 8 Suspended)
    FILL = "fill"  # cumulative filled size went up (status 2, or a trade)
    CANCEL = "cancel"  # the broker cancelled it (status 3)
    REJECT = "reject"  # the broker refused it (status 5)
    EXPIRE = "expire"  # the broker expired it (status 4)


class InvalidTransition(Exception):
    """An event that cannot happen to an order in this state; reconcile instead of guessing."""


@dataclass(frozen=True, slots=True)
class OrderState:
    status: OrderStatus
    size: int
    filled_size: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", OrderStatus(self.status))  # rows hold plain strings
        if self.size <= 0 or not 0 <= self.filled_size <= self.size:
            raise ValueError(f"bad order sizes: size={self.size}, filled={self.filled_size}")

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


def apply(state: OrderState, event: OrderEvent, *, filled_size: int | None = None) -> OrderState:
    """The state after `event`; the same state (equal) when the event changes nothing."""
    if event is OrderEvent.FILL:
        return _apply_fill(state, filled_size)
    if state.is_terminal:
        return _on_terminal(state, event)
    if event is OrderEvent.SUBMIT:
        return _moved(state, OrderStatus.SUBMITTED) if state.status is OrderStatus.NEW else state
    if event is OrderEvent.ACKNOWLEDGE:
        if state.status in (OrderStatus.NEW, OrderStatus.SUBMITTED):
            return _moved(state, OrderStatus.WORKING)
        return state  # already working or partially filled: a late ack changes nothing
    if event is OrderEvent.CANCEL:
        return _moved(state, OrderStatus.CANCELLED)
    if event is OrderEvent.EXPIRE:
        return _moved(state, OrderStatus.EXPIRED)
    if event is OrderEvent.REJECT:
        if state.filled_size:
            raise InvalidTransition("a partially filled order cannot be rejected")
        return _moved(state, OrderStatus.REJECTED)
    raise InvalidTransition(f"unknown event {event!r}")


def _apply_fill(state: OrderState, filled_size: int | None) -> OrderState:
    if filled_size is None:
        raise InvalidTransition("a fill event needs the cumulative filled size")
    if filled_size > state.size:
        raise InvalidTransition(f"filled {filled_size} exceeds the order size {state.size}")
    if filled_size <= state.filled_size:
        return state  # duplicate or stale fill
    if state.status in (OrderStatus.REJECTED, OrderStatus.EXPIRED):
        raise InvalidTransition(f"a {state.status} order cannot fill")
    if filled_size == state.size:
        return OrderState(OrderStatus.FILLED, state.size, filled_size)
    status = (
        OrderStatus.CANCELLED
        if state.status is OrderStatus.CANCELLED
        else OrderStatus.PARTIALLY_FILLED
    )
    return OrderState(status, state.size, filled_size)


def _on_terminal(state: OrderState, event: OrderEvent) -> OrderState:
    same = {
        OrderEvent.CANCEL: OrderStatus.CANCELLED,
        OrderEvent.REJECT: OrderStatus.REJECTED,
        OrderEvent.EXPIRE: OrderStatus.EXPIRED,
    }
    if event in (OrderEvent.SUBMIT, OrderEvent.ACKNOWLEDGE) or same.get(event) is state.status:
        return state  # a late or duplicated message about a finished order
    if state.status is OrderStatus.FILLED and event is OrderEvent.CANCEL:
        return state  # the cancel lost the race; the fill stands
    raise InvalidTransition(f"{event.value} cannot follow {state.status}")


def _moved(state: OrderState, status: OrderStatus) -> OrderState:
    return OrderState(status, state.size, state.filled_size)


# ProjectX OrderStatus (projectx-gateway.md §2) -> our event. 0 None and 6 Pending say nothing new;
# 7 PendingCancellation is not yet a cancellation.
BROKER_STATUS_EVENTS = {
    1: OrderEvent.ACKNOWLEDGE,
    2: OrderEvent.FILL,
    3: OrderEvent.CANCEL,
    4: OrderEvent.EXPIRE,
    5: OrderEvent.REJECT,
    8: OrderEvent.ACKNOWLEDGE,  # a bracket child waiting for its entry is working from our side
}


def apply_broker_status(
    state: OrderState, broker_status: int, *, fill_volume: int = 0
) -> OrderState:
    """Fold one broker order update (status + cumulative fillVolume) into our state."""
    if fill_volume:
        state = _apply_fill(state, fill_volume)
    event = BROKER_STATUS_EVENTS.get(broker_status)
    if event is None or event is OrderEvent.FILL:
        return state
    return apply(state, event)
