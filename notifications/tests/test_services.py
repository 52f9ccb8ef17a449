"""notify → delivery rows → the send task → a local webhook receiver standing in for Discord."""

import logging
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from celery.signals import after_task_publish
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import AuditEntry, NotificationChannel
from accounts.tests.factories import MembershipFactory, TradingAccountFactory
from notifications import services
from notifications.models import DeliveryStatus, NotificationDelivery
from notifications.services import InvalidNotification, notify
from notifications.tasks import delivery_send_task
from notifications.tests.receiver import Reply

pytestmark = [pytest.mark.django_db, pytest.mark.clock_sensitive]

TOKEN = "tok-SeCrEt_4f9a"


def fill_alert(tenant_id: int, **overrides: object) -> list[int]:
    arguments = {
        "tenant_id": tenant_id,
        "event": "fill",
        "title": "Bought 2 ESZ6 @ 5012.25",
        "body": "Long entry from the overnight-range breakout.",
        "fields": {"Side": "Buy", "Size": 2, "Price": Decimal("5012.25"), "Strategy": "ORB"},
    }
    arguments.update(overrides)
    return notify(**arguments)  # type: ignore[arg-type]


def run(tenant_id: int, delivery_ids: list[int]) -> None:
    for delivery_id in delivery_ids:
        delivery_send_task(tenant_id=tenant_id, delivery_id=delivery_id)


def delivery(delivery_id: int) -> NotificationDelivery:
    return NotificationDelivery.all_tenants.get(pk=delivery_id)


# --- Routing: who gets what -----------------------------------------------------------------------


def test_fill_alert_reaches_subscribed_channel_with_the_embed(receiver, make_channel, account_a):
    tenant = account_a.tenant
    make_channel(tenant, receiver.webhook_url(42, TOKEN), ["fill", "risk"])

    ids = fill_alert(tenant.pk, account_id=account_a.pk, dedupe_key="fill:1")
    run(tenant.pk, ids)

    [request] = receiver.received
    assert request.path == f"/api/webhooks/42/{TOKEN}"
    assert request.query == "wait=true"
    assert request.headers["content-type"] == "application/json"
    payload = request.json
    assert payload["content"] == "**Fill** · Bought 2 ESZ6 @ 5012.25"
    assert payload["allowed_mentions"] == {"parse": []}
    assert payload["username"] == "Trading alerts"
    [embed] = payload["embeds"]
    assert embed["title"] == "Bought 2 ESZ6 @ 5012.25"
    assert embed["description"] == "Long entry from the overnight-range breakout."
    assert embed["color"] == 0x3498DB
    assert embed["fields"] == [
        {"name": "Side", "value": "Buy", "inline": True},
        {"name": "Size", "value": "2", "inline": True},
        {"name": "Price", "value": "5012.25", "inline": True},
        {"name": "Strategy", "value": "ORB", "inline": True},
    ]
    assert embed["footer"] == {"text": f"{account_a.name} (paper)"}
    sent = delivery(ids[0])
    assert embed["timestamp"] == sent.created_at.isoformat()
    assert sent.status == DeliveryStatus.SENT
    assert sent.attempts == 1
    assert sent.last_status_code == 200
    assert sent.discord_message_id == "900001"
    assert sent.sent_at is not None


def test_unsubscribed_and_disabled_channels_get_nothing(receiver, make_channel, tenant_a):
    make_channel(tenant_a, receiver.webhook_url(1, "subscribed"), ["fill"], name="fills")
    make_channel(tenant_a, receiver.webhook_url(2, "risk-only"), ["risk", "error"], name="risk")
    make_channel(tenant_a, receiver.webhook_url(3, "disabled"), ["fill"], is_enabled=False)
    # "fill" must be an exact member, not a substring of another event name.
    make_channel(tenant_a, receiver.webhook_url(4, "lookalike"), ["fills", "daily_summary"])

    ids = fill_alert(tenant_a.pk)
    run(tenant_a.pk, ids)

    assert len(ids) == 1
    assert [r.path for r in receiver.received] == ["/api/webhooks/1/subscribed"]


def test_another_tenants_channel_never_gets_the_alert(receiver, make_channel, tenant_a, tenant_b):
    make_channel(tenant_a, receiver.webhook_url(1, "desk-a"), ["fill"])
    channel_b = make_channel(tenant_b, receiver.webhook_url(2, "desk-b"), ["fill"])

    ids = fill_alert(tenant_a.pk)
    # A task that names the wrong tenant claims nothing, even with a real delivery id.
    assert services.delivery_send(tenant_id=tenant_b.pk, delivery_id=ids[0]) is None
    run(tenant_a.pk, ids)

    assert [r.path for r in receiver.received] == ["/api/webhooks/1/desk-a"]
    assert not NotificationDelivery.objects.for_tenant(tenant_b).filter(channel=channel_b).exists()


def test_notify_refuses_an_account_of_another_tenant(make_channel, receiver, tenant_a, account_b):
    make_channel(tenant_a, receiver.webhook_url(), ["fill"])
    with pytest.raises(InvalidNotification, match="is not an account of this tenant"):
        fill_alert(tenant_a.pk, account_id=account_b.pk)
    assert not NotificationDelivery.all_tenants.exists()


def test_channel_disabled_after_notify_is_skipped_not_posted(receiver, make_channel, tenant_a):
    channel = make_channel(tenant_a, receiver.webhook_url(), ["fill"])
    ids = fill_alert(tenant_a.pk)
    NotificationChannel.all_tenants.filter(pk=channel.pk).update(is_enabled=False)

    run(tenant_a.pk, ids)

    assert receiver.received == []
    assert delivery(ids[0]).status == DeliveryStatus.SKIPPED


def test_tenant_with_no_channels_gets_no_deliveries(tenant_a):
    assert fill_alert(tenant_a.pk) == []
    assert not NotificationDelivery.all_tenants.exists()


# --- Exactly one post ----------------------------------------------------------------------------


def test_duplicated_task_posts_once(receiver, make_channel, tenant_a):
    make_channel(tenant_a, receiver.webhook_url(), ["fill"])
    [delivery_id] = fill_alert(tenant_a.pk)

    delivery_send_task(tenant_id=tenant_a.pk, delivery_id=delivery_id)
    delivery_send_task(tenant_id=tenant_a.pk, delivery_id=delivery_id)

    assert len(receiver.received) == 1
    assert delivery(delivery_id).attempts == 1


def test_same_fact_reported_twice_posts_once(receiver, make_channel, tenant_a):
    make_channel(tenant_a, receiver.webhook_url(), ["fill"])
    first = fill_alert(tenant_a.pk, dedupe_key="fill:77")
    second = fill_alert(tenant_a.pk, dedupe_key="fill:77")
    run(tenant_a.pk, first + second)

    assert len(first) == 1
    assert second == []
    assert len(receiver.received) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_tasks_post_once(receiver, make_channel):
    tenant = MembershipFactory().tenant
    make_channel(tenant, receiver.webhook_url(), ["fill"])
    receiver.script(Reply(delay=0.2))
    [delivery_id] = fill_alert(tenant.pk)
    barrier = threading.Barrier(4)
    outcomes: list[str | None] = []

    def worker() -> None:
        try:
            barrier.wait()
            outcomes.append(services.delivery_send(tenant_id=tenant.pk, delivery_id=delivery_id))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(receiver.received) == 1
    assert sorted(outcomes, key=str) == [None, None, None, DeliveryStatus.SENT]


def test_alert_in_rolled_back_transaction_is_never_queued(
    receiver, make_channel, tenant_a, django_capture_on_commit_callbacks
):
    make_channel(tenant_a, receiver.webhook_url(), ["fill"])

    def record_fill_then_fail() -> None:
        with transaction.atomic():
            fill_alert(tenant_a.pk)
            raise RuntimeError("the fill write failed")

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError):
        record_fill_then_fail()

    assert callbacks == []
    assert not NotificationDelivery.all_tenants.exists()


def test_notify_queues_one_send_task_per_channel_on_the_low_queue(
    receiver, make_channel, tenant_a, django_capture_on_commit_callbacks
):
    """What reaches the broker, seen through Celery's after_task_publish signal (a worker elsewhere
    in the test run may consume the queue, so the list itself is not read back)."""
    make_channel(tenant_a, receiver.webhook_url(1, "one"), ["fill"], name="one")
    make_channel(tenant_a, receiver.webhook_url(2, "two"), ["fill"], name="two")
    published = []

    def record(sender=None, headers=None, routing_key=None, **kwargs):
        published.append((sender, routing_key, headers["kwargsrepr"]))

    after_task_publish.connect(record)
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            ids = fill_alert(tenant_a.pk)
            assert published == []  # nothing leaves before the commit
    finally:
        after_task_publish.disconnect(record)

    assert len(callbacks) == 2
    assert {(task, queue) for task, queue, _ in published} == {
        ("notifications.delivery_send", "low")
    }
    assert sorted(k for _, _, k in published) == sorted(
        repr({"tenant_id": tenant_a.pk, "delivery_id": i}) for i in ids
    )
    assert receiver.received == []  # queueing never posts


# --- Discord's answers ----------------------------------------------------------------------------


def test_429_is_honoured_before_the_second_attempt(receiver, make_channel, tenant_a):
    make_channel(tenant_a, receiver.webhook_url(), ["fill"])
    receiver.script(
        Reply(429, {"message": "You are being rate limited.", "retry_after": 0.4, "global": False})
    )
    [delivery_id] = fill_alert(tenant_a.pk)

    run(tenant_a.pk, [delivery_id])

    first, second = receiver.received
    assert second.at - first.at >= 0.4
    assert delivery(delivery_id).status == DeliveryStatus.SENT


def test_429_with_only_a_retry_after_header_is_honoured(receiver, make_channel, tenant_a):
    make_channel(tenant_a, receiver.webhook_url(), ["fill"])
    receiver.script(Reply(429, "<html>slow down</html>", headers={"Retry-After": "1"}))
    [delivery_id] = fill_alert(tenant_a.pk)

    run(tenant_a.pk, [delivery_id])

    first, second = receiver.received
    assert second.at - first.at >= 1.0
    assert delivery(delivery_id).status == DeliveryStatus.SENT


def test_long_429_defers_to_a_later_task_instead_of_holding_the_worker(
    receiver, make_channel, tenant_a, django_capture_on_commit_callbacks
):
    make_channel(tenant_a, receiver.webhook_url(), ["fill"])
    receiver.script(Reply(429, {"message": "You are being rate limited.", "retry_after": 30}))
    [first_id, second_id] = fill_alert(tenant_a.pk) + fill_alert(tenant_a.pk)

    started = time.monotonic()
    with django_capture_on_commit_callbacks() as callbacks:
        run(tenant_a.pk, [first_id, second_id])

    assert time.monotonic() - started < 2
    assert len(receiver.received) == 1  # the second never hit Discord inside the window
    for delivery_id in (first_id, second_id):
        deferred = delivery(delivery_id)
        assert deferred.status == DeliveryStatus.PENDING
        wait = (deferred.next_attempt_at - timezone.now()).total_seconds()
        assert 27 < wait <= 30
    assert delivery(first_id).last_status_code == 429
    assert len(callbacks) == 2  # each re-queued with its countdown
    # A duplicate task arriving early does not jump the window.
    run(tenant_a.pk, [first_id])
    assert len(receiver.received) == 1


def test_rate_limit_headers_make_the_next_post_wait(receiver, make_channel, tenant_a):
    make_channel(tenant_a, receiver.webhook_url(), ["fill"])
    receiver.script(Reply(headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "0.5"}))
    ids = fill_alert(tenant_a.pk) + fill_alert(tenant_a.pk)

    run(tenant_a.pk, ids)

    first, second = receiver.received
    assert second.at - first.at >= 0.5


def test_5xx_is_retried_with_backoff_then_sent(receiver, make_channel, tenant_a):
    make_channel(tenant_a, receiver.webhook_url(), ["fill"])
    receiver.script(Reply(500, {"message": "Internal"}), Reply(502, "<html>bad gateway</html>"))
    [delivery_id] = fill_alert(tenant_a.pk)

    run(tenant_a.pk, [delivery_id])

    first, second, third = receiver.received
    assert second.at - first.at >= 0.05
    assert third.at - second.at >= 0.1  # doubled
    sent = delivery(delivery_id)
    assert (sent.status, sent.attempts, sent.last_status_code) == (DeliveryStatus.SENT, 1, 200)


def test_persistent_5xx_goes_back_to_the_queue_with_a_growing_wait(
    receiver, make_channel, tenant_a, notif_settings, django_capture_on_commit_callbacks
):
    notif_settings.NOTIFICATIONS_HTTP_MAX_ATTEMPTS = 2
    notif_settings.NOTIFICATIONS_MAX_CLAIMS = 2
    make_channel(tenant_a, receiver.webhook_url(), ["fill"])
    receiver.script(*[Reply(503, {"message": "unavailable"})] * 4)
    [delivery_id] = fill_alert(tenant_a.pk)

    with django_capture_on_commit_callbacks() as callbacks:
        run(tenant_a.pk, [delivery_id])
    deferred = delivery(delivery_id)
    assert (deferred.status, deferred.last_status_code) == (DeliveryStatus.PENDING, 503)
    assert 28 < (deferred.next_attempt_at - timezone.now()).total_seconds() <= 30
    assert len(callbacks) == 1

    NotificationDelivery.all_tenants.filter(pk=delivery_id).update(next_attempt_at=timezone.now())
    run(tenant_a.pk, [delivery_id])  # the second and last run

    failed = delivery(delivery_id)
    assert failed.status == DeliveryStatus.FAILED
    assert failed.last_error.startswith("gave up after 2 runs: HTTP 503 from Discord")
    assert len(receiver.received) == 4


def test_4xx_is_not_retried_and_discords_message_is_recorded(receiver, make_channel, tenant_a):
    make_channel(tenant_a, receiver.webhook_url(), ["fill"])
    receiver.script(Reply(404, {"message": "Unknown Webhook", "code": 10015}))
    [delivery_id] = fill_alert(tenant_a.pk)

    run(tenant_a.pk, [delivery_id])
    run(tenant_a.pk, [delivery_id])

    assert len(receiver.received) == 1
    failed = delivery(delivery_id)
    assert failed.status == DeliveryStatus.FAILED
    assert failed.last_status_code == 404
    assert failed.last_error == "HTTP 404 (Discord code 10015): Unknown Webhook"


def test_400_keeps_discords_field_errors(receiver, make_channel, tenant_a):
    make_channel(tenant_a, receiver.webhook_url(), ["fill"])
    errors = {"embeds": {"0": {"fields": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH"}]}}}}
    receiver.script(Reply(400, {"message": "Invalid Form Body", "code": 50035, "errors": errors}))
    [delivery_id] = fill_alert(tenant_a.pk)

    run(tenant_a.pk, [delivery_id])

    failed = delivery(delivery_id)
    assert failed.last_status_code == 400
    assert failed.last_error.startswith("HTTP 400 (Discord code 50035): Invalid Form Body: {")
    assert "BASE_TYPE_MAX_LENGTH" in failed.last_error


def test_slow_answer_is_uncertain_and_never_reposted(receiver, make_channel, tenant_a):
    make_channel(tenant_a, receiver.webhook_url(), ["fill"])
    receiver.script(Reply(delay=1.0))  # longer than the 0.5 s read timeout
    [delivery_id] = fill_alert(tenant_a.pk)

    run(tenant_a.pk, [delivery_id])
    run(tenant_a.pk, [delivery_id])
    time.sleep(0.6)  # let the slow reply finish, in case a second request were in flight

    assert len(receiver.received) == 1
    unknown = delivery(delivery_id)
    assert unknown.status == DeliveryStatus.UNCERTAIN
    assert unknown.last_error == "no answer after sending (ReadTimeout); it may have posted"


def test_gateway_timeout_is_uncertain_not_retried(receiver, make_channel, tenant_a):
    make_channel(tenant_a, receiver.webhook_url(), ["fill"])
    receiver.script(Reply(504, "<html>gateway timeout</html>"))
    [delivery_id] = fill_alert(tenant_a.pk)

    run(tenant_a.pk, [delivery_id])

    assert len(receiver.received) == 1
    assert delivery(delivery_id).status == DeliveryStatus.UNCERTAIN
    assert delivery(delivery_id).last_status_code == 504


def test_unreachable_receiver_is_retried_then_deferred(
    make_channel, tenant_a, django_capture_on_commit_callbacks
):
    make_channel(tenant_a, "http://127.0.0.1:9/api/webhooks/1/nobody-listens", ["fill"])
    [delivery_id] = fill_alert(tenant_a.pk)

    with django_capture_on_commit_callbacks() as callbacks:
        run(tenant_a.pk, [delivery_id])

    deferred = delivery(delivery_id)
    assert deferred.status == DeliveryStatus.PENDING
    assert deferred.last_error.startswith("cannot connect (ConnectError)")
    assert len(callbacks) == 1


def test_webhook_on_a_host_not_allowed_is_refused_without_a_request(
    receiver, make_channel, tenant_a
):
    make_channel(tenant_a, f"http://10.0.0.1/api/webhooks/1/{TOKEN}", ["fill"])
    [delivery_id] = fill_alert(tenant_a.pk)

    run(tenant_a.pk, [delivery_id])

    failed = delivery(delivery_id)
    assert failed.status == DeliveryStatus.FAILED
    assert failed.last_error.startswith("webhook host 10.0.0.1 over http is not allowed")
    assert receiver.received == []


# --- The secret stays secret ----------------------------------------------------------------------


def test_webhook_url_never_appears_in_logs_or_stored_errors(
    receiver, make_channel, tenant_a, caplog
):
    for name in ("", "httpx", "httpcore", "notifications", "celery"):
        caplog.set_level(logging.DEBUG, logger=name)
    make_channel(tenant_a, receiver.webhook_url(5, TOKEN), ["fill", "error"])
    receiver.script(
        Reply(429, {"message": "You are being rate limited.", "retry_after": 0.05}),
        Reply(500, {"message": "boom"}),
        Reply(),
        Reply(404, {"message": "Unknown Webhook", "code": 10015}),
        Reply(delay=1.0),
    )
    ids = fill_alert(tenant_a.pk) + fill_alert(tenant_a.pk) + fill_alert(tenant_a.pk)
    ids += notify(
        tenant_id=tenant_a.pk,
        event="error",
        title=f"see {receiver.webhook_url(5, TOKEN)}",
        body="",
        fields={},
    )  # even a careless caller's text: Discord gets it, the logs do not
    run(tenant_a.pk, ids)

    assert any("HTTP Request: POST" in r.getMessage() for r in caplog.records)  # httpx did log
    assert any("/api/webhooks/5/[REDACTED]" in r.getMessage() for r in caplog.records)
    assert TOKEN not in caplog.text
    assert all(TOKEN not in r.getMessage() for r in caplog.records)
    assert all(TOKEN not in d.last_error for d in NotificationDelivery.all_tenants.all())
    assert [delivery(i).status for i in ids] == [
        DeliveryStatus.SENT,
        DeliveryStatus.FAILED,
        DeliveryStatus.UNCERTAIN,
        DeliveryStatus.SENT,
    ]
    assert not AuditEntry.objects.for_tenant(tenant_a).filter(after__icontains=TOKEN).exists()


# --- Bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"event": "fills"},
            "unknown event 'fills'; choose one of fill, risk, daily_summary, error",
        ),
        ({"title": "  "}, "an alert needs a non-empty title"),
        ({"fields": {"Price": 5012.25}}, "prices and amounts must be Decimal or int, not float"),
        ({"fields": [("a", "b")]}, "fields must be a mapping of name to value"),
        ({"dedupe_key": "k" * 121}, "dedupe_key must be 1 to 120 characters"),
    ],
    ids=[
        "unknown_event_case",
        "blank_title_case",
        "float_price_case",
        "list_fields_case",
        "long_key_case",
    ],
)
def test_notify_rejects_bad_input_with_a_clear_error(tenant_a, overrides, message):
    with pytest.raises(InvalidNotification) as excinfo:
        fill_alert(tenant_a.pk, **overrides)
    assert str(excinfo.value) == message


def test_fields_keep_their_order_through_the_database(receiver, make_channel, tenant_a):
    make_channel(tenant_a, receiver.webhook_url(), ["daily_summary"])
    fields = {"Trades": 7, "Net P&L": Decimal("-312.50"), "Win rate": "43%", "A": "x", "Zz": "y"}
    ids = notify(tenant_id=tenant_a.pk, event="daily_summary", title="Day", body="", fields=fields)
    run(tenant_a.pk, ids)

    [embed] = receiver.received[0].json["embeds"]
    assert [f["name"] for f in embed["fields"]] == list(fields)
    assert embed["fields"][1]["value"] == "-312.50"


# --- Repair and operations ------------------------------------------------------------------------


def test_sweep_marks_dead_claims_uncertain_and_requeues_lost_tasks(
    receiver, make_channel, tenant_a, django_capture_on_commit_callbacks
):
    make_channel(tenant_a, receiver.webhook_url(), ["fill"])
    dead, lost, fresh, old = (fill_alert(tenant_a.pk)[0] for _ in range(4))
    now = timezone.now()
    rows = NotificationDelivery.all_tenants
    rows.filter(pk=dead).update(status=DeliveryStatus.SENDING, claimed_at=now - timedelta(hours=1))
    rows.filter(pk=lost).update(next_attempt_at=now - timedelta(minutes=5))
    rows.filter(pk=old).update(created_at=now - timedelta(days=2))

    with django_capture_on_commit_callbacks() as callbacks:
        counts = services.delivery_sweep(now=now)

    assert counts == {"uncertain": 1, "expired": 1, "requeued": 1}
    assert delivery(dead).status == DeliveryStatus.UNCERTAIN
    assert delivery(old).status == DeliveryStatus.FAILED
    assert delivery(fresh).status == DeliveryStatus.PENDING
    assert delivery(lost).next_attempt_at == now
    assert len(callbacks) == 1
    assert services.delivery_sweep(now=now) == {"uncertain": 0, "expired": 0, "requeued": 0}


def test_requeue_of_an_uncertain_delivery_is_audited_and_sends_again(
    receiver, make_channel, tenant_a, alice
):
    make_channel(tenant_a, receiver.webhook_url(), ["fill"])
    receiver.script(Reply(delay=1.0))
    [delivery_id] = fill_alert(tenant_a.pk)
    run(tenant_a.pk, [delivery_id])
    assert delivery(delivery_id).status == DeliveryStatus.UNCERTAIN

    services.delivery_requeue(tenant_id=tenant_a.pk, delivery_id=delivery_id, actor=alice)
    run(tenant_a.pk, [delivery_id])

    assert delivery(delivery_id).status == DeliveryStatus.SENT
    entry = AuditEntry.objects.for_tenant(tenant_a).get(action="notification_delivery.requeue")
    assert (entry.actor, entry.before["status"], entry.after["status"]) == (
        alice,
        "uncertain",
        "pending",
    )
    with pytest.raises(InvalidNotification, match="this one is sent"):
        services.delivery_requeue(tenant_id=tenant_a.pk, delivery_id=delivery_id, actor=alice)


def test_cleanup_deletes_only_old_finished_deliveries(receiver, make_channel, tenant_a):
    make_channel(tenant_a, receiver.webhook_url(), ["fill"])
    old_sent, old_pending, new_sent = (fill_alert(tenant_a.pk)[0] for _ in range(3))
    rows = NotificationDelivery.all_tenants
    rows.filter(pk__in=[old_sent, new_sent]).update(status=DeliveryStatus.SENT)
    rows.filter(pk__in=[old_sent, old_pending]).update(
        created_at=timezone.now() - timedelta(days=31)
    )

    assert services.delivery_cleanup() == 1
    assert set(rows.values_list("pk", flat=True)) == {old_pending, new_sent}


def test_account_footer_says_live_for_a_live_connection(receiver, make_channel, tenant_a):
    account = TradingAccountFactory(tenant=tenant_a, connection__environment="live", name="XFA-1")
    make_channel(tenant_a, receiver.webhook_url(), ["risk"])
    ids = notify(
        tenant_id=tenant_a.pk,
        event="risk",
        title="Daily loss at 80%",
        body="",
        fields={},
        account_id=account.pk,
    )
    run(tenant_a.pk, ids)

    [embed] = receiver.received[0].json["embeds"]
    assert embed["footer"] == {"text": "XFA-1 (live)"}
    assert embed["color"] == 0xE67E22


def test_webhook_url_check_uses_the_configured_origins(settings):
    settings.NOTIFICATIONS_WEBHOOK_ORIGINS = ["https://discord.com"]
    services.webhook_url_check("https://discord.com/api/webhooks/1/abc")
    with pytest.raises(services.InvalidWebhookUrl, match=r"webhook host 127\.0\.0\.1 over http"):
        services.webhook_url_check("http://127.0.0.1/api/webhooks/1/abc")


def test_notify_costs_the_trading_transaction_five_queries_whatever_the_channel_count(
    receiver, make_channel, account_a, django_assert_num_queries
):
    for index in range(4):
        make_channel(account_a.tenant, receiver.webhook_url(index, "t"), ["fill"], name=f"c{index}")
    # savepoint, account check, channel list, one INSERT … RETURNING for all four, release
    with django_assert_num_queries(5):
        ids = fill_alert(account_a.tenant_id, account_id=account_a.pk)
    assert len(ids) == 4
