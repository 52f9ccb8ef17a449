"""The one path from services to open dashboards: publish an account event after commit.

Publishing runs on one long-lived event loop per process (a daemon thread) rather than a fresh loop
per call (`async_to_sync`): the channel layer keeps one Redis connection per loop, so a fresh loop
paid a new connection for every push (~2.5 ms, several times per order).
"""

import asyncio
import os
import threading
from typing import Any

from channels.layers import get_channel_layer
from django.db import transaction

PUBLISH_TIMEOUT_SECONDS = 2.0  # a frozen Redis delays the caller no longer than this
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None
_loop_lock = threading.Lock()


def account_group(*, tenant_id: int, account_id: int) -> str:
    # Channels group names allow ASCII letters, digits, '-', '_' and '.', under 100 characters.
    return f"tenant.{tenant_id}.account.{account_id}"


def user_group(*, user_id: int) -> str:
    """Every socket of one user, whatever the tenant: how a revoked membership reaches them."""
    return f"user.{user_id}"


def _publisher_loop() -> asyncio.AbstractEventLoop:
    """This process's publishing loop (started on first use, and again after a fork)."""
    global _loop, _loop_pid
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid():
            _loop = asyncio.new_event_loop()
            _loop_pid = os.getpid()
            threading.Thread(target=_loop.run_forever, name="push-publisher", daemon=True).start()
        return _loop


def publish_account_event(
    *, tenant_id: int, account_id: int, kind: str, data: dict[str, Any]
) -> None:
    """Queue a push to the account's dashboards once the surrounding transaction commits."""
    _group_send_on_commit(
        account_group(tenant_id=tenant_id, account_id=account_id),
        {"type": "account.event", "payload": {"kind": kind, "data": data}},
    )


def close_member_sockets(*, tenant_id: int, user_id: int) -> None:
    """Once the removal commits, the user's open sockets on this tenant's accounts close (their
    other tenants' stay open). Best effort like every push; the consumers also re-check membership
    (AccountConsumer.RECHECK_SECONDS), so a message lost with Redis cannot keep a socket open."""
    _group_send_on_commit(
        user_group(user_id=user_id), {"type": "membership.revoked", "tenant_id": tenant_id}
    )


def _group_send_on_commit(group: str, message: dict[str, Any]) -> None:
    def send() -> None:
        layer = get_channel_layer()
        if layer is not None:
            sent = asyncio.run_coroutine_threadsafe(
                layer.group_send(group, message), _publisher_loop()
            )
            sent.result(timeout=PUBLISH_TIMEOUT_SECONDS)

    # robust: a push is best effort (a dashboard reloads on reconnect); with Redis down it must not
    # fail the caller after its commit, nor skip the callbacks queued after it.
    transaction.on_commit(send, robust=True)
