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
    """On the handlers (settings.LOGGING), so it sees every record that is written, whichever logger
    it came from. A traceback is formatted here, redacted, and kept in `exc_text`, which formatters
    print instead of formatting the exception again."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
