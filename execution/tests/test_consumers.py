"""Websockets: a member joins only their own tenant's account groups; nobody else's event arrives."""

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from execution.realtime import account_group
from execution.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)


def communicator(user, account_id: int) -> WebsocketCommunicator:
    app = URLRouter(websocket_urlpatterns)
    comm = WebsocketCommunicator(app, f"/ws/accounts/{account_id}/")
    comm.scope["user"] = user
    return comm


@pytest.fixture
def isolated_layer(settings):
    """The real Redis channel layer (the configured backend), under a prefix of this test's own."""
    import uuid

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": settings.CHANNEL_LAYERS["default"]["BACKEND"],
            "CONFIG": {"hosts": [settings.REDIS_URL], "prefix": f"test-{uuid.uuid4().hex[:8]}"},
        }
    }
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


async def test_member_receives_own_account_events(isolated_layer, alice, account_a):
    comm = communicator(alice, account_a.pk)
    connected, _ = await comm.connect()
    assert connected
    hello = await comm.receive_json_from()
    assert hello == {"type": "hello", "account": str(account_a.public_id)}
    await get_channel_layer().group_send(
        account_group(tenant_id=account_a.tenant_id, account_id=account_a.pk),
        {"type": "account.event", "payload": {"kind": "fill", "data": {"price": "5000.25"}}},
    )
    assert await comm.receive_json_from(timeout=2) == {"kind": "fill", "data": {"price": "5000.25"}}
    await comm.disconnect()


async def test_other_tenants_account_socket_is_refused(isolated_layer, alice, account_b):
    comm = communicator(alice, account_b.pk)
    connected, code = await comm.connect()
    assert not connected
    assert code == 4403


async def test_anonymous_socket_is_refused(isolated_layer, account_a):
    from django.contrib.auth.models import AnonymousUser

    connected, _ = await communicator(AnonymousUser(), account_a.pk).connect()
    assert not connected


async def test_no_cross_tenant_event_is_delivered(isolated_layer, alice, account_a, account_b):
    comm = communicator(alice, account_a.pk)
    assert (await comm.connect())[0]
    await comm.receive_json_from()
    await get_channel_layer().group_send(
        account_group(tenant_id=account_b.tenant_id, account_id=account_b.pk),
        {"type": "account.event", "payload": {"kind": "fill", "data": {"secret": "B"}}},
    )
    assert await comm.receive_nothing(timeout=0.5)
    await comm.disconnect()


async def test_published_event_arrives_after_commit(isolated_layer, alice, account_a):
    from execution.realtime import publish_account_event

    comm = communicator(alice, account_a.pk)
    assert (await comm.connect())[0]
    await comm.receive_json_from()
    await sync_to_async(publish_account_event)(
        tenant_id=account_a.tenant_id,
        account_id=account_a.pk,
        kind="order",
        data={"status": "working"},
    )
    assert await comm.receive_json_from(timeout=2) == {
        "kind": "order",
        "data": {"status": "working"},
    }
    await comm.disconnect()


# --- A removed member's sockets close -------------------------------------------------------------
@pytest.fixture
def tina(tenant_a, tenant_b):
    """A trader on both desks."""
    from accounts.models import Role
    from accounts.tests.factories import MembershipFactory, UserFactory

    user = UserFactory(username="tina")
    MembershipFactory(tenant=tenant_a, user=user, role=Role.TRADER)
    MembershipFactory(tenant=tenant_b, user=user, role=Role.TRADER)
    return user


async def _open(user, account) -> WebsocketCommunicator:
    comm = communicator(user, account.pk)
    connected, _ = await comm.connect()
    assert connected
    await comm.receive_json_from()  # hello
    return comm


def _remove(user, tenant, actor) -> None:
    from accounts import services
    from accounts.models import Membership

    membership = Membership.objects.for_tenant(tenant).get(user=user)
    services.membership_remove(tenant=tenant, membership=membership, actor=actor)


async def _push(account, data) -> None:
    await get_channel_layer().group_send(
        account_group(tenant_id=account.tenant_id, account_id=account.pk),
        {"type": "account.event", "payload": {"kind": "fill", "data": data}},
    )


async def test_removing_a_member_closes_their_sockets_on_that_desk_at_once(
    isolated_layer, alice, tina, account_a, account_b
):
    tinas_a, tinas_b, alices_a = (
        await _open(tina, account_a),
        await _open(tina, account_b),
        await _open(alice, account_a),
    )

    await sync_to_async(_remove)(tina, account_a.tenant, alice)

    assert await tinas_a.receive_output(timeout=2) == {"type": "websocket.close", "code": 4403}
    await _push(account_a, {"n": 1})
    await _push(account_b, {"n": 2})
    assert await alices_a.receive_json_from(timeout=2) == {"kind": "fill", "data": {"n": 1}}
    assert await tinas_b.receive_json_from(timeout=2) == {"kind": "fill", "data": {"n": 2}}
    for comm in (tinas_a, tinas_b, alices_a):
        await comm.disconnect()


async def test_a_removal_whose_message_was_lost_closes_the_socket_at_the_next_check(
    isolated_layer, tina, account_a, monkeypatch
):
    from accounts.models import Membership
    from execution.consumers import AccountConsumer

    monkeypatch.setattr(AccountConsumer, "RECHECK_SECONDS", 0.0)
    comm = await _open(tina, account_a)
    # Deleted behind the service's back: no close message is sent.
    await sync_to_async(
        lambda: Membership.objects.for_tenant(account_a.tenant).filter(user=tina).delete()
    )()

    await _push(account_a, {"secret": "A"})

    assert await comm.receive_output(timeout=2) == {"type": "websocket.close", "code": 4403}
    await comm.disconnect()


async def test_events_queued_behind_the_close_are_dropped(isolated_layer, alice, tina, account_a):
    comm = await _open(tina, account_a)

    await sync_to_async(_remove)(tina, account_a.tenant, alice)
    await _push(account_a, {"secret": "after removal"})

    assert await comm.receive_output(timeout=2) == {"type": "websocket.close", "code": 4403}
    assert await comm.receive_nothing(timeout=0.5)
    await comm.disconnect()
