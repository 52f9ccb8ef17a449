"""Alerts to tenants' channels: `notify` records them with the trading write, a worker posts them.

Delivery guarantees, and why:
- Never lost: `notify` writes one `NotificationDelivery` row per subscribed channel inside the caller's
  transaction and queues the task on commit. If the broker loses the task (or was down at commit), the
  sweeper finds the row still pending and queues it again.
- Never posted twice by us: a worker posts only after claiming the row with a conditional
  `UPDATE … SET status='sending' WHERE status='pending'` that must change exactly one row, so duplicated,
  redelivered or concurrent tasks for one delivery post at most once. The same `dedupe_key` (e.g. a fill
  id) on one channel is one row, so reporting the same fact twice also posts once.
- At most once when in doubt: Discord webhooks have no idempotency key, and we cannot look a message up
  without its id. When a post's outcome is unknown (read timeout, dropped connection, gateway timeout,
  or a worker that died while sending), the row becomes "uncertain" and is NOT retried automatically:
  for trading alerts a duplicate "filled 2 ES" is as misleading as a missing one, and a missing alert is
  visible (uncertain rows show in the admin and the API) while a duplicate is not. An operator can
  re-send it with `delivery_requeue`.
- Never blocking trading: `notify` only inserts rows; all HTTP happens in Celery on the "low" queue.
"""

import json
import logging
import os
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.crypto import SecretUnreadable, decrypt_secret
from accounts.models import NotificationKind, TradingAccount
from accounts.services import audit_record
from accounts.tenancy import tenant_pk
from notifications import selectors
from notifications.conf import NotificationConfig, notification_config
from notifications.discord import (
    DiscordMessage,
    DiscordOutcomeUnknown,
    DiscordRejected,
    DiscordRetryLater,
    DiscordWebhookClient,
    InvalidWebhookUrl,
    validate_webhook_url,
)
from notifications.models import DeliveryStatus, NotificationDelivery, NotificationEvent
from notifications.ratelimits import CacheRateLimits
from tradingsite.dispatch import Policy, enqueue_on_commit

logger = logging.getLogger(__name__)

QUEUE = "low"
CLAIM_SLACK = timedelta(seconds=2)  # a countdown may fire a little early on a worker's clock
SENDER_NAME = "Trading alerts"
USER_AGENT = "tradingsite-alerts/0.1 (+https://discord.com/developers/docs/resources/webhook)"
COLOURS = {
    NotificationEvent.FILL: 0x3498DB,
    NotificationEvent.RISK: 0xE67E22,
    NotificationEvent.DAILY_SUMMARY: 0x95A5A6,
    NotificationEvent.ERROR: 0xE74C3C,
}
DEDUPE_KEY_MAX = NotificationDelivery._meta.get_field("dedupe_key").max_length


class InvalidNotification(ValueError):
    """`notify` or a delivery action was called with arguments that cannot make an alert."""


# --- Raising an alert -----------------------------------------------------------------------------


def notify(
    *,
    tenant_id: int,
    event: str,
    title: str,
    body: str,
    fields: Mapping[str, Any],
    account_id: int | None = None,
    dedupe_key: str | None = None,
) -> list[int]:
    """Queue an alert to every enabled channel of the tenant subscribed to `event`.

    Call it inside the transaction that records the fact: the alert is sent only if that commits.
    `dedupe_key` names the fact ("fill:123"); a second call with the same key posts nothing new.
    Returns the ids of the deliveries created by this call.
    """
    tenant_id = tenant_pk(tenant_id)
    _validate(event=event, title=title, body=body, dedupe_key=dedupe_key)
    pairs = _field_pairs(fields)
    key = dedupe_key or uuid.uuid4().hex
    with transaction.atomic():  # a savepoint inside the caller's transaction
        if account_id is not None and not _account_exists(tenant_id, account_id):
            raise InvalidNotification(f"account {account_id} is not an account of this tenant")
        channel_ids = list(
            selectors.channel_list_for_event(tenant=tenant_id, event=event).values_list(
                "pk", flat=True
            )
        )
        if not channel_ids:
            return []
        created = _insert_deliveries(
            tenant_id=tenant_id,
            channel_ids=channel_ids,
            values={
                "account_id": account_id,
                "event": event,
                "dedupe_key": key,
                "title": title,
                "body": body,
                "fields": pairs,
            },
        )
        for delivery_id in created:
            _queue_send(tenant_id=tenant_id, delivery_id=delivery_id)
    return created


def _insert_deliveries(
    *, tenant_id: int, channel_ids: list[int], values: dict[str, Any]
) -> list[int]:
    """One `INSERT … ON CONFLICT DO NOTHING RETURNING id` for all channels: the ids of new rows.

    A single statement keeps the trading transaction short (get_or_create per channel costs four
    round trips each) and is race-free: a concurrent notify with the same key inserts nothing.
    """
    model = NotificationDelivery
    now = timezone.now()
    row = {
        "tenant_id": tenant_id,
        **values,
        "fields": json.dumps(values["fields"]),
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": "",
        "discord_message_id": "",
        "created_at": now,
        "updated_at": now,
    }
    columns = ["channel_id", *row]
    quote = connection.ops.quote_name
    one = "(" + ", ".join("%s::jsonb" if c == "fields" else "%s" for c in columns) + ")"
    # Identifiers come from the model, every value is a bound parameter.
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "  # noqa: S608
        f"VALUES {', '.join([one] * len(channel_ids))} "
        "ON CONFLICT (channel_id, dedupe_key) DO NOTHING RETURNING id"
    )
    params = [p for channel_id in channel_ids for p in (channel_id, *row.values())]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(r[0] for r in cursor.fetchall())


def _validate(*, event: str, title: str, body: str, dedupe_key: str | None) -> None:
    if event not in NotificationEvent.values:
        raise InvalidNotification(
            f"unknown event {event!r}; choose one of {', '.join(NotificationEvent.values)}"
        )
    if not isinstance(title, str) or not title.strip():
        raise InvalidNotification("an alert needs a non-empty title")
    if not isinstance(body, str):
        raise InvalidNotification("the alert body must be text")
    if dedupe_key is not None and not 0 < len(dedupe_key) <= DEDUPE_KEY_MAX:
        raise InvalidNotification(f"dedupe_key must be 1 to {DEDUPE_KEY_MAX} characters")


def _field_pairs(fields: Mapping[str, Any]) -> list[list[str]]:
    if not isinstance(fields, Mapping):
        raise InvalidNotification("fields must be a mapping of name to value")
    return [[str(name), _text(value)] for name, value in fields.items()]


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidNotification("datetimes in alert fields must be timezone-aware")
        return value.isoformat(timespec="seconds")
    if isinstance(value, float):
        raise InvalidNotification("prices and amounts must be Decimal or int, not float")
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _account_exists(tenant_id: int, account_id: int) -> bool:
    return TradingAccount.objects.for_tenant(tenant_id).filter(pk=account_id).exists()


def _queue_send(*, tenant_id: int, delivery_id: int, countdown: float = 0.0) -> None:
    """Queue the send after commit; a broker failure is logged, never raised into trading code."""
    enqueue_on_commit(
        "notifications.delivery_send",
        policy=Policy.SWEPT,  # the sweeper re-queues pending rows
        queue=QUEUE,
        countdown=countdown or None,
        tenant_id=tenant_id,
        delivery_id=delivery_id,
    )


def webhook_url_check(url: str) -> None:
    """Raise InvalidWebhookUrl unless `url` is a webhook on an allowed origin; for forms and APIs.

    The send path checks again, so a URL stored before the origins changed is still refused.
    """
    validate_webhook_url(url, allowed_origins=notification_config().webhook_origins)


# --- Sending one delivery -------------------------------------------------------------------------


def delivery_send(
    *, tenant_id: int, delivery_id: int, client: DiscordWebhookClient | None = None
) -> str | None:
    """Post one delivery at most once; returns its new status, or None if this call did not claim it.

    1. Claim the row (pending → sending) with a conditional UPDATE; stop unless it changed one row.
    2. Re-check the preference: a channel disabled or unsubscribed since `notify` gets nothing.
    3. Post with no database transaction open (never hold one across network I/O).
    4. Record the outcome: sent, failed (4xx or retries used up), uncertain, or pending again with a
       later `next_attempt_at` and a task queued for then.
    """
    config = notification_config()
    now = timezone.now()
    claimed = (
        NotificationDelivery.objects.for_tenant(tenant_id)
        .filter(
            pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now + CLAIM_SLACK
        )
        .update(
            status=DeliveryStatus.SENDING,
            claimed_at=now,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
    )
    if claimed != 1:
        logger.info("delivery %s not claimed (already handled, in flight or gone)", delivery_id)
        return None
    delivery = selectors.delivery_get(tenant=tenant_id, delivery_id=delivery_id)
    if delivery is None:
        return None  # the channel was deleted between the claim and the read
    try:
        status, changes = _attempt(delivery, client or discord_client(config), config)
    except Exception as exc:
        _finish(
            delivery, DeliveryStatus.UNCERTAIN, last_error=f"internal error ({type(exc).__name__})"
        )
        raise
    _finish(delivery, status, **changes)
    if status == DeliveryStatus.PENDING:
        delay = (changes["next_attempt_at"] - timezone.now()).total_seconds()
        _queue_send(tenant_id=tenant_id, delivery_id=delivery_id, countdown=max(0.0, delay))
    return status


_shared_http: tuple[int, httpx.Client] | None = None


def _http_client() -> httpx.Client:
    """One pooled client per process: building one costs ~30 ms (TLS context), reuse keeps the
    connection to Discord warm. Keyed by pid so a forked worker never shares its parent's sockets."""
    global _shared_http
    if _shared_http is None or _shared_http[0] != os.getpid():
        client = httpx.Client(follow_redirects=False, headers={"User-Agent": USER_AGENT})
        _shared_http = (os.getpid(), client)
    return _shared_http[1]


def discord_client(config: NotificationConfig) -> DiscordWebhookClient:
    """The one Discord HTTP client setup (timeouts, shared rate limits), also used by chatops."""
    timeout = httpx.Timeout(config.read_timeout_seconds, connect=config.connect_timeout_seconds)
    return DiscordWebhookClient(
        http=_http_client(), limits=CacheRateLimits(), policy=config.retry, timeout=timeout
    )


def _attempt(
    delivery: NotificationDelivery, client: DiscordWebhookClient, config: NotificationConfig
) -> tuple[str, dict[str, Any]]:
    channel = delivery.channel
    if not channel.is_enabled or delivery.event not in channel.events:
        return DeliveryStatus.SKIPPED, {"last_error": "channel disabled or unsubscribed from event"}
    if channel.kind != NotificationKind.DISCORD:
        return DeliveryStatus.FAILED, {"last_error": f"unsupported channel kind {channel.kind!r}"}
    try:
        url = decrypt_secret(channel.url_encrypted)
        validate_webhook_url(url, allowed_origins=config.webhook_origins)
    except (SecretUnreadable, InvalidWebhookUrl) as exc:
        return _failed(delivery, None, str(exc))
    payload = delivery_message(delivery).to_payload()
    try:
        posted = client.execute(url=url, payload=payload, bucket=f"channel.{channel.pk}")
    except DiscordRejected as exc:
        return _failed(delivery, exc.status_code, str(exc))
    except DiscordOutcomeUnknown as exc:
        logger.warning("delivery %s outcome unknown: %s", delivery.pk, exc.reason)
        return DeliveryStatus.UNCERTAIN, {
            "last_status_code": exc.status_code,
            "last_error": exc.reason,
        }
    except DiscordRetryLater as exc:
        return _retry_or_fail(delivery, exc, config)
    return DeliveryStatus.SENT, {
        "sent_at": timezone.now(),
        "last_status_code": posted.status_code,
        "discord_message_id": posted.message_id,
        "last_error": "",
    }


def _failed(
    delivery: NotificationDelivery, status_code: int | None, error: str
) -> tuple[str, dict[str, Any]]:
    logger.warning("delivery %s to channel %s failed: %s", delivery.pk, delivery.channel_id, error)
    return DeliveryStatus.FAILED, {"last_status_code": status_code, "last_error": error}


def _retry_or_fail(
    delivery: NotificationDelivery, exc: DiscordRetryLater, config: NotificationConfig
) -> tuple[str, dict[str, Any]]:
    if delivery.attempts >= config.max_claims:
        return _failed(delivery, exc.status_code, f"gave up after {delivery.attempts} runs: {exc}")
    if exc.rate_limited:
        delay = exc.delay_seconds  # Discord said exactly when; waiting longer only delays the alert
    else:
        backoff = config.claim_backoff_seconds * 2 ** (delivery.attempts - 1)
        delay = max(exc.delay_seconds, backoff)
    delay = min(delay, config.max_defer_seconds)
    return DeliveryStatus.PENDING, {
        "next_attempt_at": timezone.now() + timedelta(seconds=delay),
        "last_status_code": exc.status_code,
        "last_error": str(exc),
    }


def _finish(delivery: NotificationDelivery, status: str, **changes: Any) -> None:
    """Record an outcome, only over our own claim (a sweeper may have judged the claim dead)."""
    updated = (
        NotificationDelivery.objects.for_tenant(delivery.tenant_id)
        .filter(pk=delivery.pk, status=DeliveryStatus.SENDING)
        .update(status=status, updated_at=timezone.now(), **changes)
    )
    if updated != 1:
        logger.warning("delivery %s was no longer ours when recording %s", delivery.pk, status)


def delivery_message(delivery: NotificationDelivery) -> DiscordMessage:
    event = NotificationEvent(delivery.event)
    footer = ""
    if delivery.account is not None:
        account = delivery.account
        footer = f"{account.name} ({'paper' if account.is_simulated else 'live'})"
    return DiscordMessage(
        content=f"**{event.label}** · {delivery.title}",
        title=delivery.title,
        description=delivery.body,
        fields=[(str(name), str(value)) for name, value in delivery.fields],
        colour=COLOURS[event],
        footer=footer,
        timestamp=delivery.created_at,
        username=SENDER_NAME,
    )


# --- Operations -----------------------------------------------------------------------------------


@transaction.atomic
def delivery_requeue(
    *, tenant_id: int, delivery_id: int, actor: AbstractBaseUser | None
) -> NotificationDelivery:
    """Send a failed or uncertain delivery again: a person's decision, since it may duplicate."""
    delivery = selectors.delivery_get(tenant=tenant_id, delivery_id=delivery_id)
    if delivery is None:
        raise InvalidNotification(f"delivery {delivery_id} does not exist in this tenant")
    if delivery.status not in (DeliveryStatus.FAILED, DeliveryStatus.UNCERTAIN):
        raise InvalidNotification(
            f"only failed or uncertain deliveries can be re-sent; this one is {delivery.status}"
        )
    before = {"status": delivery.status, "attempts": delivery.attempts}
    now = timezone.now()
    NotificationDelivery.objects.for_tenant(tenant_id).filter(pk=delivery.pk).update(
        status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now, updated_at=now
    )
    delivery.refresh_from_db()
    audit_record(
        tenant=tenant_id,
        actor=actor,
        action="notification_delivery.requeue",
        target=delivery,
        before=before,
        after={"status": delivery.status, "attempts": delivery.attempts},
    )
    _queue_send(tenant_id=tenant_id, delivery_id=delivery.pk)
    return delivery


def delivery_sweep(*, now: datetime | None = None, batch: int = 500) -> dict[str, int]:
    """Fleet job (every minute, all tenants on purpose): repair what crashes and lost tasks leave.

    - sending for longer than any task can run: the worker died, maybe after posting → uncertain;
    - pending past its time plus a grace: the broker lost the task → queue it again (the claim makes
      a duplicate task harmless);
    - pending and older than the maximum age: no longer worth sending → failed.
    """
    config = notification_config()
    now = now or timezone.now()
    rows = NotificationDelivery.all_tenants
    stale = rows.filter(
        status=DeliveryStatus.SENDING,
        claimed_at__lt=now - timedelta(seconds=config.stale_sending_seconds),
    ).update(
        status=DeliveryStatus.UNCERTAIN,
        last_error="the worker stopped while sending; it may have posted",
        updated_at=now,
    )
    expired = rows.filter(
        status=DeliveryStatus.PENDING,
        created_at__lt=now - timedelta(seconds=config.max_age_seconds),
    ).update(
        status=DeliveryStatus.FAILED, last_error="expired before it could be sent", updated_at=now
    )
    lost = list(
        rows.filter(
            status=DeliveryStatus.PENDING,
            next_attempt_at__lt=now - timedelta(seconds=config.requeue_grace_seconds),
        )
        .order_by("next_attempt_at")
        .values_list("pk", "tenant_id")[:batch]
    )
    for delivery_id, tenant_id in lost:
        # Push next_attempt_at forward so the next sweep does not queue it again straight away.
        rows.filter(pk=delivery_id, status=DeliveryStatus.PENDING).update(
            next_attempt_at=now, updated_at=now
        )
        _queue_send(tenant_id=tenant_id, delivery_id=delivery_id)
    if stale or expired or lost:
        logger.warning(
            "delivery sweep: %s uncertain, %s expired, %s re-queued", stale, expired, len(lost)
        )
    return {"uncertain": stale, "expired": expired, "requeued": len(lost)}


def delivery_cleanup(*, older_than: timedelta = timedelta(days=30)) -> int:
    """Delete finished deliveries past retention (fleet job); unfinished ones are never deleted."""
    cutoff = timezone.now() - older_than
    deleted, _ = (
        NotificationDelivery.all_tenants.filter(created_at__lt=cutoff)
        .exclude(status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING])
        .delete()
    )
    return deleted
