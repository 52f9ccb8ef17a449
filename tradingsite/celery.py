"""The Celery app: Redis broker, priority queues served by separate pools (Procfile), schedules stored in
the database (beat). Routing lives in settings (CELERY_TASK_ROUTES)."""

import os
from logging.config import dictConfig

from celery import Celery
from celery.signals import setup_logging, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")
# Nothing here may read a setting at import: manage.py imports this package before it can explain a
# missing setting in one line (tradingsite/startup.py).

app = Celery("tradingsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def reconcile_at_start(sender, **kwargs) -> None:
    """After a restart (a worker killed mid-order included), take the broker's truth at once. Only the
    pool that runs reconciliation asks, so a restart of the backtest pool queues nothing."""
    served = {queue.name for queue in sender.task_consumer.queues}
    route = app.amqp.router.route({}, "execution.orders_reconcile_fleet")
    if route["queue"].name in served:
        sender.app.send_task("execution.orders_reconcile_fleet")


@setup_logging.connect
def use_django_logging(**kwargs) -> None:
    """Left alone, Celery replaces the root handlers with its own, which lack the redaction filter
    (accounts/logging.py), and secrets logged in tasks reach the worker's log. With a receiver here
    Celery configures nothing: workers and beat log through settings.LOGGING, as the web does."""
    from django.conf import settings

    dictConfig(settings.LOGGING)
    # Celery sends print() output to the log only when it configured logging itself; keep that.
    if app.conf.worker_redirect_stdouts:
        app.log.redirect_stdouts(app.conf.worker_redirect_stdouts_level)
