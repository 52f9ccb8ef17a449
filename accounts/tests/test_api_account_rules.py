"""Which account rules apply, through the API and on the account page (issue 14, part A): the
plan's firm daily loss limit (none on TopstepX), the personal one and its action, the MLL mode,
micro counting, today's size allowance and the consistency target, with their source."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from accounts.models import RiskProfile
from accounts.tests.factories import TradingAccountFactory, plan
from accounts.tests.test_api_support import API, World, _fresh_throttles, api, rows_of, world
from execution.selectors import account_rules
from execution.services import account_day_get_or_open
from markets.sessions import trading_date

FIXTURES = (_fresh_throttles, api, world)  # shared fixtures, imported by name for pytest
pytestmark = pytest.mark.django_db
WEDNESDAY_MORNING = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # 10:00 New York
SATURDAY = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)  # market closed: every change applies at once


def rules_of(client: Any, account: Any) -> Any:
    return client.get(f"{API}/accounts/{account.public_id}/rules/")


def test_the_rules_of_a_topstepx_combine_say_which_daily_limits_apply(
    world: World, api: Any, time_machine: Any
):
    time_machine.move_to(WEDNESDAY_MORNING)
    day = account_day_get_or_open(
        account=world.account_a, session_date=trading_date(WEDNESDAY_MORNING)
    )
    day.realized_pnl_usd = Decimal("600.00")
    day.save()

    response = rules_of(api(world.vera), world.account_a)

    assert response.status_code == 200
    body = response.json()
    assert body["plan_code"] == "combine-50k"
    assert body["firm_daily_loss_limit_usd"] is None  # TopstepX since 25 Aug 2024
    assert body["personal_daily_loss_limit_usd"] == "1000.00"  # the factory's trader set one
    assert body["personal_daily_loss_action"] == "liquidate_and_block"
    assert body["mll_mode"] == "end_of_day"
    assert (body["micro_ratio"], body["max_contracts_today"]) == (1, 5)
    assert body["consistency"] == {
        "share": "0.500",
        "total_profit_usd": "600.00",
        "best_day_usd": "600.00",
        "best_day_share": "1.0000",
        "is_consistent": False,
        "day_cap_usd": "1500.00",
        "remaining_today_usd": "900.00",
    }
    assert "25 Aug 2024" in body["rules_source"]


def test_another_tenants_account_rules_are_not_found(world: World, api: Any):
    assert rules_of(api(world.alice), world.account_b).status_code == 404


def test_a_new_account_starts_with_no_personal_limit_and_the_stricter_defaults(
    world: World, api: Any
):
    response = api(world.alice).post(
        f"{API}/accounts/",
        {
            "connection": str(world.account_a.connection.public_id),
            "projectx_account_id": 777,
            "name": "TC new",
            "plan": "combine-50k",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    profile = response.json()["risk_profile"]
    assert (profile["is_daily_loss_enforced"], profile["daily_loss_limit_usd"]) == (False, None)
    assert (profile["mll_mode"], profile["micro_ratio"]) == ("end_of_day", 1)
    assert profile["is_consistency_guarded"] is False


def test_the_owner_sets_a_personal_limit_that_only_alerts(
    world: World, api: Any, time_machine: Any
):
    time_machine.move_to(SATURDAY)  # alert is looser than the default action: no session open
    url = f"{API}/accounts/{world.account_a.public_id}/risk-profile/"
    changes = {"daily_loss_limit_usd": "400.00", "daily_loss_action": "alert"}
    response = api(world.alice).patch(url, changes, format="json")
    assert response.status_code == 200, response.content
    body = rules_of(api(world.alice), world.account_a).json()
    assert (body["personal_daily_loss_limit_usd"], body["personal_daily_loss_action"]) == (
        "400.00",
        "alert",
    )


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        pytest.param(
            {"daily_loss_limit_usd": None},
            {"daily_loss_limit_usd": ["a personal daily loss limit that is on needs an amount"]},
            id="on-without-amount",
        ),
        pytest.param(
            {"daily_loss_action": "shrug"},
            {"daily_loss_action": ['"shrug" is not a valid choice.']},
            id="unknown-action",
        ),
    ],
)
def test_a_bad_personal_limit_is_refused_and_nothing_changes(world: World, api: Any, changes,
                                                             errors):  # fmt: skip
    before = rows_of(world.tenant_a)
    url = f"{API}/accounts/{world.account_a.public_id}/risk-profile/"
    response = api(world.alice).patch(url, changes, format="json")
    assert response.status_code == 400
    assert response.json() == errors
    assert rows_of(world.tenant_a) == before


def test_the_account_page_shows_which_rules_apply(client: Any, world: World):
    RiskProfile.all_tenants.filter(account=world.account_a).update(
        daily_loss_action="liquidate", is_consistency_guarded=True
    )
    client.force_login(world.alice)
    body = client.get(reverse("account_detail", args=[world.account_a.pk])).content.decode()
    assert 'id="rules-card"' in body
    assert "none (TopstepX)" in body
    assert "$1,000.00: liquidate</td>" in body
    assert "trails the end-of-day balance" in body
    assert "5 contracts; a micro counts as a full contract" in body
    assert "today may win up to $1,500.00, $1,500.00 to go; entries stop for the day" in body


def test_the_scaling_plan_grows_the_plans_size_and_an_owners_own_size_replaces_it(tenant_a):
    account = TradingAccountFactory(
        tenant=tenant_a,
        plan=plan("express-50k"),  # 2, 3 above $1,500, 5 above $2,000
        starting_balance_usd=Decimal("0.00"),
        risk_profile__max_contracts=2,
        risk_profile__mll_lock_balance_usd=Decimal("0.00"),
    )
    session = trading_date(WEDNESDAY_MORNING)
    day = account_day_get_or_open(account=account, session_date=session)
    day.start_balance_usd = day.balance_usd = Decimal("2100.00")
    day.save()
    assert account_rules(account=account, session_date=session).max_contracts_today == 5
    RiskProfile.all_tenants.filter(account=account).update(max_contracts=1)
    account.refresh_from_db()
    assert account_rules(account=account, session_date=session).max_contracts_today == 1
