"""Money and sign formatting for the pages (exact Decimals in, text out; never through float)."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template

register = template.Library()
CENT = Decimal("0.01")


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


@register.filter
def usd(value: object) -> str:
    """50000 -> "$50,000.00"; -12.5 -> "-$12.50"; None -> "—"."""
    amount = _decimal(value)
    if amount is None:
        return "—"
    amount = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


@register.filter
def signed_usd(value: object) -> str:
    """Like usd, with an explicit "+" for gains (P&L figures)."""
    amount = _decimal(value)
    if amount is None:
        return "—"
    text = usd(amount)
    return f"+{text}" if amount.quantize(CENT) > 0 else text


@register.filter
def pnl_class(value: object) -> str:
    amount = _decimal(value)
    if amount is None or amount == 0:
        return ""
    return "up" if amount > 0 else "down"


@register.filter
def price(value: object) -> str:
    """A price without the storage's trailing zeros: 5000.250000000 -> "5000.25", 4563 -> "4563.00"."""
    amount = _decimal(value)
    if amount is None:
        return "—"
    amount = amount.normalize()
    if amount.as_tuple().exponent > -2:  # keep cents-style precision: 4563 -> "4563.00"
        amount = amount.quantize(CENT)
    return f"{amount:f}"
