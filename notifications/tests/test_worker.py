"""End to end through a real Celery worker on the Redis broker: notify → "low" queue → Discord."""

import time

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.conf import settings

from accounts.tests.factories import MembershipFactory
from notifications.models import DeliveryStatus, NotificationDelivery
from notifications.services import notify
from tradingsite.celery import app


@pytest.mark.django_db(transaction=True)
def test_a_worker_on_the_low_queue_delivers_a_committed_alert(receiver, make_channel):
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete("low")  # no stale messages
    tenant = MembershipFactory().tenant
    make_channel(tenant, receiver.webhook_url(7, "e2e"), ["risk"])

    with start_worker(app, pool="solo", perform_ping_check=False, queues=["low"]):
        [delivery_id] = notify(
            tenant_id=tenant.pk, event="risk", title="Daily loss at 80%", body="", fields={}
        )
        deadline = time.monotonic() + 10
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.02)
        while time.monotonic() < deadline:  # the worker records the outcome after the post
            status = NotificationDelivery.all_tenants.get(pk=delivery_id).status
            if status != DeliveryStatus.SENDING:
                break
            time.sleep(0.02)

    assert [r.path for r in receiver.received] == ["/api/webhooks/7/e2e"]
    assert NotificationDelivery.all_tenants.get(pk=delivery_id).status == DeliveryStatus.SENT
