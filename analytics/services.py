"""Writes for analytics: notes on the trade journal."""

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Tenant
from accounts.services import audit_record, snapshot
from analytics.models import JournalNote
from execution.models import Fill


@transaction.atomic
def journal_note_add(
    *, tenant: Tenant, fill: Fill, author: AbstractBaseUser | None, text: str
) -> JournalNote:
    fill.require_tenant(tenant)
    text = text.strip()
    if not text:
        raise ValidationError({"text": "Write something first."})
    note = JournalNote(tenant=tenant, fill=fill, author=author, text=text[:2000])
    note.save()
    audit_record(
        tenant=tenant, actor=author, action="journal.note_add", target=note, after=snapshot(note)
    )
    return note
