"""A desk's saved state: pickled, and signed so that only bytes this platform wrote are unpickled.

Unpickling runs code named in the bytes, so a blob that anyone else could have written (a database
restored from elsewhere, a row edited by hand or by an injection) must never reach ``pickle.loads``.
Each blob starts with an HMAC-SHA256 of the pickle, keyed from the Django secret (``SECRET_KEY``,
then ``SECRET_KEY_FALLBACKS`` while a rotation is under way); a blob whose MAC does not match is
refused before it is unpickled. A refused or outdated state costs nothing but a warm-up: the desk is
rebuilt from history (``strategies/live/steps.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import pickle

from django.conf import settings

from strategies.live.desk import Desk

_SALT = b"strategies.live.state/desk"
_MAC_BYTES = hashlib.sha256().digest_size


class UnreadableState(ValueError):
    """The saved bytes are not a desk this platform wrote (unsigned, tampered, or outdated)."""


def desk_dump(desk: Desk) -> bytes:
    body = pickle.dumps(desk, protocol=pickle.HIGHEST_PROTOCOL)
    return _mac(settings.SECRET_KEY, body) + body


def desk_load(blob: bytes) -> Desk:
    mac, body = blob[:_MAC_BYTES], blob[_MAC_BYTES:]
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    if len(mac) != _MAC_BYTES or not any(hmac.compare_digest(mac, _mac(s, body)) for s in secrets):
        raise UnreadableState("the saved state is not signed by this platform")
    try:
        desk = pickle.loads(body)  # noqa: S301 - signed above: bytes our own workers wrote
    except Exception as exc:  # a deploy changed the classes
        raise UnreadableState(f"the saved state no longer loads: {exc!r}") from exc
    if not isinstance(desk, Desk):
        raise UnreadableState(f"the saved state is a {type(desk).__name__}, not a desk")
    return desk


def _mac(secret: str | bytes, body: bytes) -> bytes:
    key = hashlib.sha256(_SALT + (secret.encode() if isinstance(secret, str) else secret)).digest()
    return hmac.new(key, body, hashlib.sha256).digest()
