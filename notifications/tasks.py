"""Celery tasks for notifications: ids in, one service call; all on the "low" queue.

`delivery_send` runs with acks_late: a redelivered or duplicated task is harmless because the service
claims the delivery row before posting (see notifications.services). Celery's own retries stay off:
the service schedules the next attempt itself, after recording why, so the row is the one truth.
"""

from celery import shared_task

from notifications import services


@shared_task(name="notifications.delivery_send", acks_late=True, ignore_result=True)
def delivery_send_task(*, tenant_id: int, delivery_id: int) -> None:
    services.delivery_send(tenant_id=tenant_id, delivery_id=delivery_id)


@shared_task(name="notifications.delivery_sweep", ignore_result=True)
def delivery_sweep_task() -> None:
    services.delivery_sweep()


@shared_task(name="notifications.cleanup_deliveries", ignore_result=True)
def cleanup_deliveries_task() -> None:
    services.delivery_cleanup()
