from celery import shared_task

from analytics.health import heartbeat_record


@shared_task(name="analytics.heartbeat", ignore_result=True)
def heartbeat_task() -> None:
    """Proves beat scheduled and a worker ran something; read by the health page."""
    heartbeat_record()
