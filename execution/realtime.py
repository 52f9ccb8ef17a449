"""The one path from services to open dashboards: publish an account event after commit."""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def account_group(*, tenant_id: int, account_id: int) -> str:
    # Channels group names allow ASCII letters, digits, '-', '_' and '.', under 100 characters.
    return f"tenant.{tenant_id}.account.{account_id}"


def publish_account_event(
    *, tenant_id: int, account_id: int, kind: str, data: dict[str, Any]
) -> None:
    """Queue a push to the account's dashboards once the surrounding transaction commits."""
    group = account_group(tenant_id=tenant_id, account_id=account_id)
    message = {"type": "account.event", "payload": {"kind": kind, "data": data}}

    def send() -> None:
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(group, message)

    # robust: a push is best effort (a dashboard reloads on reconnect); with Redis down it must not
    # fail the caller after its commit, nor skip the callbacks queued after it.
    transaction.on_commit(send, robust=True)
