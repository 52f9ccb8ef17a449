"""A logging filter that keeps broker secrets out of every log line."""

import logging
import re

# Bearer tokens, JWTs and apiKey/token/password fields in JSON or query strings.
_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-_.=]+"),
    re.compile(r"(/webhooks/\d+/)[A-Za-z0-9\-_]+"),  # a Discord webhook token grants posting
    re.compile(r"eyJ[A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]*"),
    re.compile(
        r"(?i)([\"']?(?:api_?key|token|access_token|password|secret)[\"']?\s*[:=]\s*[\"']?)[^\"'&\s,}]+"
    ),
]


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "[REDACTED]", text)
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
