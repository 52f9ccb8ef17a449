"""Property: whatever the order of refreshes, replays, revocations and password changes, a sign-in's
tokens work exactly while the model says it is live, and only its newest refresh token refreshes."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from accounts.tests.factories import UserFactory
from apiauth import services
from apiauth.authentication import AccessTokenAuthentication


def authenticates(access: str) -> bool:
    request = Request(APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {access}"))
    try:
        return AccessTokenAuthentication().authenticate(request) is not None
    except AuthenticationFailed:
        return False


class SignIn(RuleBasedStateMachine):
    """One sign-in; `refreshes` holds every refresh token it was given, newest last."""

    @initialize()
    def sign_in(self) -> None:
        self.user = UserFactory(username=f"u-{uuid.uuid4().hex[:12]}")
        _, pair = services.api_token_issue(user=self.user)
        self.sid = pair.sid
        self.refreshes, self.access = [pair.refresh], pair.access
        self.live = True

    @rule()
    def refresh_with_the_newest(self) -> None:
        try:
            pair = services.api_token_refresh(raw_refresh=self.refreshes[-1])
        except services.TokenRefused:
            assert not self.live
            return
        assert self.live
        self.refreshes.append(pair.refresh)
        self.access = pair.access

    @precondition(lambda self: len(self.refreshes) > 1)
    @rule(data=st.data())
    def replay_an_old_refresh_token(self, data: st.DataObject) -> None:
        old = data.draw(st.sampled_from(self.refreshes[:-1]))
        with pytest.raises(services.TokenRefused):
            services.api_token_refresh(raw_refresh=old)
        self.live = False  # a reuse ends the sign-in for everyone holding it

    @rule()
    def revoke(self) -> None:
        assert services.api_token_revoke(user=self.user, public_id=uuid.UUID(self.sid)) == self.live
        self.live = False

    @rule()
    def change_password(self) -> None:
        self.user.set_password(uuid.uuid4().hex)
        self.user.save()
        self.live = False

    @invariant()
    def access_works_exactly_while_live(self) -> None:
        if hasattr(self, "access"):
            assert authenticates(self.access) == self.live


@pytest.mark.django_db
def test_sign_in_state_machine() -> None:
    SignIn.TestCase.settings = settings(
        max_examples=25,
        stateful_step_count=8,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    SignIn.TestCase().runTest()
