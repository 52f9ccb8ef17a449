import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from execution.gateway.auth import SessionToken, jwt_expiry
from execution.gateway.config import Credentials, GatewayConfig
from execution.gateway.errors import BrokerRejected, InvalidRequest, error_code_name


def make_jwt(claims: dict) -> str:
    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(claims)}.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("endpoint", "code", "name"),
    [
        ("Order/place", 2, "OrderRejected"),
        ("order/place", 5, "OutsideTradingHours"),
        ("/Order/modify", 7, "ContractNotFound"),
        ("Order/cancel", 7, "Unknown(7)"),
        ("Position/partialCloseContract", 5, "InvalidCloseSize"),
        ("Position/closeContract", 5, "OrderRejected"),
        ("History/retrieveBars", 4, "LimitInvalid"),
        ("Auth/loginKey", 9, "ApiSubscriptionNotFound"),
        ("Auth/validate", 3, "ExpiredToken"),
        ("Contract/searchById", 1, "ContractNotFound"),
        ("Trade/search", 1, "AccountNotFound"),
        ("Account/search", 0, "Success"),
        ("Order/place", -400, "Http400"),
        ("Nope/nothing", 1, "Unknown(1)"),
    ],
)
def test_error_code_names_follow_the_per_endpoint_tables(endpoint, code, name):
    assert error_code_name(endpoint, code) == name


def test_broker_rejected_carries_endpoint_code_name_and_message():
    exc = BrokerRejected("Order/place", 3, "Insufficient funds")

    assert (exc.endpoint, exc.error_code, exc.error_name, exc.error_message) == (
        "Order/place",
        3,
        "InsufficientFunds",
        "Insufficient funds",
    )
    assert str(exc) == "Order/place rejected: InsufficientFunds (3): Insufficient funds"


def test_jwt_expiry_reads_exp_and_tolerates_garbage():
    exp = datetime(2026, 11, 26, 12, tzinfo=UTC)

    assert jwt_expiry(make_jwt({"sub": "u", "exp": int(exp.timestamp())})) == exp
    assert jwt_expiry(make_jwt({"sub": "u"})) is None
    assert jwt_expiry(make_jwt({"exp": "tomorrow"})) is None
    assert jwt_expiry("not-a-jwt") is None
    assert jwt_expiry("a.!!!.c") is None


def test_token_renews_five_minutes_before_exp_or_after_twelve_hours():
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    margin, every = timedelta(minutes=5), timedelta(hours=12)
    short = SessionToken.issue(
        make_jwt({"exp": int((now + timedelta(hours=1)).timestamp())}),
        now=now,
        fallback_lifetime=timedelta(hours=1),
    )
    day = SessionToken.issue(
        make_jwt({"exp": int((now + timedelta(hours=24)).timestamp())}),
        now=now,
        fallback_lifetime=timedelta(hours=1),
    )

    assert short.renew_at(refresh_margin=margin, validate_every=every) == now + timedelta(
        minutes=55
    )
    assert not short.needs_renewal(
        now + timedelta(minutes=54), refresh_margin=margin, validate_every=every
    )
    assert short.needs_renewal(
        now + timedelta(minutes=55), refresh_margin=margin, validate_every=every
    )
    assert day.renew_at(refresh_margin=margin, validate_every=every) == now + timedelta(hours=12)


def test_a_margin_longer_than_the_token_life_still_waits_half_the_life():
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    token = SessionToken.issue(
        make_jwt({"exp": int((now + timedelta(seconds=20)).timestamp())}),
        now=now,
        fallback_lifetime=timedelta(hours=1),
    )

    assert token.renew_at(
        refresh_margin=timedelta(minutes=5), validate_every=timedelta(hours=12)
    ) == now + timedelta(seconds=10)


def test_token_without_exp_falls_back_and_repr_hides_the_value():
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    token = SessionToken.issue("opaque-secret", now=now, fallback_lifetime=timedelta(hours=1))

    assert token.expires_at == now + timedelta(hours=1)
    assert "opaque-secret" not in repr(token)


def test_credentials_repr_hides_api_key_and_config_refuses_bad_urls():
    creds = Credentials("alice", "KEY-123-SECRET")

    assert "KEY-123-SECRET" not in repr(creds)
    with pytest.raises(InvalidRequest, match="base_url is not an http"):
        GatewayConfig("api.topstepx.com/api", "https://x/hubs/user", "https://x/hubs/market")
    with pytest.raises(InvalidRequest, match="username and api_key are required"):
        Credentials("alice", "")
