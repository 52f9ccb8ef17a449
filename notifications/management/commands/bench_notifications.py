"""Measure what alerts cost: the trading path (notify + queueing) and the sender (posts per second).

    manage.py bench_notifications [--alerts 1000] [--channels 3]

Runs inside one transaction that is rolled back, so it leaves no rows behind; posts go to a local
receiver (127.0.0.1), never to Discord. Queueing is measured against the real broker on a scratch
queue that is deleted afterwards.
"""

import statistics
import time
from typing import Any

import redis
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test import override_settings

from accounts.models import Tenant
from accounts.services import notification_channel_create
from notifications.services import delivery_send, notify
from notifications.tasks import delivery_send_task
from notifications.tests.receiver import WebhookReceiver

SCRATCH_QUEUE = "bench-notifications"


class Rollback(Exception):
    pass


def _summary(samples_ms: list[float]) -> str:
    ordered = sorted(samples_ms)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):.3f} ms, p99 {p99:.3f} ms, max {ordered[-1]:.3f} ms"


class Command(BaseCommand):
    help = "Benchmark notify() on the trading path and the Discord sender against a local receiver."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--alerts", type=int, default=1000)
        parser.add_argument("--channels", type=int, default=3)

    def handle(self, *args: Any, alerts: int, channels: int, **options: Any) -> None:
        receiver = WebhookReceiver()
        try:
            with override_settings(NOTIFICATIONS_WEBHOOK_ORIGINS=["http://127.0.0.1"]):
                try:
                    with transaction.atomic():
                        self._run(receiver, alerts, channels)
                        raise Rollback
                except Rollback:
                    pass
            self._queueing(alerts)
        finally:
            receiver.close()

    def _run(self, receiver: WebhookReceiver, alerts: int, channels: int) -> None:
        tenant = Tenant.objects.create(name="bench", slug=f"bench-{time.time_ns()}")
        for index in range(channels):
            notification_channel_create(
                tenant=tenant,
                actor=None,
                name=f"c{index}",
                url=receiver.webhook_url(index + 1, f"bench{index}"),
                events=["fill"],
            )
        notify_ms, ids = [], []
        for index in range(alerts):
            started = time.perf_counter()
            with transaction.atomic():  # as the fill write would be
                ids += notify(
                    tenant_id=tenant.pk,
                    event="fill",
                    title=f"Bought 1 ES #{index}",
                    body="bench",
                    fields={"Price": "5012.25", "Size": 1},
                    dedupe_key=f"fill:{index}",
                )
            notify_ms.append((time.perf_counter() - started) * 1000)
        self.stdout.write(
            f"notify() with {channels} channels, {alerts} alerts: {_summary(notify_ms)}"
        )

        started = time.perf_counter()
        for delivery_id in ids:
            delivery_send(tenant_id=tenant.pk, delivery_id=delivery_id)
        elapsed = time.perf_counter() - started
        posted = len(receiver.received)
        self.stdout.write(
            f"sender, one process: {posted} posts in {elapsed:.2f} s = {posted / elapsed:.0f} posts/s "
            f"({elapsed / max(posted, 1) * 1000:.2f} ms each, claim + post + record)"
        )

    def _queueing(self, alerts: int) -> None:
        broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        samples = []
        try:
            for index in range(alerts):
                started = time.perf_counter()
                delivery_send_task.apply_async(
                    kwargs={"tenant_id": 0, "delivery_id": index}, queue=SCRATCH_QUEUE, retry=False
                )
                samples.append((time.perf_counter() - started) * 1000)
        finally:
            broker.delete(SCRATCH_QUEUE)
        self.stdout.write(f"queueing one send task at commit (Redis): {_summary(samples)}")
