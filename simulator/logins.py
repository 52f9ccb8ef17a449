"""Simulated users and their session tokens: login with an API key, token checks (expiry,
revocation by logout, the `expire_tokens` fault) and the per-user token lifetime switch.

A mixin of `simulator.engine.Engine`: it keeps `users`, `secret`, `revoked` and
`tokens_not_before` there, loaded from and written through to the engine's store.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from simulator import tokens
from simulator.records import Account, GatewayError, NotAuthenticated


class Logins:
    """Who may log in, and which tokens are still good."""

    users: dict[str, dict[str, Any]]
    secret: bytes
    revoked: set[str]
    tokens_not_before: int

    def add_user(self, name: str, api_key: str, *, balance: Decimal | None = None) -> Account:
        """Register (or update the key of) a user; give them one practice account if none."""
        if not name or not api_key:
            raise ValueError("a simulated user needs a name and an API key")
        with self.store.batch():
            self.users[name] = {**self.users.get(name, {}), "name": name, "api_key": api_key}
            self.store.put("users", name, self.users[name])
            owned = [a for a in self.accounts.values() if a.user == name]
            if owned:
                return owned[0]
            return self.add_account(name, balance or self.config.starting_balance)

    def user_set_token_ttl(self, user: str, ttl_seconds: int | None) -> None:
        """Switch: the lifetime of tokens issued to `user` from now on (None: the default)."""
        if user not in self.users:
            raise ValueError(f"unknown simulated user {user!r}")
        if ttl_seconds is not None and int(ttl_seconds) < 1:
            raise ValueError("the token lifetime must be at least 1 second")
        record = self.users[user]
        record["token_ttl_seconds"] = None if ttl_seconds is None else int(ttl_seconds)
        self.store.put("users", user, record)

    def login(self, user: str | None, api_key: str | None, now_s: int) -> str:
        record = self.users.get(user or "")
        if record is None:
            raise GatewayError(1, "User not found")
        if not api_key or not secrets.compare_digest(record["api_key"], api_key):
            raise GatewayError(3, "Invalid credentials")
        token, _ = tokens.encode(
            self.secret,
            user=record["name"],
            issued_at=now_s,
            ttl_seconds=record.get("token_ttl_seconds") or self.config.token_ttl_seconds,
        )
        return token

    def authenticate(self, token: str | None, now_s: int) -> tokens.Claims:
        """The claims of a live session token; NotAuthenticated otherwise (-> HTTP 401)."""
        try:
            claims = self.check_token(token, now_s)
        except (tokens.InvalidToken, GatewayError) as exc:
            raise NotAuthenticated(str(exc)) from None
        return claims

    def check_token(self, token: str | None, now_s: int) -> tokens.Claims:
        """Decode and check revocation/expiry; raises InvalidToken, TokenExpired, GatewayError."""
        claims = tokens.decode(self.secret, token or "", now=now_s)
        if claims.issued_at < self.tokens_not_before:
            raise tokens.TokenExpired(claims)
        if claims.session_id in self.revoked:
            raise GatewayError(2, "Session not found")
        if claims.user not in self.users:
            raise tokens.InvalidToken("unknown user")
        return claims

    def logout(self, claims: tokens.Claims) -> None:
        self.revoked.add(claims.session_id)
        self.store.put("sessions", claims.session_id, {"jti": claims.session_id})

    def expire_tokens(self, now_s: int) -> None:
        """Fault: every token issued so far is expired from now on."""
        self.tokens_not_before = now_s + 1
        self._save_meta()
