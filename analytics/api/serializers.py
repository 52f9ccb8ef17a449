"""The per-account P&L summary: one row per trading date and totals over the range."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from accounts.api.serializers import TradingDatesFilterSerializer
from markets.sessions import trading_date

MONEY = {"max_digits": 16, "decimal_places": 2}
DEFAULT_DAYS = 30
MAX_DAYS = 366


class SummaryFilterSerializer(TradingDatesFilterSerializer):
    """Defaults to the last 30 trading dates up to today; at most a year per request."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        date_to = attrs.get("date_to") or trading_date(timezone.now())
        date_from = attrs.get("date_from") or date_to - timedelta(days=DEFAULT_DAYS - 1)
        if date_from > date_to:
            raise serializers.ValidationError({"date_from": "must not be after date_to"})
        if (date_to - date_from).days >= MAX_DAYS:
            raise serializers.ValidationError({"date_from": f"at most {MAX_DAYS} days per request"})
        return {"date_from": date_from, "date_to": date_to}


class DayPnlSerializer(serializers.Serializer):
    session_date = serializers.DateField()
    start_balance_usd = serializers.DecimalField(
        source="day.start_balance_usd", allow_null=True, default=None, **MONEY
    )
    balance_usd = serializers.DecimalField(
        source="day.balance_usd", allow_null=True, default=None, **MONEY
    )
    realized_pnl_usd = serializers.DecimalField(
        source="day.realized_pnl_usd", allow_null=True, default=None, **MONEY
    )
    unrealized_pnl_usd = serializers.DecimalField(
        source="day.unrealized_pnl_usd", allow_null=True, default=None, **MONEY
    )
    fees_usd = serializers.DecimalField(
        source="day.fees_usd", allow_null=True, default=None, **MONEY
    )
    is_locked = serializers.BooleanField(source="day.is_locked", allow_null=True, default=None)
    net_pnl_usd = serializers.DecimalField(**MONEY)
    fill_count = serializers.IntegerField()
    fills_realized_pnl_usd = serializers.DecimalField(**MONEY)
    fills_fees_usd = serializers.DecimalField(**MONEY)


class TotalsSerializer(serializers.Serializer):
    net_pnl_usd = serializers.DecimalField(**MONEY)
    fill_count = serializers.IntegerField()
    trading_days = serializers.IntegerField()
    winning_days = serializers.IntegerField()
    losing_days = serializers.IntegerField()
    best_day_usd = serializers.DecimalField(allow_null=True, **MONEY)
    worst_day_usd = serializers.DecimalField(allow_null=True, **MONEY)
    best_day_share = serializers.DecimalField(
        max_digits=20,
        decimal_places=4,
        allow_null=True,
        help_text="Best day's share of the total profit (TopStep's consistency target); "
        "null unless the range made a profit.",
    )


class AccountSummarySerializer(serializers.Serializer):
    account = serializers.UUIDField()
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    days = DayPnlSerializer(many=True)
    totals = TotalsSerializer()
