"""`manage.py rotate_credentials`: re-encrypt every stored secret under the newest key.

Rotation: prepend a new Fernet key to BROKER_CREDENTIALS_KEYS, deploy, run this, then drop the old key.
Idempotent; a secret no configured key can read is reported by id and left as it is.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.crypto import SecretUnreadable, rotate_secret
from accounts.models import BrokerConnection, NotificationChannel

# model -> its encrypted field (fleet-wide on purpose: the key is the platform's, not a tenant's)
SECRETS = ((BrokerConnection, "api_key_encrypted"), (NotificationChannel, "url_encrypted"))


class Command(BaseCommand):
    help = (
        "Re-encrypt broker API keys and webhook URLs under the newest BROKER_CREDENTIALS_KEYS key."
    )

    def handle(self, *args, **options) -> None:
        unreadable = []
        for model, field in SECRETS:
            rotated = 0
            for row in model.all_tenants.only("pk", field).iterator():
                try:
                    token = rotate_secret(getattr(row, field))
                except SecretUnreadable:
                    unreadable.append(f"{model.__name__} {row.pk}")
                    continue
                with transaction.atomic():
                    model.all_tenants.filter(pk=row.pk).update(**{field: token})
                rotated += 1
            self.stdout.write(f"{model.__name__}: {rotated} re-encrypted")
        if unreadable:
            raise CommandError(
                f"no configured key reads: {', '.join(unreadable)} (keep the old key)"
            )
