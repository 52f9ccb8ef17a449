"""The Celery app: Redis broker, five priority queues, schedules stored in the database (beat)."""

import os

from celery import Celery
from celery.signals import worker_ready
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")

app = Celery("tradingsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in ("critical", "high", "normal", "low", "background")]
app.autodiscover_tasks()


@worker_ready.connect
def reconcile_at_start(sender, **kwargs) -> None:
    """After a restart (a worker killed mid-order included), take the broker's truth at once."""
    sender.app.send_task("execution.orders_reconcile_fleet", queue="normal")
