"""Start-up errors a person can act on: a missing or malformed setting answers with one line on stderr
that says what to set, and a non-zero exit code, instead of a traceback through Django's internals."""

import sys

from django.core.exceptions import ImproperlyConfigured


class SettingsError(ImproperlyConfigured):
    """A setting is missing or malformed; the message says what to set."""


def execute_or_explain(argv: list[str]) -> None:
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(argv)
    except SettingsError as exc:
        sys.exit(f"manage.py: {exc}")  # to stderr, exit code 1
