import io
import logging

from accounts.logging import RedactSecretsFilter, redact


def test_redacts_bearer_tokens_jwts_and_key_fields():
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.c2lnbmF0dXJl"
    text = f'Authorization: Bearer abc.def {{"apiKey": "k-123", "userName": "u"}} token={jwt}'
    cleaned = redact(text)
    assert "abc.def" not in cleaned
    assert "k-123" not in cleaned
    assert jwt not in cleaned
    assert '"userName": "u"' in cleaned


def test_redacts_discord_webhook_tokens():
    cleaned = redact("POST https://discord.com/api/webhooks/123456/AbC-def_789 failed")
    assert "AbC-def_789" not in cleaned
    assert "/webhooks/123456/[REDACTED]" in cleaned


def test_filter_rewrites_the_record(caplog):
    logger = logging.getLogger("test.redact")
    logger.addFilter(RedactSecretsFilter())
    with caplog.at_level(logging.INFO, logger="test.redact"):
        logger.info("login with %s", '{"apiKey": "very-secret"}')
    assert "very-secret" not in caplog.text
    assert "[REDACTED]" in caplog.text


def test_filter_redacts_the_traceback_too():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecretsFilter())
    logger = logging.getLogger("test.redact.traceback")
    logger.addHandler(handler)
    try:
        raise ConnectionError('gateway said {"token": "tb-secret"}')
    except ConnectionError:
        logger.exception("login failed")
    finally:
        logger.removeHandler(handler)
    assert "login failed" in stream.getvalue()
    assert "ConnectionError" in stream.getvalue()
    assert "tb-secret" not in stream.getvalue()
