"""The deliveries admin: staff see their tenants only, rows are read-only, re-send is audited."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.models import AuditEntry
from accounts.tests.factories import MembershipFactory, UserFactory
from notifications.models import DeliveryStatus, NotificationDelivery
from notifications.services import notify

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client_a(client, tenant_a):
    user = UserFactory(username="ops-a", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="notifications"))
    MembershipFactory(user=user, tenant=tenant_a)
    client.force_login(user)
    return client


def alert(tenant_id: int) -> int:
    [delivery_id] = notify(tenant_id=tenant_id, event="error", title="Hub down", body="", fields={})
    return delivery_id


def test_changelist_shows_only_own_tenants_deliveries(
    staff_client_a, make_channel, receiver, tenant_a, tenant_b
):
    make_channel(tenant_a, receiver.webhook_url(1, "a"), ["error"])
    make_channel(tenant_b, receiver.webhook_url(2, "b"), ["error"])
    own, other = alert(tenant_a.pk), alert(tenant_b.pk)

    response = staff_client_a.get(reverse("admin:notifications_notificationdelivery_changelist"))

    assert response.status_code == 200
    assert {d.pk for d in response.context["cl"].queryset} == {own}
    assert other not in {d.pk for d in response.context["cl"].queryset}
    change = reverse("admin:notifications_notificationdelivery_change", args=[own])
    assert staff_client_a.post(change, {"status": "sent"}).status_code == 403


def test_resend_action_requeues_uncertain_rows_and_refuses_sent_ones(
    staff_client_a, make_channel, receiver, tenant_a, django_capture_on_commit_callbacks
):
    make_channel(tenant_a, receiver.webhook_url(), ["error"])
    uncertain, sent = alert(tenant_a.pk), alert(tenant_a.pk)
    rows = NotificationDelivery.all_tenants
    rows.filter(pk=uncertain).update(status=DeliveryStatus.UNCERTAIN)
    rows.filter(pk=sent).update(status=DeliveryStatus.SENT)

    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_client_a.post(
            reverse("admin:notifications_notificationdelivery_changelist"),
            {"action": "resend", "_selected_action": [uncertain, sent]},
            follow=True,
        )

    texts = [str(m) for m in response.context["messages"]]
    assert "1 deliveries queued again." in texts
    assert f"#{sent}: only failed or uncertain deliveries can be re-sent; this one is sent" in texts
    assert rows.get(pk=uncertain).status == DeliveryStatus.PENDING
    assert rows.get(pk=sent).status == DeliveryStatus.SENT
    assert len(callbacks) == 1
    entry = AuditEntry.objects.for_tenant(tenant_a).get(action="notification_delivery.requeue")
    assert entry.actor_label == "ops-a"
    assert entry.object_id == str(uncertain)
