"""Commands end to end: a signed interaction → the endpoint → the queued task → the services → the
reply edited into Discord (a local receiver). Acting only within the linked user's desks and roles."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from celery.signals import after_task_publish

from accounts.models import AuditEntry, Role
from accounts.tests.factories import MembershipFactory
from chatops.models import ConfirmOutcome, DiscordLink, PendingConfirmation
from chatops.tests.conftest import APPLICATION_ID, FakeDiscord, link, make_user
from execution.models import Position
from execution.tests.factories import InstrumentFactory, OrderFactory
from notifications.tests.receiver import WebhookReceiver
from strategies.models import StrategyConfig
from strategies.tests.factories import StrategyConfigFactory

pytestmark = pytest.mark.django_db


def ask(discord: FakeDiscord, receiver: WebhookReceiver, payload: dict[str, Any]) -> dict[str, Any]:
    """Send, let the worker run it, and return the message Discord was told to show."""
    before = len(receiver.received)
    response = discord.post(payload)
    assert response.status_code == 200, response.content
    discord.run_queued()
    edits = receiver.received[before:]
    assert len(edits) == 1
    [edit] = edits
    assert edit.method == "PATCH"
    assert edit.path == f"/api/v10/webhooks/{APPLICATION_ID}/{payload['token']}/messages/@original"
    return edit.json


def text(message: dict[str, Any]) -> str:
    parts = [message["content"]]
    for embed in message["embeds"]:
        parts += [embed.get("title", "")]
        parts += [f"{f['name']}: {f['value']}" for f in embed["fields"]]
    return "\n".join(parts)


def audited(tenant: Any, action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.for_tenant(tenant).filter(action=action))


def button_ids(message: dict[str, Any]) -> list[str]:
    return [b["custom_id"] for row in message["components"] for b in row["components"]]


@pytest.fixture
def published() -> Any:
    """Tasks that reached the broker (names and kwargs), e.g. the flatten on the critical queue."""
    seen: list[tuple[str, dict[str, Any]]] = []

    def record(sender: str | None = None, body: Any = None, **kwargs: Any) -> None:
        seen.append((sender, body[1]))

    after_task_publish.connect(record)
    yield seen
    after_task_publish.disconnect(record)


# --- Reads -----------------------------------------------------------------------------------------


def test_status_shows_balances_pnl_limits_and_positions_of_the_users_desk_only(
    discord, receiver, linked_alice, account_a, account_b
) -> None:
    Position(
        tenant=account_a.tenant,
        account=account_a,
        instrument=InstrumentFactory(),
        net_size=-2,
        average_price=Decimal("5012.250000000"),
        unrealized_pnl_usd=Decimal("-25.00"),
    ).save()

    message = ask(discord, receiver, discord.command("111", "status"))

    [embed] = message["embeds"]
    assert embed["title"].startswith("Status · trading day ")
    [field] = embed["fields"]  # account_b is another tenant's: not there
    assert field["name"] == "Account of A"
    assert field["value"].split("\n") == [
        "Balance $50,000.00 · P&L today $0.00",
        "Daily loss limit: $1,000.00 to go of $1,000.00",
        "Maximum loss limit: $2,000.00 to go of $2,000.00",
        "ES -2 @ 5012.25 (open -$25.00)",
    ]
    assert message["allowed_mentions"] == {"parse": []}
    assert message["components"] == []


def test_orders_lists_working_orders_with_prices(
    discord, receiver, linked_alice, account_a
) -> None:
    OrderFactory(tenant=account_a.tenant, account=account_a, status="working", size=2)
    OrderFactory(tenant=account_a.tenant, account=account_a, status="filled")

    message = ask(discord, receiver, discord.command("111", "orders"))

    [field] = message["embeds"][0]["fields"]
    assert field["value"] == "Buy 2 ES Limit @ limit 5000.25 · working"


def test_pnl_rejects_an_out_of_range_day_count(discord, receiver, linked_alice, account_a) -> None:
    message = ask(discord, receiver, discord.command("111", "pnl", days=400))
    assert message["content"] == "`days` must be a whole number from 1 to 90."


def test_pnl_sums_the_days_of_each_account(discord, receiver, linked_alice, account_a) -> None:
    message = ask(discord, receiver, discord.command("111", "pnl", days=3))
    [field] = message["embeds"][0]["fields"]
    assert field["value"] == "Net $0.00 over 0 trading day(s) · 0 up, 0 down"


def test_an_unlinked_discord_user_is_told_how_to_link_and_nothing_happens(
    discord, receiver, account_a
) -> None:
    message = ask(discord, receiver, discord.command("999", "flatten", account="Account of A"))
    assert "not linked yet" in message["content"]
    assert PendingConfirmation.objects.for_tenant(account_a.tenant).count() == 0


# --- Linking ---------------------------------------------------------------------------------------


def test_a_code_from_the_settings_page_links_once(
    discord, receiver, client, alice, tenant_a, time_machine
) -> None:
    time_machine.move_to("2026-12-02T15:00:00Z")
    client.force_login(alice)
    page = client.post("/settings/discord/code/")
    assert page.status_code == 200
    code = page.context["code"]
    assert f"/link code:{code}" in page.content.decode()

    linked = ask(discord, receiver, discord.command("555", "link", code=code))
    assert linked["content"] == "Linked to **alice**. Try `/status`."
    assert DiscordLink.objects.get(user=alice).discord_user_id == "555"
    [entry] = audited(tenant_a, "discord.link")
    assert entry.actor_label == "alice via Discord"

    again = ask(discord, receiver, discord.command("666", "link", code=code))
    assert again["content"].startswith("That code is not valid or has expired.")
    assert DiscordLink.objects.get(user=alice).discord_user_id == "555"


def test_an_expired_link_code_links_nothing(discord, receiver, client, alice, time_machine) -> None:
    time_machine.move_to("2026-12-02T15:00:00Z")
    client.force_login(alice)
    code = client.post("/settings/discord/code/").context["code"]
    time_machine.move_to("2026-12-02T15:10:01Z")  # ten minutes and a second later
    message = ask(discord, receiver, discord.command("555", "link", code=code))
    assert message["content"].startswith("That code is not valid or has expired.")
    assert not DiscordLink.objects.filter(user=alice).exists()


# --- Flatten and lock: confirmation ----------------------------------------------------------------


def test_flatten_asks_then_the_confirm_button_requests_the_flatten(
    discord, receiver, linked_alice, account_a, published, django_capture_on_commit_callbacks
) -> None:
    asked = ask(discord, receiver, discord.command("111", "flatten", account="Account of A"))
    assert asked["content"].startswith("Flatten **Account of A** (Desk A)?")
    confirm, cancel = button_ids(asked)
    assert confirm.startswith("confirm:")
    assert cancel.startswith("cancel:")
    assert audited(account_a.tenant, "account.flatten_requested") == []  # nothing yet

    click = discord.click("111", confirm)
    assert discord.post(click).json() == {"type": 6}  # acknowledged; the worker edits the message
    with django_capture_on_commit_callbacks(execute=True):
        discord.run_queued()

    [done] = receiver.received[-1:]
    assert done.json["content"].startswith("Flatten of **Account of A** requested")
    assert done.json["components"] == []  # the buttons are gone
    [requested] = audited(account_a.tenant, "account.flatten_requested")
    assert requested.actor.username == "alice"
    [confirmed] = audited(account_a.tenant, "discord.flatten_confirmed")
    assert confirmed.actor_label == "alice via Discord"
    assert confirmed.after["discord_user_id"] == "111"
    assert confirmed.after["interaction_id"] == click["id"]
    flattens = [kw for name, kw in published if name == "execution.account_flatten"]
    assert flattens == [
        {
            "tenant_id": account_a.tenant_id,
            "account_id": account_a.pk,
            "reason": "flatten from Discord",
        }
    ]

    second = discord.click("111", confirm)  # a second press of the same button
    discord.post(second)
    discord.run_queued()
    assert receiver.received[-1].json["content"] == "This button was already answered."
    assert len(audited(account_a.tenant, "account.flatten_requested")) == 1


def test_a_confirmation_pressed_after_30_seconds_has_expired_and_does_nothing(
    discord, receiver, linked_alice, account_a, time_machine
) -> None:
    time_machine.move_to("2026-12-02T15:00:00Z", tick=False)
    asked = ask(discord, receiver, discord.command("111", "flatten", account="Account of A"))
    confirm, _ = button_ids(asked)
    time_machine.move_to("2026-12-02T15:00:31Z", tick=False)

    message = ask(discord, receiver, discord.click("111", confirm))

    assert message["content"] == (
        "The confirmation expired: nothing was done to **Account of A**. Run `/flatten` again."
    )
    assert audited(account_a.tenant, "account.flatten_requested") == []
    confirmation = PendingConfirmation.objects.for_tenant(account_a.tenant).get()
    assert confirmation.outcome == ConfirmOutcome.EXPIRED


def test_a_confirmation_pressed_within_30_seconds_counts(
    discord, receiver, linked_alice, account_a, time_machine
) -> None:
    time_machine.move_to("2026-12-02T15:00:00Z", tick=False)
    asked = ask(discord, receiver, discord.command("111", "lock", account="Account of A"))
    confirm, _ = button_ids(asked)
    time_machine.move_to("2026-12-02T15:00:29Z", tick=False)

    message = ask(discord, receiver, discord.click("111", confirm))

    assert message["content"] == "**Account of A** is locked for the day; flattening was requested."
    [lock] = audited(account_a.tenant, "account.lock_for_day")
    assert lock.actor_label == "alice via Discord"
    assert lock.after["is_locked"] is True


def test_cancel_does_nothing(discord, receiver, linked_alice, account_a) -> None:
    _, cancel = button_ids(
        ask(discord, receiver, discord.command("111", "flatten", account="Account of A"))
    )
    message = ask(discord, receiver, discord.click("111", cancel))
    assert message["content"] == "Cancelled: nothing was done to **Account of A**."
    assert audited(account_a.tenant, "account.flatten_requested") == []


def test_a_viewer_cannot_flatten_or_lock(discord, receiver, tenant_a, account_a) -> None:
    viewer = make_user("victor")
    MembershipFactory(tenant=tenant_a, user=viewer, role=Role.VIEWER)
    link(viewer, "333")

    for command in ("flatten", "lock"):
        message = ask(discord, receiver, discord.command("333", command, account="Account of A"))
        assert message["content"].startswith("Viewers cannot")
    assert PendingConfirmation.objects.for_tenant(tenant_a).count() == 0
    assert audited(tenant_a, "account.flatten_requested") == []
    status = ask(discord, receiver, discord.command("333", "status"))  # reading is fine
    assert status["embeds"][0]["fields"][0]["name"] == "Account of A"


def test_a_trader_demoted_to_viewer_after_asking_cannot_confirm(
    discord, receiver, tenant_a, account_a
) -> None:
    trader = make_user("tess")
    membership = MembershipFactory(tenant=tenant_a, user=trader, role=Role.TRADER)
    link(trader, "444")
    confirm, _ = button_ids(
        ask(discord, receiver, discord.command("444", "flatten", account="Account of A"))
    )
    membership.role = Role.VIEWER
    membership.save()

    message = ask(discord, receiver, discord.click("444", confirm))

    assert message["content"].startswith("Viewers cannot flatten")
    assert audited(tenant_a, "account.flatten_requested") == []


def test_a_user_of_another_tenant_can_neither_see_nor_touch_the_account(
    discord, receiver, linked_alice, account_a, bob, account_b
) -> None:
    link(bob, "222")
    refused = ask(discord, receiver, discord.command("222", "flatten", account="Account of A"))
    assert refused["content"] == "No account called `Account of A` on your desks."
    by_id = ask(discord, receiver, discord.command("222", "lock", account=str(account_a.pk)))
    assert by_id["content"] == f"No account called `{account_a.pk}` on your desks."
    status = ask(discord, receiver, discord.command("222", "status"))
    assert [f["name"] for f in status["embeds"][0]["fields"]] == ["Account of B"]
    foreign_desk = ask(discord, receiver, discord.command("222", "status", desk="desk-a"))
    assert foreign_desk["content"] == "You are not a member of a desk called `desk-a`."

    confirm, _ = button_ids(
        ask(discord, receiver, discord.command("111", "flatten", account="Account of A"))
    )
    stolen = ask(discord, receiver, discord.click("222", confirm))  # bob presses alice's button
    assert stolen["content"] == "This button is not yours."
    assert audited(account_a.tenant, "account.flatten_requested") == []
    assert PendingConfirmation.objects.for_tenant(account_a.tenant).get().outcome == "pending"


# --- Pause and resume ------------------------------------------------------------------------------


def test_pause_and_resume_one_strategy(discord, receiver, linked_alice, account_a) -> None:
    config = StrategyConfigFactory(
        tenant=account_a.tenant, account=account_a, name="ORB", is_enabled=True
    )

    paused = ask(discord, receiver, discord.command("111", "pause", "strategy", name="orb"))
    assert paused["content"] == "Paused strategy **ORB** on Account of A."
    config.refresh_from_db()
    assert config.is_enabled is False
    assert len(audited(account_a.tenant, "strategy.disable")) == 1
    assert len(audited(account_a.tenant, "discord.strategy_pause")) == 1

    ask(discord, receiver, discord.command("111", "resume", "strategy", name=str(config.pk)))
    config.refresh_from_db()
    assert config.is_enabled is True


def test_resume_desk_turns_on_only_what_pause_desk_turned_off(
    discord, receiver, linked_alice, account_a, account_b
) -> None:
    on = [
        StrategyConfigFactory(tenant=account_a.tenant, account=account_a, name=n, is_enabled=True)
        for n in ("ORB", "Trend")
    ]
    off = StrategyConfigFactory(
        tenant=account_a.tenant, account=account_a, name="MR", is_enabled=False
    )
    foreign = StrategyConfigFactory(
        tenant=account_b.tenant, account=account_b, name="B", is_enabled=True
    )

    paused = ask(discord, receiver, discord.command("111", "pause", "desk"))
    assert paused["content"] == "Paused desk **Desk A**: ORB, Trend."
    enabled = StrategyConfig.objects.for_tenant(account_a.tenant).filter(is_enabled=True)
    assert not enabled.exists()

    resumed = ask(discord, receiver, discord.command("111", "resume", "desk"))
    assert resumed["content"] == "Resumed desk **Desk A**: ORB, Trend."
    assert set(enabled.values_list("pk", flat=True)) == {c.pk for c in on}
    off.refresh_from_db()
    foreign.refresh_from_db()
    assert off.is_enabled is False  # was off before the pause: stays off
    assert foreign.is_enabled is True  # another tenant's: untouched
    again = ask(discord, receiver, discord.command("111", "resume", "desk"))
    assert again["content"] == "Nothing on Desk A was paused from Discord."


def test_a_viewer_cannot_pause(discord, receiver, tenant_a, account_a) -> None:
    viewer = make_user("victor")
    MembershipFactory(tenant=tenant_a, user=viewer, role=Role.VIEWER)
    link(viewer, "333")
    config = StrategyConfigFactory(tenant=tenant_a, account=account_a, name="ORB", is_enabled=True)
    message = ask(discord, receiver, discord.command("333", "pause", "desk"))
    assert message["content"].startswith("Viewers cannot pause")
    config.refresh_from_db()
    assert config.is_enabled is True


def test_on_two_desks_a_desk_wide_action_must_name_the_desk(
    discord, receiver, linked_alice, tenant_a, tenant_b, account_a
) -> None:
    MembershipFactory(tenant=tenant_b, user=linked_alice.user, role=Role.TRADER)
    message = ask(discord, receiver, discord.command("111", "pause", "desk"))
    assert (
        message["content"] == "You are on several desks (desk-a, desk-b): add `desk:` to say which."
    )
    named = ask(discord, receiver, discord.command("111", "pause", "desk", desk="desk-b"))
    assert named["content"] == "Paused desk **Desk B**: nothing was enabled."


# --- The web page ----------------------------------------------------------------------------------


def test_the_settings_page_shows_the_link_and_the_actions_from_discord(
    discord, receiver, client, linked_alice, account_a
) -> None:
    _, cancel = button_ids(
        ask(discord, receiver, discord.command("111", "flatten", account="Account of A"))
    )
    ask(discord, receiver, discord.click("111", cancel))
    client.force_login(linked_alice.user)

    page = client.get("/settings/").content.decode()

    card = page[page.index('<section class="card" id="discord">') :]
    card = card[: card.index("</section>")]
    assert "Linked to Discord user <strong>discord-111</strong>" in card
    assert card.count('name="csrfmiddlewaretoken"') == 2  # unlink and new code: real browsers POST
    assert "discord.flatten_asked" in card
    assert "discord.flatten_cancelled" in card
    assert "alice via Discord" in card


def test_unlinking_from_the_settings_page_stops_commands(
    discord, receiver, client, linked_alice, tenant_a
) -> None:
    client.force_login(linked_alice.user)
    assert client.post("/settings/discord/unlink/").status_code == 302
    assert not DiscordLink.objects.exists()
    assert len(audited(tenant_a, "discord.unlink")) == 1
    message = ask(discord, receiver, discord.command("111", "status"))
    assert "not linked yet" in message["content"]


def test_a_command_from_a_direct_message_names_the_user_outside_member(
    discord, receiver, linked_alice, account_a
) -> None:
    payload = discord.command("111", "status")
    payload["user"] = payload.pop("member")["user"]  # in a DM Discord sends `user`, not `member`
    message = ask(discord, receiver, payload)
    assert message["embeds"][0]["fields"][0]["name"] == "Account of A"


def test_unknown_commands_and_foreign_buttons_are_answered_and_change_nothing(
    discord, receiver, linked_alice, account_a
) -> None:
    unknown = ask(discord, receiver, discord.command("111", "buy", account="Account of A"))
    assert unknown["content"] == "Unknown command `/buy`."
    forged = ask(discord, receiver, discord.click("111", "confirm:not-a-tenant:x"))
    assert forged["content"] == "This button is not one of ours."
    bad_token = ask(discord, receiver, discord.click("111", f"cancel:{account_a.tenant_id}:x"))
    assert bad_token["content"] == "This button is not one of ours."
    missing = ask(
        discord,
        receiver,
        discord.click("111", f"confirm:{account_a.tenant_id}:00000000-0000-0000-0000-000000000000"),
    )
    assert missing["content"] == "This button is not yours."
    assert audited(account_a.tenant, "account.flatten_requested") == []


def test_members_see_their_own_discord_actions_and_the_owner_sees_the_desks(
    discord, receiver, client, linked_alice, tenant_a, account_a
) -> None:
    trader = make_user("tess")
    MembershipFactory(tenant=tenant_a, user=trader, role=Role.TRADER)
    link(trader, "444")
    ask(discord, receiver, discord.command("444", "flatten", account="Account of A"))
    ask(discord, receiver, discord.command("111", "lock", account="Account of A"))

    client.force_login(trader)
    own = client.get("/settings/").content.decode()
    client.force_login(linked_alice.user)
    owners = client.get("/settings/").content.decode()

    assert "tess via Discord" in own
    assert "discord.lock_asked" not in own
    assert "tess via Discord" in owners
    assert "discord.lock_asked" in owners
