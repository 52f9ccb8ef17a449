"""The renewal schedule around order bursts (execution/gateway/auth.py), as properties over any
login time and token lifetime: no renewal inside a burst unless the token is about to lapse, and a
token that would come due during a burst is renewed in the lead-up by one that outlasts it."""

from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from execution.gateway.auth import BusyWindows, SessionToken, renewal_due
from markets.sessions import NEW_YORK

BURST = BusyWindows(spans=((time(9, 29), time(9, 36)),))
MARGIN, EVERY = timedelta(minutes=5), timedelta(hours=12)
DAY = datetime(2026, 3, 9, tzinfo=NEW_YORK)  # the DST Monday: the window is still 09:29 New York


def due(token: SessionToken, now: datetime) -> bool:
    return renewal_due(token, now, refresh_margin=MARGIN, validate_every=EVERY, busy=BURST)


instants = st.integers(0, 3 * 86_400).map(lambda s: DAY + timedelta(seconds=s))
lifetimes = st.integers(3_600, 48 * 3_600).map(lambda s: timedelta(seconds=s))


@given(issued=instants, lifetime=lifetimes, into=st.integers(0, 7 * 60 - 1))
def test_nothing_is_renewed_mid_burst_unless_it_is_about_to_lapse(issued, lifetime, into):
    token = SessionToken("t", issued, issued + lifetime)
    day = (issued + timedelta(days=1)).astimezone(NEW_YORK).date()
    now = datetime.combine(day, time(9, 29), tzinfo=NEW_YORK) + timedelta(seconds=into)
    if now < issued:
        return
    assert due(token, now) == (now >= token.expires_at - timedelta(seconds=30))


@settings(deadline=None)  # a walk of up to a few thousand calls
@given(lifetime=lifetimes, around=st.integers(-3_600, 3_600), step=st.integers(30, 600))
def test_a_token_that_would_come_due_in_the_burst_is_renewed_before_it(lifetime, around, step):
    """Log in so that the token lapses within an hour of a burst; walk a client's calls every
    `step` seconds, renewing when due (a new token of the same lifetime): no call inside a burst
    finds the token due, and none presents an expired one."""
    opens = datetime.combine(DAY.date() + timedelta(days=2), time(9, 29), tzinfo=NEW_YORK)
    issued = opens - lifetime + timedelta(seconds=around)
    token = SessionToken("t", issued, issued + lifetime)
    now = issued
    while now < opens + timedelta(hours=2):
        if due(token, now):
            window = BURST.current_or_next(now)
            in_burst = window is not None and window[0] <= now
            assert not in_burst  # tokens of an hour or more: always renewed in the lead-up
            token = SessionToken("t", now, now + lifetime)
        assert now < token.expires_at  # a call never presents an expired token
        now += timedelta(seconds=step)


def test_the_window_is_found_in_exchange_time_and_its_lead():
    opens = datetime(2026, 3, 10, 9, 29, tzinfo=NEW_YORK)
    assert BURST.current_or_next(opens - timedelta(minutes=31)) is None
    assert BURST.current_or_next(opens - timedelta(minutes=29))[0] == opens
    assert BURST.current_or_next(opens.astimezone(UTC))[1] == opens + timedelta(minutes=7)
    assert BURST.current_or_next(opens + timedelta(minutes=7)) is None
