"""A task that logs secrets every way task code can: loaded only by the worker that
test_worker_logging.py starts (`--include`), never by the product."""

import logging

from celery import shared_task
from celery.utils.log import get_task_logger

task_logger = get_task_logger(__name__)
module_logger = logging.getLogger("execution.gateway.client")


@shared_task(name="tests.log_secrets")
def log_secrets_task(*, marker: str) -> None:
    task_logger.info("%s task-logger apiKey=%s", marker, "SECRET-task-logger")
    module_logger.warning('%s module-logger {"token": "SECRET-module-logger"}', marker)
    print(f"{marker} print Authorization: Bearer SECRET-print")
    try:
        raise ConnectionError(f"login failed for password=SECRET-traceback ({marker})")
    except ConnectionError:
        module_logger.exception("%s logged exception", marker)
    raise ValueError(f"apiKey=SECRET-task-failure ({marker})")
