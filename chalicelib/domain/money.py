"""Money as integer micro-units (1/1,000,000 of the currency unit).

Floats never enter: amounts arrive as decimal strings (or ints, or Decimals that
the JSON parser produced with ``parse_float=Decimal``), are converted exactly,
and leave as decimal strings.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MICROS_PER_UNIT = 1_000_000
_CENT = Decimal("0.01")
# Plain decimal notation only: no exponent, no NaN/Infinity, no thousands separators.
_DECIMAL_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
# Ten billion units is far beyond any real charge and keeps values well within
# DynamoDB's 38-digit numbers even after summing millions of entries.
MAX_ABS_MICROS = 10_000_000_000 * MICROS_PER_UNIT


class MoneyError(ValueError):
    """A value that cannot be an amount of money or a quantity."""


def to_decimal(value: object, *, field: str = "amount") -> Decimal:
    """Exact Decimal from a decimal string, an int or a Decimal; never from a float."""
    if isinstance(value, (bool, float)):
        raise MoneyError(f"{field} must be a decimal string, not a binary float")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise MoneyError(f"{field} must be a finite number")
        return value
    if isinstance(value, str):
        text = value.strip()
        if not _DECIMAL_RE.match(text):
            raise MoneyError(f'{field} must be a decimal number such as "12.50", got {value!r}')
        try:
            return Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid text
            raise MoneyError(f"{field} is not a number: {value!r}") from exc
    raise MoneyError(f"{field} must be a decimal string")


def parse_micros(value: object, *, field: str = "amount") -> int:
    """Parse an amount that must be exact to the micro-unit (no rounding allowed)."""
    dec = to_decimal(value, field=field)
    scaled = dec * MICROS_PER_UNIT
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{field} has more than 6 decimal places: {value!r}")
    micros = int(scaled)
    if abs(micros) > MAX_ABS_MICROS:
        raise MoneyError(f"{field} is too large")
    return micros


def multiply_micros(quantity: Decimal, unit_price_micros: int) -> int:
    """quantity times unit price, rounded half-up (away from zero on .5) to a micro-unit."""
    product = quantity * unit_price_micros
    return int(product.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_micros(micros: int) -> str:
    """Decimal string with at least two and at most six decimals: 12.50, 0.0125, -3.00."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), MICROS_PER_UNIT)
    frac_text = f"{frac:06d}".rstrip("0")
    if len(frac_text) < 2:
        frac_text = frac_text.ljust(2, "0")
    return f"{sign}{whole}.{frac_text}"


def format_cents(micros: int) -> str:
    """Display to the cent (half-up), as statements and receipts show money."""
    dec = (Decimal(micros) / MICROS_PER_UNIT).quantize(_CENT, rounding=ROUND_HALF_UP)
    return f"{dec:.2f}"


def format_quantity_micros(quantity_micros: int) -> str:
    """A quantity held in micro-units as text without needless zeros: 3, 1.5."""
    whole, frac = divmod(abs(quantity_micros), MICROS_PER_UNIT)
    sign = "-" if quantity_micros < 0 else ""
    return f"{sign}{whole}" if frac == 0 else f"{sign}{whole}.{f'{frac:06d}'.rstrip('0')}"


def percent(part: int, whole: int) -> str | None:
    """part / whole as a percentage with two decimals (exact, half-up); None when whole is 0."""
    if whole == 0:
        return None
    value = (Decimal(part) * 100 / Decimal(whole)).quantize(_CENT, rounding=ROUND_HALF_UP)
    return f"{value:.2f}"
