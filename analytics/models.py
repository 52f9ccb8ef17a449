"""The trade journal's notes: what a trader wrote about a fill (the strategy manager's own reasons
are recorded by the engine and shown next to them)."""

from django.conf import settings
from django.db import models

from accounts.tenancy import TenantOwned


class JournalNote(TenantOwned):
    fill = models.ForeignKey("execution.Fill", on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField(max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwned.Meta):
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"Note on fill {self.fill_id}"
