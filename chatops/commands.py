"""The application commands: turn one interaction into one reply, acting as the linked user.

Every command starts from the Discord user's link and the platform user's memberships, so a command
can only name accounts and strategies on that user's desks; anything else reads as "not found",
exactly like a name that does not exist. Acting needs the trader or owner role.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from django.contrib.auth.models import AbstractBaseUser

from accounts.models import Membership
from chatops import selectors, services
from chatops.conf import chatops_config
from chatops.interaction import MESSAGE_COMPONENT, Button, Interaction, Reply
from chatops.models import ConfirmAction, ConfirmOutcome
from chatops.services import ChatopsError, DiscordActor
from execution import selectors as execution_selectors
from web import selectors as web_selectors
from web.templatetags.web_format import price, signed_usd, usd

MAX_PNL_DAYS = 90
MAX_ORDERS_SHOWN = 15
NOT_LINKED = (
    "Your Discord account is not linked yet. On the site open Settings → Discord, create a code, "
    "then run `/link code:<the code>` here."
)
T = TypeVar("T")


def run(interaction: Interaction) -> Reply:
    """The reply to show; refusals are replies too (they say why, and nothing changed)."""
    try:
        if interaction.type == MESSAGE_COMPONENT:
            return _button(interaction)
        if interaction.name == "link":
            return _link(interaction)
        handler = COMMANDS.get(interaction.name)
        if handler is None:
            return Reply(f"Unknown command `/{interaction.name}`.")
        return handler(_actor(interaction), interaction)
    except ChatopsError as exc:
        return Reply(str(exc))
    except PermissionError:
        return Reply("Not found on your desks.")


def _actor(interaction: Interaction) -> DiscordActor:
    link = selectors.link_get_for_discord_user(discord_user_id=interaction.discord_user_id)
    if link is None:
        raise ChatopsError(NOT_LINKED)
    return DiscordActor(
        user=link.user,
        discord_user_id=interaction.discord_user_id,
        discord_username=interaction.discord_username,
        interaction_id=interaction.id,
    )


def _link(interaction: Interaction) -> Reply:
    link = services.link_redeem(
        code=str(interaction.options.get("code") or ""),
        discord_user_id=interaction.discord_user_id,
        discord_username=interaction.discord_username,
        interaction_id=interaction.id,
    )
    return Reply(f"Linked to **{link.user.get_username()}**. Try `/status`.")


# --- Scope ----------------------------------------------------------------------------------------


def _desks(user: AbstractBaseUser, options: dict[str, Any]) -> list[Membership]:
    desk = str(options.get("desk") or "")
    memberships = selectors.membership_list(user=user, desk=desk)
    if not memberships:
        raise ChatopsError(
            f"You are not a member of a desk called `{desk}`." if desk else "You have no desk."
        )
    return memberships


def _one_desk(user: AbstractBaseUser, options: dict[str, Any]) -> Membership:
    memberships = _desks(user, options)
    if len(memberships) > 1:
        slugs = ", ".join(m.tenant.slug for m in memberships)
        raise ChatopsError(f"You are on several desks ({slugs}): add `desk:` to say which.")
    return memberships[0]


def _only(found: list[tuple[Membership, T]], kind: str, reference: str) -> tuple[Membership, T]:
    if not found:
        raise ChatopsError(f"No {kind} called `{reference}` on your desks.")
    if len(found) > 1:
        places = ", ".join(f"{m.tenant.slug} (id {row.pk})" for m, row in found)
        raise ChatopsError(
            f"Several {kind}s are called `{reference}`: {places}. Use the id or `desk:`."
        )
    return found[0]


def _label(membership: Membership, name: str, many_desks: bool) -> str:
    return f"{membership.tenant.name} · {name}" if many_desks else name


# --- Reads ----------------------------------------------------------------------------------------


def _gauge_line(gauge: web_selectors.Gauge) -> str:
    if gauge.limit_usd is None or gauge.distance_usd is None:
        return f"{gauge.label}: off"
    warning = " ⚠️" if gauge.state in ("warn", "breach") else ""
    return f"{gauge.label}: {usd(gauge.distance_usd)} to go of {usd(gauge.limit_usd)}{warning}"


def status(actor: DiscordActor, interaction: Interaction) -> Reply:
    """Accounts, open positions, today's P&L and the distance to each loss limit."""
    memberships = _desks(actor.user, interaction.options)
    session = web_selectors.today_session()
    fields = []
    for membership in memberships:
        for snap in web_selectors.account_snapshots(
            tenant=membership.tenant_id, session_date=session
        ):
            account = snap.account
            if not account.is_active:
                continue
            lines = [
                f"Balance {usd(snap.balance_usd)} · P&L today {signed_usd(snap.net_pnl_today_usd)}",
                _gauge_line(snap.daily),
                _gauge_line(snap.max_loss),
            ]
            if snap.is_locked:
                lines.append(f"🔒 Locked for the day: {snap.locked_reason}")
            positions = execution_selectors.position_list_open(
                tenant=membership.tenant_id, account=account
            ).select_related("instrument")
            lines += [
                f"{p.instrument.symbol} {p.net_size:+d} @ {price(p.average_price)}"
                f" (open {signed_usd(p.unrealized_pnl_usd)})"
                for p in positions
            ] or ["Flat"]
            fields.append(
                (_label(membership, account.name, len(memberships) > 1), "\n".join(lines))
            )
    if not fields:
        return Reply("No active trading account on your desks.")
    return Reply("", title=f"Status · trading day {session.isoformat()}", fields=fields)


def orders(actor: DiscordActor, interaction: Interaction) -> Reply:
    memberships = _desks(actor.user, interaction.options)
    reference = str(interaction.options.get("account") or "")
    if reference:
        targets = [
            _only(
                selectors.account_find(memberships=memberships, reference=reference),
                "account",
                reference,
            )
        ]
    else:
        targets = [(m, a) for m in memberships for a in selectors.account_find_all(membership=m)]
    fields = []
    for membership, account in targets:
        working = list(
            execution_selectors.order_list_open(tenant=membership.tenant_id, account=account)
            .select_related("instrument")
            .order_by("created_at")[: MAX_ORDERS_SHOWN + 1]
        )
        lines = [_order_line(order) for order in working[:MAX_ORDERS_SHOWN]]
        if len(working) > MAX_ORDERS_SHOWN:
            lines.append("… and more on the site")
        fields.append(
            (
                _label(membership, account.name, len(memberships) > 1),
                "\n".join(lines) or "No working orders",
            )
        )
    return Reply("", title="Working orders", fields=fields) if fields else Reply("No accounts.")


def _order_line(order: Any) -> str:
    prices = [
        f"{kind} {price(value)}"
        for kind, value in (("limit", order.limit_price), ("stop", order.stop_price))
        if value is not None
    ]
    at = f" @ {', '.join(prices)}" if prices else ""
    return (
        f"{order.get_side_display()} {order.size} {order.instrument.symbol} "
        f"{order.get_order_type_display()}{at} · {order.status}"
    )


def pnl(actor: DiscordActor, interaction: Interaction) -> Reply:
    days = interaction.options.get("days") or 7
    if not isinstance(days, int) or not 1 <= days <= MAX_PNL_DAYS:
        raise ChatopsError(f"`days` must be a whole number from 1 to {MAX_PNL_DAYS}.")
    memberships = _desks(actor.user, interaction.options)
    date_to = web_selectors.today_session()
    date_from = date_to - timedelta(days=days - 1)
    fields = []
    for membership in memberships:
        for account in selectors.account_find_all(membership=membership):
            by_day = execution_selectors.account_pnl_by_day(
                tenant=membership.tenant_id, account=account, date_from=date_from, date_to=date_to
            )
            totals = execution_selectors.pnl_totals(by_day)
            lines = [
                f"Net {signed_usd(totals.net_pnl_usd)} over {totals.trading_days} trading day(s)"
                f" · {totals.winning_days} up, {totals.losing_days} down",
                *(
                    f"{d.session_date.isoformat()}: {signed_usd(d.net_pnl_usd)}"
                    for d in by_day[-7:]
                ),
            ]
            fields.append(
                (_label(membership, account.name, len(memberships) > 1), "\n".join(lines))
            )
    title = f"P&L · {date_from.isoformat()} to {date_to.isoformat()}"
    return Reply("", title=title, fields=fields) if fields else Reply("No accounts.")


# --- Actions --------------------------------------------------------------------------------------


def _pause_or_resume(actor: DiscordActor, interaction: Interaction, *, is_enabled: bool) -> Reply:
    verb = "Resumed" if is_enabled else "Paused"
    options = interaction.options
    if interaction.subcommand == "desk":
        membership = _one_desk(actor.user, options)
        change = services.desk_resume if is_enabled else services.desk_pause
        configs = change(membership=membership, actor=actor)
        names = ", ".join(c.name for c in configs) or "nothing was enabled"
        return Reply(f"{verb} desk **{membership.tenant.name}**: {names}.")
    if interaction.subcommand != "strategy":
        raise ChatopsError("Say `strategy` or `desk`.")
    reference = str(options.get("name") or "")
    membership, config = _only(
        selectors.strategy_find(memberships=_desks(actor.user, options), reference=reference),
        "strategy",
        reference,
    )
    services.strategy_pause_or_resume(
        membership=membership, config=config, is_enabled=is_enabled, actor=actor
    )
    return Reply(f"{verb} strategy **{config.name}** on {config.account.name}.")


def pause(actor: DiscordActor, interaction: Interaction) -> Reply:
    return _pause_or_resume(actor, interaction, is_enabled=False)


def resume(actor: DiscordActor, interaction: Interaction) -> Reply:
    return _pause_or_resume(actor, interaction, is_enabled=True)


WARNINGS = {
    ConfirmAction.FLATTEN: "cancels every working order and closes every position",
    ConfirmAction.LOCK: "stops all trading for the rest of the day, then flattens",
}


def _ask(actor: DiscordActor, interaction: Interaction, *, action: ConfirmAction) -> Reply:
    options = interaction.options
    reference = str(options.get("account") or "")
    membership, account = _only(
        selectors.account_find(memberships=_desks(actor.user, options), reference=reference),
        "account",
        reference,
    )
    confirmation = services.confirmation_create(
        membership=membership,
        account=account,
        action=action,
        actor=actor,
        reason=str(options.get("reason") or ""),
    )
    seconds = int(chatops_config().confirm_ttl.total_seconds())
    suffix = f"{confirmation.tenant_id}:{confirmation.token}"
    return Reply(
        f"{action.label} **{account.name}** ({membership.tenant.name})? This {WARNINGS[action]}. "
        f"The button works for {seconds} s.",
        buttons=[
            Button(f"{action.label} {account.name}", f"confirm:{suffix}", style=4),
            Button("Cancel", f"cancel:{suffix}"),
        ],
    )


def flatten(actor: DiscordActor, interaction: Interaction) -> Reply:
    return _ask(actor, interaction, action=ConfirmAction.FLATTEN)


def lock(actor: DiscordActor, interaction: Interaction) -> Reply:
    return _ask(actor, interaction, action=ConfirmAction.LOCK)


DONE = {
    ConfirmAction.FLATTEN: "Flatten of **{account}** requested: working orders are being cancelled and positions closed.",
    ConfirmAction.LOCK: "**{account}** is locked for the day; flattening was requested.",
}


def _button(interaction: Interaction) -> Reply:
    answer, _, rest = interaction.name.partition(":")
    tenant_id, _, token = rest.partition(":")
    if answer not in ("confirm", "cancel") or not tenant_id.isdigit() or not _is_uuid(token):
        return Reply("This button is not one of ours.")
    confirmation, outcome = services.confirmation_answer(
        tenant_id=int(tenant_id),
        token=token,
        is_confirmed=answer == "confirm",
        actor=_actor(interaction),
        answered_at=interaction.signed_at,
    )
    account, action = confirmation.account.name, ConfirmAction(confirmation.action)
    if outcome == ConfirmOutcome.CONFIRMED:
        return Reply(DONE[action].format(account=account))
    if outcome == ConfirmOutcome.EXPIRED:
        return Reply(
            f"The confirmation expired: nothing was done to **{account}**. "
            f"Run `/{action.value}` again."
        )
    return Reply(f"Cancelled: nothing was done to **{account}**.")


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


COMMANDS: dict[str, Callable[[DiscordActor, Interaction], Reply]] = {
    "status": status,
    "orders": orders,
    "pnl": pnl,
    "pause": pause,
    "resume": resume,
    "flatten": flatten,
    "lock": lock,
}
