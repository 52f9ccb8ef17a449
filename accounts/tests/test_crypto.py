import pytest
from cryptography.fernet import Fernet
from django.db import connection

from accounts import services
from accounts.crypto import SecretUnreadable, decrypt_secret, encrypt_secret, rotate_secret
from accounts.models import AuditEntry, BrokerConnection


def test_secret_round_trips_and_is_not_stored_in_clear(tenant_a, alice):
    conn = services.broker_connection_create(
        tenant=tenant_a, actor=alice, name="Main", username="trader1", api_key="px-super-secret-key"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT api_key_encrypted FROM accounts_brokerconnection WHERE id = %s", [conn.pk]
        )
        (stored,) = cursor.fetchone()
    assert "px-super-secret-key" not in stored
    assert services.broker_connection_api_key(connection=conn) == "px-super-secret-key"


def test_key_rotation_keeps_old_secrets_readable(settings):
    old_key = settings.BROKER_CREDENTIALS_KEYS[0]
    token = encrypt_secret("abc")
    new_key = Fernet.generate_key().decode()
    settings.BROKER_CREDENTIALS_KEYS = [new_key, old_key]
    assert decrypt_secret(token) == "abc"
    rotated = rotate_secret(token)
    settings.BROKER_CREDENTIALS_KEYS = [new_key]
    assert decrypt_secret(rotated) == "abc"
    with pytest.raises(SecretUnreadable):
        decrypt_secret(token)


def test_empty_secret_is_refused():
    with pytest.raises(ValueError, match="empty secret"):
        encrypt_secret("")


def test_audit_of_connection_never_contains_the_key(tenant_a, alice):
    conn = services.broker_connection_create(
        tenant=tenant_a, actor=alice, name="Main", username="trader1", api_key="px-super-secret-key"
    )
    entry = AuditEntry.objects.for_tenant(tenant_a).get(action="broker_connection.create")
    assert "api_key_encrypted" not in entry.after
    assert "px-super-secret-key" not in str(entry.after)
    assert BrokerConnection.objects.for_tenant(tenant_a).get() == conn


def test_rotate_credentials_command_moves_every_secret_to_the_newest_key(settings, tenant_a, alice):
    from io import StringIO

    from django.core.management import CommandError, call_command

    conn = services.broker_connection_create(
        tenant=tenant_a, actor=alice, name="Main", username="u", api_key="px-key-1"
    )
    old_key = settings.BROKER_CREDENTIALS_KEYS[0]
    settings.BROKER_CREDENTIALS_KEYS = [Fernet.generate_key().decode(), old_key]
    out = StringIO()
    call_command("rotate_credentials", stdout=out)
    assert "BrokerConnection: 1 re-encrypted" in out.getvalue()
    settings.BROKER_CREDENTIALS_KEYS = settings.BROKER_CREDENTIALS_KEYS[:1]  # the old key dropped
    conn.refresh_from_db()
    assert services.broker_connection_api_key(connection=conn) == "px-key-1"
    settings.BROKER_CREDENTIALS_KEYS = [Fernet.generate_key().decode()]  # a key that reads nothing
    with pytest.raises(CommandError, match=f"BrokerConnection {conn.pk}"):
        call_command("rotate_credentials", stdout=StringIO())
