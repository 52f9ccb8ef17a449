"""Broker secrets (API keys, webhook URLs) encrypted at rest with rotatable Fernet keys.

BROKER_CREDENTIALS_KEYS lists keys newest first: encryption uses the first, decryption tries all, so a new
key is prepended, `manage.py rotate_credentials` re-encrypts, then the old key is dropped.
"""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with any configured key (a key was dropped too early)."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "BROKER_CREDENTIALS_KEYS must hold url-safe base64 Fernet keys (32 bytes each)"
        ) from exc


def _current() -> MultiFernet:
    return _fernet(tuple(settings.BROKER_CREDENTIALS_KEYS))


def encrypt_secret(plaintext: str) -> str:
    if not plaintext:
        raise ValueError("refusing to store an empty secret")
    return _current().encrypt(plaintext.encode()).decode()


def decrypt_secret(token: str) -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable(
            "stored secret cannot be decrypted with the configured keys"
        ) from exc


def rotate_secret(token: str) -> str:
    """Re-encrypt under the newest key (MultiFernet.rotate keeps the original timestamp)."""
    try:
        return _current().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable(
            "stored secret cannot be decrypted with the configured keys"
        ) from exc
