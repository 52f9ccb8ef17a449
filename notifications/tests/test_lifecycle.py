"""Property: whatever Discord answers, in any order, and however often the task runs, one alert is
posted at most once, and a delivery's status tells the truth about what Discord accepted."""

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifications import services
from notifications.models import DeliveryStatus, NotificationDelivery
from notifications.tests.conftest import close_rate_limit_windows
from notifications.tests.receiver import Reply

pytestmark = pytest.mark.django_db

REPLIES = {
    "ok": Reply(),
    "short_429": Reply(429, {"message": "You are being rate limited.", "retry_after": 0.01}),
    "long_429": Reply(429, {"message": "You are being rate limited.", "retry_after": 5}),
    "global_429": Reply(429, {"message": "Global", "retry_after": 0.01, "global": True}),
    "500": Reply(500, {"message": "Internal Server Error"}),
    "503": Reply(503, "<html>down</html>"),
    "504": Reply(504, "<html>gateway timeout</html>"),
    "404": Reply(404, {"message": "Unknown Webhook", "code": 10015}),
    "400": Reply(400, {"message": "Invalid Form Body", "code": 50035}),
    "slow_ok": Reply(delay=0.25),  # Discord posts it, but after our read timeout
}
TERMINAL = {DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.UNCERTAIN}


@pytest.fixture
def lifecycle(receiver, make_channel, tenant_a, notif_settings):
    notif_settings.NOTIFICATIONS_READ_TIMEOUT_SECONDS = 0.15
    notif_settings.NOTIFICATIONS_HTTP_MAX_ATTEMPTS = 3
    notif_settings.NOTIFICATIONS_HTTP_BACKOFF_SECONDS = 0.001
    notif_settings.NOTIFICATIONS_MAX_INLINE_WAIT_SECONDS = 0.2
    notif_settings.NOTIFICATIONS_MAX_CLAIMS = 3
    make_channel(tenant_a, receiver.webhook_url(), ["fill"])
    return receiver, tenant_a


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    answers=st.lists(st.sampled_from(sorted(REPLIES)), max_size=10),
    runs=st.integers(min_value=1, max_value=5),
)
def test_an_alert_is_posted_at_most_once_and_its_status_is_truthful(lifecycle, answers, runs):
    receiver, tenant = lifecycle
    receiver.reset()
    close_rate_limit_windows()
    receiver.script(*(REPLIES[a] for a in answers))
    [delivery_id] = services.notify(
        tenant_id=tenant.pk, event="fill", title="Bought 1 ES", body="", fields={}
    )
    rows = NotificationDelivery.all_tenants
    requests_when_terminal = None

    for _ in range(runs):
        services.delivery_send(tenant_id=tenant.pk, delivery_id=delivery_id)
        services.delivery_send(tenant_id=tenant.pk, delivery_id=delivery_id)  # a duplicate task
        row = rows.get(pk=delivery_id)
        if row.status in TERMINAL and requests_when_terminal is None:
            requests_when_terminal = len(receiver.received)
        # Time passes: the deferred retry becomes due and rate-limit windows close.
        rows.filter(pk=delivery_id).update(next_attempt_at=timezone.now())
        close_rate_limit_windows()

    row = rows.get(pk=delivery_id)
    accepted = [r for r in receiver.received if 200 <= r.status < 300]
    assert len(accepted) <= 1
    assert row.status != DeliveryStatus.SENDING
    assert row.attempts <= 3
    if requests_when_terminal is not None:
        assert len(receiver.received) == requests_when_terminal  # nothing after a final outcome
    if row.status == DeliveryStatus.SENT:
        assert len(accepted) == 1
        assert receiver.received[-1].status == 200
    if row.status == DeliveryStatus.FAILED:
        assert accepted == []
    if row.status == DeliveryStatus.PENDING:
        assert accepted == []
    if accepted:
        assert row.status in {DeliveryStatus.SENT, DeliveryStatus.UNCERTAIN}
    last = receiver.received[-1].status if receiver.received else None
    if last in {404, 400}:
        assert (row.status, row.last_status_code) == (DeliveryStatus.FAILED, last)
    if last == 504:
        assert row.status == DeliveryStatus.UNCERTAIN
