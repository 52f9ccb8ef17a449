"""Writes for Discord control. Trading effects go through the apps' own services (execution,
strategies), which audit them as usual; each action here also records a `discord.*` audit entry
naming the Discord user, so the desk can see what was done from chat and by whom.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts.models import Membership, Tenant, TradingAccount
from accounts.services import audit_record
from chatops import selectors
from chatops.conf import chatops_config
from chatops.models import (
    ConfirmAction,
    ConfirmOutcome,
    DeskPause,
    DiscordLink,
    DiscordLinkCode,
    PendingConfirmation,
)
from execution import services as execution_services
from strategies import services as strategy_services
from strategies.models import StrategyConfig

# No look-alike characters (0/O, 1/I/L): the code is read off one screen and typed into another.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10


class ChatopsError(Exception):
    """A command or link that cannot be carried out; the message is shown to the user as is."""


@dataclass(frozen=True)
class DiscordActor:
    """Who acts: the platform user and the Discord identity the request was signed for."""

    user: AbstractBaseUser
    discord_user_id: str
    discord_username: str
    interaction_id: str

    @property
    def label(self) -> str:
        return f"{self.user.get_username()} via Discord"


def _audit(
    *, tenant: Tenant | int, actor: DiscordActor, action: str, target: Any = None, **after: Any
) -> None:
    audit_record(
        tenant=tenant,
        actor=actor.user,
        actor_label=actor.label,
        action=f"{selectors.DISCORD_ACTION_PREFIX}{action}",
        target=target,
        after={
            "discord_user_id": actor.discord_user_id,
            "discord_username": actor.discord_username,
            "interaction_id": actor.interaction_id,
            **after,
        },
    )


def _digest(code: str) -> str:
    normalised = "".join(code.split()).replace("-", "").upper()
    return hashlib.sha256(normalised.encode()).hexdigest()


# --- Linking --------------------------------------------------------------------------------------


def link_code_create(*, user: AbstractBaseUser) -> tuple[str, datetime]:
    """A fresh one-time code for `user` (earlier unused codes stop working); shown once, never stored."""
    now = timezone.now()
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    expires_at = now + chatops_config().link_code_ttl
    with transaction.atomic():
        DiscordLinkCode.objects.filter(user=user, used_at__isnull=True).update(used_at=now)
        DiscordLinkCode.objects.create(user=user, code_digest=_digest(code), expires_at=expires_at)
    return f"{code[:5]}-{code[5:]}", expires_at


@transaction.atomic
def link_redeem(
    *, code: str, discord_user_id: str, discord_username: str, interaction_id: str
) -> DiscordLink:
    """Link the Discord user to the code's owner. The code works once, before it expires.

    A Discord user already linked elsewhere moves to the new platform user: holding both the Discord
    account (the signature) and a fresh code (the web login) proves both sides.
    """
    now = timezone.now()
    claimed = DiscordLinkCode.objects.filter(
        code_digest=_digest(code), used_at__isnull=True, expires_at__gt=now
    )
    row = claimed.select_related("user").first()
    if row is None or claimed.filter(pk=row.pk).update(used_at=now) != 1:
        raise ChatopsError(
            "That code is not valid or has expired. Open Settings → Discord on the site for a new one."
        )
    user = row.user
    DiscordLink.objects.filter(discord_user_id=discord_user_id).exclude(user=user).delete()
    try:
        link, _ = DiscordLink.objects.update_or_create(
            user=user,
            defaults={"discord_user_id": discord_user_id, "discord_username": discord_username},
        )
    except IntegrityError as exc:  # a concurrent link of the same Discord user
        raise ChatopsError("Linking clashed with another request; try again.") from exc
    actor = DiscordActor(
        user=user,
        discord_user_id=discord_user_id,
        discord_username=discord_username,
        interaction_id=interaction_id,
    )
    for membership in account_selectors.membership_list_for_user(user=user):
        _audit(tenant=membership.tenant_id, actor=actor, action="link")
    return link


@transaction.atomic
def link_remove(*, user: AbstractBaseUser) -> bool:
    link = selectors.link_get_for_user(user=user)
    if link is None:
        return False
    for membership in account_selectors.membership_list_for_user(user=user):
        audit_record(
            tenant=membership.tenant_id,
            actor=user,
            action=f"{selectors.DISCORD_ACTION_PREFIX}unlink",
            after={"discord_user_id": link.discord_user_id},
        )
    link.delete()
    return True


# --- Flatten and lock: two steps ------------------------------------------------------------------


def _require_trader(membership: Membership, what: str) -> None:
    if not membership.can_trade:
        raise ChatopsError(
            f"Viewers cannot {what}. Ask a trader or the owner of {membership.tenant}."
        )


@transaction.atomic
def confirmation_create(
    *,
    membership: Membership,
    account: TradingAccount,
    action: str,
    actor: DiscordActor,
    reason: str = "",
) -> PendingConfirmation:
    """Step one of /flatten and /lock: nothing happens to the account until the button is pressed."""
    account.require_tenant(membership.tenant_id)
    _require_trader(membership, ConfirmAction(action).label.lower())
    confirmation = PendingConfirmation(
        tenant_id=membership.tenant_id,
        action=action,
        account=account,
        user=actor.user,
        discord_user_id=actor.discord_user_id,
        reason=reason[:200],
        expires_at=timezone.now() + chatops_config().confirm_ttl,
    )
    confirmation.save()
    _audit(
        tenant=membership.tenant_id,
        actor=actor,
        action=f"{action}_asked",
        target=account,
        token=str(confirmation.token),
    )
    return confirmation


@transaction.atomic
def confirmation_answer(
    *, tenant_id: int, token: str, is_confirmed: bool, actor: DiscordActor, answered_at: datetime
) -> tuple[PendingConfirmation, str]:
    """Step two: the button. Only the user who asked, still a trader, once, before it expires.

    `answered_at` is when Discord signed the click, so a slow queue never turns an in-time click
    into an expired one, nor a late click into an accepted one.
    """
    confirmation = selectors.confirmation_get(tenant=tenant_id, token=token)
    if confirmation is None or confirmation.discord_user_id != actor.discord_user_id:
        raise ChatopsError("This button is not yours.")
    if confirmation.user_id != actor.user.pk:
        raise ChatopsError("This button belongs to another platform user.")
    membership = account_selectors.membership_get(user=actor.user, tenant=tenant_id)
    if membership is None:
        raise ChatopsError("You are no longer a member of that desk.")
    if is_confirmed:
        _require_trader(membership, confirmation.get_action_display().lower())
    outcome = _decide(confirmation, is_confirmed=is_confirmed, answered_at=answered_at)
    rows = PendingConfirmation.objects.for_tenant(tenant_id).filter(
        pk=confirmation.pk, outcome=ConfirmOutcome.PENDING
    )
    if rows.update(outcome=outcome, answered_at=answered_at) != 1:
        raise ChatopsError("This button was already answered.")
    confirmation.outcome = outcome
    account = confirmation.account
    _audit(
        tenant=tenant_id,
        actor=actor,
        action=f"{confirmation.action}_{outcome}",
        target=account,
        token=str(confirmation.token),
    )
    if outcome == ConfirmOutcome.CONFIRMED:
        _carry_out(confirmation, membership=membership, actor=actor)
    return confirmation, outcome


def _decide(confirmation: PendingConfirmation, *, is_confirmed: bool, answered_at: datetime) -> str:
    if not is_confirmed:
        return ConfirmOutcome.CANCELLED
    if answered_at > confirmation.expires_at:
        return ConfirmOutcome.EXPIRED
    return ConfirmOutcome.CONFIRMED


def _carry_out(
    confirmation: PendingConfirmation, *, membership: Membership, actor: DiscordActor
) -> None:
    tenant, account = membership.tenant, confirmation.account
    if confirmation.action == ConfirmAction.FLATTEN:
        execution_services.account_flatten_request(
            tenant=tenant,
            account=account,
            actor=actor.user,
            reason=confirmation.reason or "flatten from Discord",
        )
    else:
        execution_services.account_lock_for_day(
            tenant=tenant,
            account=account,
            actor=actor.user,
            actor_label=actor.label,
            reason=confirmation.reason or "locked from Discord",
        )


# --- Pause and resume -----------------------------------------------------------------------------


@transaction.atomic
def strategy_pause_or_resume(
    *, membership: Membership, config: StrategyConfig, is_enabled: bool, actor: DiscordActor
) -> StrategyConfig:
    verb = "resume" if is_enabled else "pause"
    _require_trader(membership, f"{verb} strategies")
    config = strategy_services.strategy_set_enabled(
        tenant=membership.tenant, config=config, is_enabled=is_enabled, actor=actor.user
    )
    _audit(tenant=membership.tenant_id, actor=actor, action=f"strategy_{verb}", target=config)
    return config


@transaction.atomic
def desk_pause(*, membership: Membership, actor: DiscordActor) -> list[StrategyConfig]:
    """Switch off every enabled strategy of the desk, remembering which, for `desk_resume`."""
    _require_trader(membership, "pause strategies")
    configs = list(selectors.strategy_list_enabled(tenant=membership.tenant_id).select_for_update())
    for config in configs:
        strategy_services.strategy_set_enabled(
            tenant=membership.tenant, config=config, is_enabled=False, actor=actor.user
        )
    pause = DeskPause(
        tenant_id=membership.tenant_id, user=actor.user, config_ids=[c.pk for c in configs]
    )
    pause.save()
    _audit(
        tenant=membership.tenant_id,
        actor=actor,
        action="desk_pause",
        target=pause,
        strategies=[c.pk for c in configs],
    )
    return configs


@transaction.atomic
def desk_resume(*, membership: Membership, actor: DiscordActor) -> list[StrategyConfig]:
    """Switch back on what the latest `/pause desk` switched off (never a strategy it left off)."""
    _require_trader(membership, "resume strategies")
    pause = selectors.desk_pause_latest_open(tenant=membership.tenant_id)
    if pause is None:
        raise ChatopsError(f"Nothing on {membership.tenant} was paused from Discord.")
    configs = list(
        StrategyConfig.objects.for_tenant(membership.tenant_id)
        .filter(pk__in=pause.config_ids, is_enabled=False)
        .order_by("pk")
    )
    for config in configs:
        strategy_services.strategy_set_enabled(
            tenant=membership.tenant, config=config, is_enabled=True, actor=actor.user
        )
    DeskPause.objects.for_tenant(membership.tenant_id).filter(pk=pause.pk).update(
        resumed_at=timezone.now()
    )
    _audit(
        tenant=membership.tenant_id,
        actor=actor,
        action="desk_resume",
        target=pause,
        strategies=[c.pk for c in configs],
    )
    return configs


# --- Housekeeping ---------------------------------------------------------------------------------


def chatops_cleanup(*, older_than: timedelta = timedelta(days=30)) -> dict[str, int]:
    """Fleet job (all tenants on purpose): drop link codes and button states past any use.

    The audit log keeps what was done; these rows only gate a code or a button, and both expire
    within minutes. Resumed desk pauses go too; an open one is kept, whatever its age.
    """
    cutoff = timezone.now() - older_than
    codes, _ = DiscordLinkCode.objects.filter(expires_at__lt=cutoff).delete()
    confirmations, _ = PendingConfirmation.all_tenants.filter(expires_at__lt=cutoff).delete()
    pauses, _ = DeskPause.all_tenants.filter(resumed_at__lt=cutoff).delete()
    return {"codes": codes, "confirmations": confirmations, "pauses": pauses}
