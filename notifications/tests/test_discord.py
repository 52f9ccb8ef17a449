"""The Discord client without the database: message limits, rate-limit parsing, URL rules, retries."""

import logging
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifications.discord import (
    CONTENT_LIMIT,
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    FIELD_COUNT_LIMIT,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    FOOTER_LIMIT,
    TITLE_LIMIT,
    DiscordMessage,
    DiscordOutcomeUnknown,
    DiscordRejected,
    DiscordRetryLater,
    DiscordWebhookClient,
    InvalidWebhookUrl,
    MemoryRateLimits,
    RetryPolicy,
    WebhookUrlLogFilter,
    retry_after_seconds,
    text_length,
    truncate,
    validate_webhook_url,
)
from notifications.tests.receiver import Reply, WebhookReceiver

DISCORD = ("https://discord.com", "https://discordapp.com")
LOCAL = ("http://127.0.0.1",)
texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=3000)


# --- Limits ---------------------------------------------------------------------------------------


@given(text=texts, limit=st.integers(min_value=1, max_value=2100))
def test_truncate_fits_keeps_a_prefix_and_marks_the_cut(text, limit):
    result = truncate(text, limit)
    assert text_length(result) <= limit
    if text_length(text) <= limit:
        assert result == text
    else:
        assert result.endswith("…")
        assert text.startswith(result[:-1])


def test_truncate_counts_an_emoji_as_two_units_and_never_splits_it():
    assert truncate("ab😀", 3) == "ab…"
    assert truncate("ab😀", 4) == "ab😀"
    assert text_length("😀") == 2


@given(
    content=texts,
    title=st.text(max_size=400),
    description=st.text(max_size=6000),
    footer=st.text(max_size=2200),
    fields=st.lists(st.tuples(st.text(max_size=300), st.text(max_size=1200)), max_size=40),
)
def test_payload_always_respects_discords_limits(content, title, description, footer, fields):
    payload = DiscordMessage(
        content=content, title=title, description=description, fields=fields, footer=footer
    ).to_payload()
    [embed] = payload["embeds"]
    assert text_length(payload["content"]) <= CONTENT_LIMIT
    assert text_length(embed.get("title", "")) <= TITLE_LIMIT
    assert text_length(embed.get("description", "")) <= DESCRIPTION_LIMIT
    assert text_length(embed.get("footer", {}).get("text", "")) <= FOOTER_LIMIT
    assert len(embed["fields"]) <= FIELD_COUNT_LIMIT
    for field in embed["fields"]:
        assert 0 < text_length(field["name"]) <= FIELD_NAME_LIMIT
        assert 0 < text_length(field["value"]) <= FIELD_VALUE_LIMIT
    total = sum(
        text_length(part)
        for part in [
            embed.get("title", ""),
            embed.get("description", ""),
            embed.get("footer", {}).get("text", ""),
            *(f["name"] + f["value"] for f in embed["fields"]),
        ]
    )
    assert total <= EMBED_TOTAL_LIMIT


def test_more_than_25_fields_keep_24_and_say_how_many_were_cut():
    fields = [(f"f{i}", str(i)) for i in range(30)]
    [embed] = DiscordMessage(content="", title="t", fields=fields).to_payload()["embeds"]
    assert [f["name"] for f in embed["fields"][:24]] == [f"f{i}" for i in range(24)]
    assert embed["fields"][24] == {
        "name": "…",
        "value": "6 more field(s) not shown",
        "inline": False,
    }


def test_exactly_25_fields_are_all_kept():
    fields = [(f"f{i}", str(i)) for i in range(25)]
    [embed] = DiscordMessage(content="", title="t", fields=fields).to_payload()["embeds"]
    assert [f["name"] for f in embed["fields"]] == [f"f{i}" for i in range(25)]


def test_long_texts_are_cut_with_an_ellipsis_and_empty_fields_get_a_blank():
    payload = DiscordMessage(
        content="c" * 2500, title="t" * 300, description="d" * 5000, fields=[("", "")]
    ).to_payload()
    [embed] = payload["embeds"]
    assert payload["content"] == "c" * 1999 + "…"
    assert embed["title"] == "t" * 255 + "…"
    assert embed["description"] == "d" * 4095 + "…"
    assert embed["fields"] == [{"name": "\u200b", "value": "\u200b", "inline": True}]


def test_fields_take_the_total_budget_before_the_description():
    fields = [("n", "v" * 1024)] * 5  # 5 * 1025 = 5125 of the 6000
    [embed] = DiscordMessage(
        content="", title="t", description="d" * 4000, fields=fields
    ).to_payload()["embeds"]
    assert len(embed["fields"]) == 5
    assert text_length(embed["description"]) == EMBED_TOTAL_LIMIT - 1 - 5125
    assert embed["description"].endswith("…")


def test_naive_timestamp_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        DiscordMessage(content="", title="t", timestamp=datetime(2026, 1, 2)).to_payload()


def test_mentions_are_never_parsed():
    payload = DiscordMessage(
        content="@everyone", title="t", timestamp=datetime(2026, 1, 2, tzinfo=UTC)
    ).to_payload()
    assert payload["allowed_mentions"] == {"parse": []}
    assert payload["embeds"][0]["timestamp"] == "2026-01-02T00:00:00+00:00"


# --- Rate-limit answers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({}, {"retry_after": 0.25, "global": False}, 0.25),
        ({"Retry-After": "3"}, {"retry_after": 2.5}, 2.5),
        ({"Retry-After": "3"}, None, 3.0),
        ({"Retry-After": "3"}, {"retry_after": 2500}, 2.5),  # old API: milliseconds
        ({}, None, None),
        ({"Retry-After": "soon"}, {"retry_after": "x"}, None),
        ({}, {"retry_after": -1}, None),
    ],
    ids=[
        "body_case",
        "body_wins_case",
        "header_case",
        "milliseconds_case",
        "none_case",
        "garbage_case",
        "negative_case",
    ],
)
def test_retry_after_is_read_from_the_body_then_the_header(headers, body, expected):
    response = (
        httpx.Response(429, headers=headers, json=body)
        if body
        else httpx.Response(429, headers=headers, text="<html>banned</html>")
    )
    assert retry_after_seconds(response) == expected


# --- The URL --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://discord.com/api/webhooks/123/AbC-_9",
        "https://discordapp.com/api/v10/webhooks/123/AbC?thread_id=5",
        "https://DISCORD.com/api/webhooks/123/AbC/",
    ],
)
def test_discord_webhook_urls_are_accepted(url):
    validate_webhook_url(url, allowed_origins=DISCORD)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "http://discord.com/api/webhooks/1/t",
            "webhook host discord.com over http is not allowed",
        ),
        ("https://169.254.169.254/api/webhooks/1/t", "webhook host 169.254.169.254 over https"),
        ("https://discord.com.evil.io/api/webhooks/1/t", "webhook host discord.com.evil.io"),
        ("https://discord.com/api/channels/1/messages", "not a Discord webhook URL"),
        ("https://u:p@discord.com/api/webhooks/1/t", "not a Discord webhook URL"),
        ("not a url", "webhook host ? over ? is not allowed"),
    ],
)
def test_other_urls_are_refused_without_echoing_the_token(url, message):
    with pytest.raises(InvalidWebhookUrl) as excinfo:
        validate_webhook_url(url, allowed_origins=DISCORD)
    assert message in str(excinfo.value)
    assert "/t" not in str(excinfo.value)


def test_log_filter_redacts_webhook_tokens():
    record = logging.LogRecord(
        "httpx",
        logging.INFO,
        __file__,
        1,
        'HTTP Request: POST %s "%s"',
        ("https://discord.com/api/webhooks/123/s3cr3t-tok?wait=true", "HTTP/1.1 200 OK"),
        None,
    )
    assert WebhookUrlLogFilter().filter(record) is True
    assert record.getMessage() == (
        'HTTP Request: POST https://discord.com/api/webhooks/123/[REDACTED]?wait=true "HTTP/1.1 200 OK"'
    )


# --- The client against a local receiver ----------------------------------------------------------


@pytest.fixture
def recorder():
    server = WebhookReceiver()
    yield server
    server.close()


def client_for(limits: MemoryRateLimits, **policy: float) -> DiscordWebhookClient:
    http = httpx.Client(timeout=httpx.Timeout(0.5, connect=0.5))
    options = {"backoff_base_seconds": 0.01, "max_inline_wait_seconds": 1.0, **policy}
    return DiscordWebhookClient(http=http, limits=limits, policy=RetryPolicy(**options))  # type: ignore[arg-type]


def test_global_429_blocks_every_bucket(recorder):
    limits = MemoryRateLimits()
    recorder.script(Reply(429, {"message": "rate limited", "retry_after": 30, "global": True}))
    client = client_for(limits)

    with pytest.raises(DiscordRetryLater) as excinfo:
        client.execute(url=recorder.webhook_url(), payload={"content": "x"}, bucket="channel.1")
    assert (excinfo.value.delay_seconds, excinfo.value.rate_limited) == (30, True)

    with pytest.raises(DiscordRetryLater, match="rate limit window still open"):
        client.execute(url=recorder.webhook_url(), payload={"content": "x"}, bucket="channel.2")
    assert len(recorder.received) == 1


def test_429_on_the_last_attempt_defers_with_discords_wait(recorder):
    recorder.script(*[Reply(429, {"message": "rate limited", "retry_after": 0.05})] * 2)
    client = client_for(MemoryRateLimits(), max_attempts=2)
    with pytest.raises(DiscordRetryLater) as excinfo:
        client.execute(url=recorder.webhook_url(), payload={"content": "x"}, bucket="b")
    assert excinfo.value.delay_seconds == 0.05
    assert len(recorder.received) == 2


def test_success_returns_the_message_id_and_the_attempts(recorder):
    recorder.script(Reply(500, {"message": "oops"}))
    posted = client_for(MemoryRateLimits()).execute(
        url=recorder.webhook_url(), payload={"content": "x"}, bucket="b"
    )
    assert (posted.status_code, posted.message_id, posted.attempts) == (200, "900002", 2)


def test_server_errors_honour_a_retry_after_header(recorder):
    recorder.script(Reply(503, "<html>down</html>", headers={"Retry-After": "0.3"}))
    client_for(MemoryRateLimits()).execute(
        url=recorder.webhook_url(), payload={"content": "x"}, bucket="b"
    )
    first, second = recorder.received
    assert second.at - first.at >= 0.3


def test_a_4xx_is_raised_at_once(recorder):
    recorder.script(Reply(401, {"message": "Invalid Webhook Token", "code": 50027}))
    with pytest.raises(DiscordRejected) as excinfo:
        client_for(MemoryRateLimits()).execute(
            url=recorder.webhook_url(), payload={"content": "x"}, bucket="b"
        )
    assert (excinfo.value.status_code, excinfo.value.code) == (401, 50027)
    assert str(excinfo.value) == "HTTP 401 (Discord code 50027): Invalid Webhook Token"
    assert len(recorder.received) == 1


def test_a_dropped_connection_after_sending_is_an_unknown_outcome():
    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    client = DiscordWebhookClient(
        http=httpx.Client(transport=httpx.MockTransport(drop)), limits=MemoryRateLimits()
    )
    with pytest.raises(DiscordOutcomeUnknown, match="RemoteProtocolError"):
        client.execute(url="https://discord.com/api/webhooks/1/t", payload={}, bucket="b")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_attempts": 0}, "max_attempts must be at least 1, got 0"),
        ({"backoff_base_seconds": -1}, "retry waits cannot be negative"),
    ],
)
def test_retry_policy_refuses_impossible_settings(options, message):
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**options)


def test_cache_rate_limits_are_shared_and_never_shortened():
    from notifications.ratelimits import CacheRateLimits

    first, second = CacheRateLimits(), CacheRateLimits()
    first.block("channel.9", 5.0)
    second.block("channel.9", 1.0)
    assert 4.5 < second.wait_seconds("channel.9") <= 5.0
    assert second.wait_seconds("channel.10") == 0.0


def test_cache_rate_limits_fail_open_when_the_cache_is_down(settings, caplog):
    from notifications.ratelimits import CacheRateLimits

    # Django's setting_changed signal rebuilds the cache handlers for the new CACHES.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        }
    }
    limits = CacheRateLimits()
    limits.block("channel.1", 5.0)
    assert limits.wait_seconds("channel.1") == 0.0
    assert "rate-limit cache unreachable" in caplog.text
