"""Money as integer micro-units (1/1,000,000 of the currency unit).

Floats never enter: amounts arrive as decimal strings (or ints, or Decimals that
the JSON parser produced with ``parse_float=Decimal``), are converted exactly,
and leave as decimal strings.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction

MICROS_PER_UNIT = 1_000_000
MAX_DECIMALS = 6
_CENT = Decimal("0.01")
# Plain decimal notation in ASCII digits only: no exponent, no NaN/Infinity, no
# thousands separators, and no other script's digits (Arabic-Indic, fullwidth ...),
# which Python's `\d` and Decimal() would both read as numbers.
_DECIMAL_RE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)", re.ASCII)
# Longer text is refused before it is read: no amount or quantity needs it.
MAX_DECIMAL_TEXT = 40
# Ten billion units is far beyond any real charge and keeps values well within
# DynamoDB's 38-digit numbers even after summing millions of entries.
MAX_ABS_MICROS = 10_000_000_000 * MICROS_PER_UNIT
# Every value is checked against this before any arithmetic touches it, so a JSON
# number such as 1e1000000 is refused instead of overflowing Decimal's context.
MAX_INTEGER_DIGITS = 16


class MoneyError(ValueError):
    """A value that cannot be an amount of money or a quantity."""


def to_decimal(value: object, *, field: str = "amount") -> Decimal:
    """Exact Decimal from a decimal string, an int or a Decimal; never from a float.

    The result is bounded (at most MAX_INTEGER_DIGITS digits before the point and
    MAX_DECIMALS after it, trailing zeros aside), so arithmetic on it is exact.
    """
    if isinstance(value, bool):
        raise MoneyError(f"{field} must be a decimal string, not true or false")
    if isinstance(value, float):
        raise MoneyError(f"{field} must be a decimal string, not a binary float")
    if isinstance(value, int):
        if abs(value) >= 10**MAX_INTEGER_DIGITS:
            raise MoneyError(f"{field} is too large: at most {MAX_INTEGER_DIGITS} digits before the decimal point")
        return Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise MoneyError(f"{field} must be a finite number")
        return _bounded(value, field)
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_DECIMAL_TEXT:
            raise MoneyError(f"{field} is too long to be an amount ({len(text)} characters)")
        if not _DECIMAL_RE.fullmatch(text):
            raise MoneyError(f'{field} must be a decimal number such as "12.50" (ASCII digits), got {value!r}')
        try:
            return _bounded(Decimal(text), field)
        except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid text
            raise MoneyError(f"{field} is not a number: {value!r}") from exc
    raise MoneyError(f"{field} must be a decimal string")


def _bounded(dec: Decimal, field: str) -> Decimal:
    """`dec` in plain notation without trailing decimal zeros, or MoneyError when out of bounds.

    Only the digits and the exponent are looked at: no arithmetic, so nothing overflows.
    """
    sign, digits, exponent = dec.as_tuple()
    assert isinstance(exponent, int)  # finite
    significant = len(digits)
    while significant > 1 and digits[significant - 1] == 0:
        significant -= 1
    exponent += len(digits) - significant
    if significant == 1 and digits[0] == 0:
        return Decimal(0)
    if exponent < -MAX_DECIMALS:
        raise MoneyError(f"{field} has more than {MAX_DECIMALS} decimal places")
    if significant + exponent > MAX_INTEGER_DIGITS:
        raise MoneyError(f"{field} is too large: at most {MAX_INTEGER_DIGITS} digits before the decimal point")
    if exponent > 0:  # 1.5E+3 as 1500: plain notation wherever the value is printed
        return Decimal((sign, digits[:significant] + (0,) * exponent, 0))
    return Decimal((sign, digits[:significant], exponent))


def _to_micros(dec: Decimal) -> int:
    """A bounded Decimal (at most MAX_DECIMALS places) in micro-units, by integer arithmetic."""
    sign, digits, exponent = dec.as_tuple()
    assert isinstance(exponent, int) and exponent >= -MAX_DECIMALS
    coefficient = int("".join(map(str, digits))) if digits else 0
    micros: int = coefficient * 10 ** (exponent + MAX_DECIMALS)
    return -micros if sign else micros


def parse_micros(value: object, *, field: str = "amount") -> int:
    """Parse an amount that must be exact to the micro-unit (no rounding allowed)."""
    micros = _to_micros(to_decimal(value, field=field))
    if abs(micros) > MAX_ABS_MICROS:
        raise MoneyError(f"{field} is too large: at most {format_micros(MAX_ABS_MICROS)}")
    return micros


def multiply_micros(quantity: Decimal, unit_price_micros: int) -> int:
    """quantity times unit price, rounded half-up (away from zero on .5) to a micro-unit.

    Exact whatever the sizes: rational arithmetic, not Decimal's 28-digit context.
    """
    product = Fraction(quantity) * unit_price_micros
    whole, rest = divmod(abs(product.numerator), product.denominator)
    if 2 * rest >= product.denominator:
        whole += 1
    return -whole if product < 0 else whole


def within_ledger_range(micros: int) -> bool:
    """Whether an amount fits the ledger (|amount| <= MAX_ABS_MICROS)."""
    return abs(micros) <= MAX_ABS_MICROS


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
