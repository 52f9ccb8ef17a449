"""Alerts to tenants' Discord webhooks: fills, risk alerts, daily summaries and errors.

The platform calls one function, inside the transaction that records the fact:

    from notifications.services import notify
    notify(tenant_id=..., event="fill", title="Bought 2 ESZ6 @ 5012.25", body="...",
           fields={"Price": Decimal("5012.25"), "Size": 2}, account_id=..., dedupe_key=f"fill:{fill.pk}")

Everything else (preferences, queueing on "low", rate limits, retries, at-most-once posting) is
behind it; see services.py for the delivery guarantees and discord.py for the HTTP rules.
"""
