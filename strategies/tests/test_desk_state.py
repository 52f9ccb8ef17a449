"""The desk's saved state (strategies/live/state.py): only bytes this platform signed are loaded."""

from __future__ import annotations

import pickle

import pytest

from strategies.live.state import UnreadableState, desk_dump, desk_load
from strategies.tests.test_desk import new_desk


class _Payload:
    ran: list[str] = []

    def __reduce__(self):
        return (_Payload.ran.append, ("code ran",))


def test_a_signed_desk_round_trips():
    desk = new_desk()
    assert desk_load(desk_dump(desk)).signature == desk.signature


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(pickle.dumps(_Payload()), id="unsigned pickle"),
        pytest.param(b"\0" * 32 + pickle.dumps(_Payload()), id="wrong signature"),
        pytest.param(b"", id="empty"),
    ],
)
def test_bytes_not_signed_here_are_refused_without_being_unpickled(blob):
    _Payload.ran.clear()
    with pytest.raises(UnreadableState, match="not signed"):
        desk_load(blob)
    assert _Payload.ran == []


def test_a_tampered_desk_is_refused():
    blob = bytearray(desk_dump(new_desk()))
    blob[-5] ^= 1
    with pytest.raises(UnreadableState):
        desk_load(bytes(blob))


def test_a_rotated_secret_still_reads_through_the_fallbacks_and_a_foreign_one_never(settings):
    old_key = settings.SECRET_KEY
    blob = desk_dump(new_desk())
    settings.SECRET_KEY = "a-new-secret-key-for-this-test-only-0123456789"
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert desk_load(blob).signature == "x"
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(UnreadableState):
        desk_load(blob)


def test_a_signed_object_that_is_not_a_desk_is_refused(settings):
    from strategies.live import state

    body = pickle.dumps({"not": "a desk"})
    blob = state._mac(settings.SECRET_KEY, body) + body
    with pytest.raises(UnreadableState, match="not a desk"):
        desk_load(blob)
