"""The one way to queue work: by task name, with a stated policy for when the queue (Redis) refuses.

Services queue work through `enqueue` / `enqueue_on_commit` with the task's registered name, so no
service imports a `tasks.py` (the tasks import the services, not the other way round). The queue is
the caller's or the route in settings.CELERY_TASK_ROUTES. Each kind of work states what happens when
the broker cannot take it (after Celery's own quick publish retries, which every policy gets):

- RISK_REDUCING (flatten, cancel-all, OCO cancels, protecting a filled entry): run it here and now,
  in this process. This work protects an account; losing it with the queue could leave a position
  open or unprotected, and a slower request is the lesser harm.
- SWEPT (order sends and recoveries, notification deliveries, backtest runs): log and go on. A
  periodic job finds the row still waiting and queues it again (reconciliation sends NEW orders, the
  delivery sweeper re-queues pending deliveries, a backtest not started in time is handed over again).
- RETRY (everything nothing else would find again: resyncs, evaluation runs, the demo desk's first
  connect): more patient publish retries (RETRY_PUBLISH, about 4 s: a Redis restart is brief), then
  an ERROR log naming the lost task, the alert path for operators; the caller's committed
  work stands and the next after-commit callbacks still run.
- RAISE (the caller answers for it: a Discord command tells the user, a fan-out task fails visibly in
  the worker's log and beat runs it again): the broker's error reaches the caller.
"""

import enum
import logging
from typing import Any

from celery import Task
from django.db import transaction

from tradingsite.celery import app

logger = logging.getLogger(__name__)

# Celery's default is three attempts within about a second; work that nothing would queue again waits
# a little longer for Redis (about 4 s in all), short enough for a request or the hubs to bear.
RETRY_PUBLISH = {"max_retries": 5, "interval_start": 0.2, "interval_step": 0.4, "interval_max": 1}


class Policy(enum.Enum):
    RISK_REDUCING = "risk_reducing"
    SWEPT = "swept"
    RETRY = "retry"
    RAISE = "raise"


def task_by_name(name: str) -> Task:
    """The registered task; the apps' tasks modules are imported on first need (autodiscovery is
    lazy outside a worker). Not through `app.loader.import_default_modules()`: its Django fixup
    runs `django.setup()` again, whose logging set-up replaces the root handlers mid-process. An
    unknown name raises celery's NotRegistered."""
    if name not in app.tasks:
        app.autodiscover_tasks(force=True)
    return app.tasks[name]


def enqueue(
    task_name: str,
    *,
    policy: Policy,
    queue: str | None = None,
    countdown: float | None = None,
    expires: float | None = None,
    **kwargs: Any,
) -> None:
    """Queue `task_name(**kwargs)` now; a refusal is handled as `policy` says (module docstring)."""
    task = task_by_name(task_name)
    try:
        task.apply_async(
            kwargs=kwargs,
            queue=queue,
            countdown=countdown,
            expires=expires,
            retry_policy=RETRY_PUBLISH if policy is Policy.RETRY else None,
        )
    except Exception:
        if policy is Policy.RAISE:
            raise
        if policy is Policy.RISK_REDUCING:
            logger.exception("could not queue %s; running it in this process", task_name)
            task.apply(kwargs=kwargs)
        elif policy is Policy.SWEPT:
            logger.exception(
                "could not queue %s %s; a sweep will queue it again", task_name, kwargs
            )
        else:
            logger.error("could not queue %s %s; it is lost", task_name, kwargs, exc_info=True)


def enqueue_on_commit(
    task_name: str,
    *,
    policy: Policy,
    queue: str | None = None,
    countdown: float | None = None,
    expires: float | None = None,
    **kwargs: Any,
) -> None:
    """`enqueue` once the current transaction commits (at once outside one); nothing if it rolls back.
    The name is checked now, so a misspelt task fails inside the caller's transaction."""
    task_by_name(task_name)
    transaction.on_commit(
        lambda: enqueue(
            task_name, policy=policy, queue=queue, countdown=countdown, expires=expires, **kwargs
        )
    )
