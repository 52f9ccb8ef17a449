from celery import shared_task

from apiauth import services


@shared_task(name="apiauth.cleanup_api_tokens", ignore_result=True)
def cleanup_api_tokens_task() -> None:
    """Idempotent: deleting what already ended deletes nothing the second time."""
    services.api_token_purge()
