"""Every page renders for a member, another desk's objects are 404s, viewers cannot act, and secrets
never reach a page."""

import pytest
from django.urls import reverse

from accounts.crypto import encrypt_secret
from accounts.models import AuditEntry, BrokerConnection, NotificationChannel
from accounts.tests.factories import BrokerConnectionFactory
from strategies.models import StrategyConfig

pytestmark = [pytest.mark.django_db, pytest.mark.clock_sensitive]


def page_urls(desk) -> list[str]:
    account = desk.strategy.account_id
    return [
        reverse("dashboard"),
        reverse("account_detail", args=[account]),
        reverse("account_panel", args=[account]),
        reverse("account_chart", args=[account]),
        reverse("risk_edit", args=[account]),
        reverse("strategy_list"),
        reverse("strategy_edit", args=[desk.strategy.pk]),
        reverse("analytics"),
        reverse("settings"),
    ]


@pytest.mark.parametrize("role", ["alice", "trader", "viewer"])
def test_every_page_renders_for_each_role_of_a_member(client, desk_a, role, request):
    client.force_login(request.getfixturevalue(role))
    for url in page_urls(desk_a):
        response = client.get(url)
        assert response.status_code == 200, url


def test_pages_need_a_login(client, desk_a):
    for url in page_urls(desk_a):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next=")


def test_dashboard_lists_the_desks_accounts_with_todays_figures(client, alice, desk_a, desk_b):
    client.force_login(alice)
    response = client.get("/")
    body = response.content.decode()
    assert "<h1>Dashboard</h1>" in body
    assert "Desk A" in body
    assert "Account of A" in body
    assert "Account of B" not in body
    assert "$50,497.20" in body  # balance from today's ledger row
    assert "+$422.20" in body  # 500 realised - 75 open - 2.80 fees
    assert "1 open position · 1 working order · 0/1 strategies on" in body


def test_account_page_shows_positions_orders_gauges_and_strategies(client, alice, desk_a):
    client.force_login(alice)
    body = client.get(reverse("account_detail", args=[desk_a.strategy.account_id])).content.decode()
    assert "-2</td>" in body  # short two contracts
    assert "5008.00</td>" in body
    assert "-$75.00" in body
    assert "4990.50</td>" in body  # the working stop
    # Daily: equity 50,422.20 - floor 49,000 = 1,422.20 to go, i.e. 0% of 1,000 used.
    assert "$1,422.20</span> to go · 0% of $1,000.00 used" in body
    # Max loss: 50,422.20 - 48,000 = 2,422.20 to go.
    assert "$2,422.20</span> to go · 0% of $2,000.00 used" in body
    assert desk_a.strategy.name in body
    assert 'id="lock-button"' in body


def test_chart_data_has_pnl_curve_bars_overnight_range_and_fill_markers(client, alice, desk_a):
    client.force_login(alice)
    data = client.get(reverse("account_chart", args=[desk_a.strategy.account_id])).json()
    assert [p["value"] for p in data["pnl"]] == ["0.00", "-1.40", "497.20", "422.20"]
    price = data["price"]
    assert price["instrument"]["symbol"] == "ES"
    assert len(price["bars"]) == 10
    assert price["bars"][0]["open"] == "5000.00"
    assert price["overnight_range"] == {"high": "5004.75", "low": "4995.50", "is_complete": True}
    assert [(m["side"], m["kind"], m["text"]) for m in price["markers"]] == [
        ("buy", "entry", "Entry B1 @ 5000.25"),
        ("sell", "exit", "Exit S1 @ 5010.25"),
    ]
    # Markers sit on the bar of their minute (New York wall-clock seconds on the chart axis).
    assert price["markers"][0]["time"] == price["bars"][0]["time"]
    assert price["markers"][1]["time"] == price["bars"][5]["time"]


def test_another_desks_objects_are_not_found(client, alice, desk_a, desk_b):
    client.force_login(alice)
    account_b, strategy_b = desk_b.strategy.account, desk_b.strategy
    connection_b = account_b.connection
    for url in [*page_urls(desk_b)[1:5], reverse("strategy_edit", args=[strategy_b.pk])]:
        assert client.get(url).status_code == 404, url
    posts = [
        (reverse("strategy_toggle", args=[strategy_b.pk]), {"enabled": "1"}),
        (reverse("strategy_edit", args=[strategy_b.pk]), {"buffer_ticks": "3"}),
        (reverse("account_lock", args=[account_b.pk]), {"reason": "x"}),
        (reverse("account_flatten", args=[account_b.pk]), {}),
        (reverse("risk_edit", args=[account_b.pk]), {"max_contracts": "1"}),
        (reverse("connection_set_key", args=[connection_b.pk]), {"api_key": "stolen"}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 404, url
    strategy_b.refresh_from_db()
    assert strategy_b.is_enabled is False
    assert (
        not AuditEntry.objects.for_tenant(desk_b.strategy.tenant_id)
        .exclude(action__in=["tenant.create"])
        .exists()
    )


def test_strategy_lists_show_only_the_current_desk(client, alice, desk_a, desk_b):
    client.force_login(alice)
    body = client.get(reverse("strategy_list")).content.decode()
    assert desk_a.strategy.name in body
    assert desk_b.strategy.name not in body
    body = client.get(reverse("analytics")).content.decode()
    assert "Account of A" in body
    assert "Account of B" not in body


def test_viewer_sees_no_action_buttons(client, viewer, desk_a):
    client.force_login(viewer)
    account = desk_a.strategy.account_id
    body = client.get(reverse("account_detail", args=[account])).content.decode()
    assert 'id="lock-button"' not in body
    assert 'id="flatten-button"' not in body
    assert reverse("strategy_toggle", args=[desk_a.strategy.pk]) not in body
    body = client.get(reverse("strategy_list")).content.decode()
    assert "toggle" not in body
    body = client.get(reverse("strategy_edit", args=[desk_a.strategy.pk])).content.decode()
    assert 'id="params-submit"' not in body
    assert "disabled" in body
    body = client.get(reverse("settings")).content.decode()
    assert 'id="connection-form"' not in body
    assert 'id="invite-form"' not in body


def test_viewer_posts_are_refused_and_change_nothing(client, viewer, desk_a):
    client.force_login(viewer)
    account = desk_a.strategy.account
    posts = [
        (reverse("strategy_toggle", args=[desk_a.strategy.pk]), {"enabled": "1"}),
        (reverse("strategy_edit", args=[desk_a.strategy.pk]), {"buffer_ticks": "3"}),
        (reverse("account_lock", args=[account.pk]), {"reason": "x"}),
        (reverse("account_flatten", args=[account.pk]), {}),
        (reverse("risk_edit", args=[account.pk]), {"max_contracts": "1"}),
        (reverse("connection_create"), {"name": "x", "username": "u", "api_key": "k"}),
        (reverse("channel_create"), {"name": "x", "url": "https://discord.com/api/webhooks/1/a"}),
        (reverse("member_invite"), {"email": "x@example.com", "role": "owner"}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    desk_a.strategy.refresh_from_db()
    desk_a.day.refresh_from_db()
    assert desk_a.strategy.is_enabled is False
    assert desk_a.day.is_locked is False
    assert account.risk_profile.max_contracts == 5
    assert not AuditEntry.objects.for_tenant(account.tenant_id).filter(actor__username="vera")


def test_trader_cannot_change_desk_settings_or_risk_limits(client, trader, desk_a):
    client.force_login(trader)
    account = desk_a.strategy.account
    assert client.post(reverse("risk_edit", args=[account.pk]), {}).status_code == 403
    assert client.post(reverse("member_invite"), {"email": "x@example.com"}).status_code == 403


def test_trader_enables_a_strategy_and_the_change_is_audited(client, trader, desk_a):
    client.force_login(trader)
    url = reverse("strategy_toggle", args=[desk_a.strategy.pk])
    response = client.post(url, {"enabled": "1"})
    assert response.status_code == 302
    assert response["Location"] == reverse("strategy_list")
    desk_a.strategy.refresh_from_db()
    assert desk_a.strategy.is_enabled is True
    entry = AuditEntry.objects.for_tenant(desk_a.strategy.tenant_id).get(action="strategy.enable")
    assert entry.actor.username == "tom"
    response = client.post(url, {"enabled": "0", "next": "https://evil.example/"})
    assert response["Location"] == reverse("strategy_list")  # no open redirect
    desk_a.strategy.refresh_from_db()
    assert desk_a.strategy.is_enabled is False


def test_trader_locks_the_account_for_the_day(
    client, trader, desk_a, django_capture_on_commit_callbacks
):
    client.force_login(trader)
    account = desk_a.strategy.account
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("account_lock", args=[account.pk]), {"reason": "news"})
    assert response.status_code == 302
    desk_a.day.refresh_from_db()
    assert desk_a.day.is_locked is True
    assert desk_a.day.locked_reason == "news"
    body = client.get(reverse("account_detail", args=[account.pk])).content.decode()
    assert "locked for the day" in body


def test_strategy_parameters_save_through_the_schema(client, trader, desk_a):
    client.force_login(trader)
    url = reverse("strategy_edit", args=[desk_a.strategy.pk])
    form = client.get(url).context["form"]
    data = {name: form[name].value() for name in form.fields}
    data = {k: v for k, v in data.items() if v is not False}
    data["buffer_ticks"] = "4"
    data["stop_atr"] = "0.30"
    response = client.post(url, data)
    assert response.status_code == 302
    desk_a.strategy.refresh_from_db()
    assert desk_a.strategy.params["buffer_ticks"] == 4
    assert desk_a.strategy.params["stop_atr"] == "0.30"


def test_bad_strategy_parameters_show_per_field_errors_and_save_nothing(client, trader, desk_a):
    client.force_login(trader)
    url = reverse("strategy_edit", args=[desk_a.strategy.pk])
    form = client.get(url).context["form"]
    data = {name: form[name].value() for name in form.fields}
    data = {k: v for k, v in data.items() if v is not False}
    data.update(buffer_ticks="999", range_start="25:00")
    response = client.post(url, data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["buffer_ticks"] == ["must be at most 200"]
    assert errors["range_start"] == ['must be a clock time "HH:MM"']
    body = response.content.decode()
    assert "must be at most 200" in body
    desk_a.strategy.refresh_from_db()
    assert desk_a.strategy.params == {}


def test_owner_edits_risk_limits_through_the_service(client, alice, desk_a):
    client.force_login(alice)
    account = desk_a.strategy.account
    url = reverse("risk_edit", args=[account.pk])
    form = client.get(url).context["form"]
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items() if v is not False}
    data["max_contracts"] = "3"
    data["flat_by_et"] = "15:50"
    response = client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors
    account.risk_profile.refresh_from_db()
    assert account.risk_profile.max_contracts == 3
    assert AuditEntry.objects.for_tenant(account.tenant_id).filter(action="risk_profile.update")
    data["flat_by_et"] = "16:30"  # after TopStep's deadline: refused by the model's constraint
    response = client.post(url, data)
    assert response.status_code == 400
    account.risk_profile.refresh_from_db()
    assert str(account.risk_profile.flat_by_et) == "15:50:00"


def test_broker_api_keys_are_write_only(client, alice, account_a):
    client.force_login(alice)
    response = client.post(
        reverse("connection_create"),
        {"name": "Live", "environment": "live", "username": "alice-px", "api_key": "SECRET-KEY-1"},
    )
    assert response.status_code == 302
    connection = BrokerConnection.objects.for_tenant(account_a.tenant).get(name="Live")
    body = client.get(reverse("settings")).content.decode()
    assert "alice-px" in body
    assert "SECRET-KEY-1" not in body
    assert connection.api_key_encrypted not in body
    assert "secret-api-key" not in body  # the factory's key of account_a's login
    # A refused form (no name) does not echo the key back.
    response = client.post(
        reverse("connection_create"),
        {"name": "", "environment": "live", "username": "x", "api_key": "SECRET-KEY-2"},
    )
    assert response.status_code == 400
    assert "SECRET-KEY-2" not in response.content.decode()
    response = client.post(
        reverse("connection_set_key", args=[connection.pk]), {"api_key": "SECRET-KEY-3"}
    )
    assert response.status_code == 302
    assert "SECRET-KEY-3" not in client.get(reverse("settings")).content.decode()
    from accounts.services import broker_connection_api_key

    connection.refresh_from_db()
    assert broker_connection_api_key(connection=connection) == "SECRET-KEY-3"


def test_discord_webhook_urls_are_write_only(client, alice, tenant_a):
    client.force_login(alice)
    url = "https://discord.com/api/webhooks/123/TOKEN-abc"
    response = client.post(
        reverse("channel_create"), {"name": "Desk alerts", "url": url, "events": ["fill", "risk"]}
    )
    assert response.status_code == 302
    channel = NotificationChannel.objects.for_tenant(tenant_a).get()
    assert channel.events == ["fill", "risk"]
    body = client.get(reverse("settings")).content.decode()
    assert "Desk alerts" in body
    assert "TOKEN-abc" not in body
    assert channel.url_encrypted not in body
    for bad in [
        "http://discord.com/api/webhooks/1/TOKEN-x",
        "https://169.254.169.254/api/webhooks/1/TOKEN-x",
    ]:
        response = client.post(reverse("channel_create"), {"name": "x", "url": bad})
        assert response.status_code == 400
        assert "is not allowed" in response.content.decode()
        assert bad not in response.content.decode()
    assert NotificationChannel.objects.for_tenant(tenant_a).count() == 1


def test_settings_do_not_show_other_desks_logins(client, alice, tenant_a, tenant_b):
    BrokerConnectionFactory(tenant=tenant_b, name="B's login", username="b-user")
    BrokerConnectionFactory(tenant=tenant_a, name="A's login", username="a-user")
    client.force_login(alice)
    body = client.get(reverse("settings")).content.decode()
    assert "a-user" in body
    assert "b-user" not in body
    assert encrypt_secret  # imported for the factory's key


def test_switching_to_a_desk_you_do_not_belong_to_is_refused(client, alice, tenant_a, tenant_b):
    client.force_login(alice)
    assert client.post(reverse("tenant_switch"), {"tenant": tenant_b.pk}).status_code == 404
    assert client.post(reverse("tenant_switch"), {"tenant": "x"}).status_code == 404
    assert client.get("/").context["tenant"] == tenant_a


def test_member_of_two_desks_switches_between_them(client, alice, tenant_a, account_a, account_b):
    from accounts.models import Role
    from accounts.tests.factories import MembershipFactory

    MembershipFactory(user=alice, tenant=account_b.tenant, role=Role.VIEWER)
    client.force_login(alice)
    assert client.post(reverse("tenant_switch"), {"tenant": account_b.tenant_id}).status_code == 302
    body = client.get("/").content.decode()
    assert "Account of B" in body
    assert "Account of A" not in body
    assert client.get(reverse("account_detail", args=[account_a.pk])).status_code == 404


def test_user_without_a_desk_sees_the_notice_and_is_redirected_from_desk_pages(client, charlie):
    client.force_login(charlie)
    body = client.get("/").content.decode()
    assert "You are not a member of any trading desk yet" in body
    response = client.get(reverse("strategy_list"))
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_system_health_is_for_staff_only(client, alice):
    client.force_login(alice)
    assert client.get(reverse("ops_health")).status_code == 403


def test_system_health_shows_services_queues_and_broker_latency(client, settings, alice):
    import uuid

    import redis

    from execution.gateway.metrics import Outcome, RedisMetrics

    settings.GATEWAY_METRICS_KEY_PREFIX = f"test-web-{uuid.uuid4().hex[:8]}"  # isolated from others
    metrics = RedisMetrics(
        redis.Redis.from_url(settings.REDIS_URL), key_prefix=settings.GATEWAY_METRICS_KEY_PREFIX
    )
    for ms in (12, 40, 180):
        metrics.record("Order/place", outcome=Outcome.OK, latency_seconds=ms / 1000)
    alice.is_staff = alice.is_superuser = True  # the platform's health is for superusers
    alice.save()
    client.force_login(alice)
    response = client.get(reverse("ops_health"))
    metrics.reset()
    body = response.content.decode()
    assert response.status_code == 200
    assert '<td id="h-database" class="up">up</td>' in body
    assert '<td id="h-redis" class="up">up</td>' in body
    assert "<th>critical</th>" in body
    row = response.context["endpoints"][0]
    assert (row.endpoint, row.calls, row.p50_ms, row.p95_ms) == ("Order/place", 3, 50, 200)
    assert "Order/place" in body


def test_trader_creates_a_strategy_disabled_with_default_parameters(client, trader, desk_a):
    client.force_login(trader)
    account = desk_a.strategy.account
    response = client.post(
        reverse("strategy_create"),
        {"name": "Fade", "kind": "mean_reversion", "account": account.pk,
         "instrument": desk_a.instrument.pk},
    )  # fmt: skip
    created = StrategyConfig.objects.for_tenant(account.tenant).get(name="Fade")
    assert response["Location"] == reverse("strategy_edit", args=[created.pk])
    assert created.is_enabled is False
    assert created.params["rsi_period"] == 14
    response = client.post(
        reverse("strategy_create"),
        {"name": "Fade", "kind": "mean_reversion", "account": account.pk,
         "instrument": desk_a.instrument.pk},
    )  # fmt: skip
    assert response.status_code == 400  # the name is taken on that account
    assert StrategyConfig.objects.for_tenant(account.tenant).filter(name="Fade").count() == 1


def test_a_strategy_cannot_be_created_on_another_desks_account(client, alice, desk_a, desk_b):
    client.force_login(alice)
    response = client.post(
        reverse("strategy_create"),
        {"name": "Sneaky", "kind": "mean_reversion", "account": desk_b.strategy.account_id,
         "instrument": desk_a.instrument.pk},
    )  # fmt: skip
    assert response.status_code == 400
    assert response.context["create_form"].errors["account"]
    assert not StrategyConfig.all_tenants.filter(name="Sneaky").exists()


def test_viewer_cannot_create_a_strategy(client, viewer, desk_a):
    client.force_login(viewer)
    body = client.get(reverse("strategy_list")).content.decode()
    assert 'id="new-strategy"' not in body
    response = client.post(
        reverse("strategy_create"),
        {"name": "X", "kind": "mean_reversion", "account": desk_a.strategy.account_id,
         "instrument": desk_a.instrument.pk},
    )  # fmt: skip
    assert response.status_code == 403


def test_owner_reads_the_audit_log_of_their_desk_only(
    client, alice, trader, viewer, desk_a, desk_b
):
    client.force_login(trader)
    client.post(reverse("strategy_toggle", args=[desk_a.strategy.pk]), {"enabled": "1"})
    assert client.get(reverse("audit_log")).status_code == 403
    client.force_login(viewer)
    assert client.get(reverse("audit_log")).status_code == 403
    client.force_login(alice)
    body = client.get(reverse("audit_log")).content.decode()
    assert "strategy.enable" in body
    assert "tom" in body
    assert (
        f"StrategyConfig #{desk_b.strategy.pk}" not in body
        or desk_b.strategy.pk == desk_a.strategy.pk
    )


def test_the_account_page_says_how_to_leave_position_brackets(client, trader, viewer, desk_a):
    account = desk_a.strategy.account
    account.bracket_mode = "position"
    account.save(update_fields=["bracket_mode"])
    client.force_login(viewer)
    body = client.get(reverse("account_detail", args=[account.pk])).content.decode()
    assert "Brackets: Position Brackets" in body
    assert "choose Auto OCO Brackets" in body
    assert 'id="bracket-mode-reset"' not in body  # a viewer cannot act
    assert client.post(reverse("account_bracket_mode_reset", args=[account.pk])).status_code == 403

    client.force_login(trader)
    response = client.post(reverse("account_bracket_mode_reset", args=[account.pk]))
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.bracket_mode == "auto_oco"
    assert (
        AuditEntry.objects.for_tenant(account.tenant)
        .filter(action="account.bracket_mode_reset", actor=trader)
        .exists()
    )
    body = client.get(reverse("account_detail", args=[account.pk])).content.decode()
    assert "Brackets: Position Brackets" not in body
