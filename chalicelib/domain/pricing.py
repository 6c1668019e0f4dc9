"""Rate cards and the pricing of one usage event, in exact micro-units."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from .categories import USAGE_CATEGORIES, Category
from .money import MAX_ABS_MICROS, MoneyError, format_micros, multiply_micros, parse_micros, within_ledger_range
from .text import text_problem


@dataclass(frozen=True)
class Rate:
    category: Category
    unit: str
    unit_price_micros: int


# Defaults when configuration does not say otherwise: $0.0125 a minute, $0.0079 a
# text, $1.00 a number a month, $30.00 a subscription period.
DEFAULT_RATES: dict[Category, Rate] = {
    Category.CALL_MINUTES: Rate(Category.CALL_MINUTES, "minute", 12_500),
    Category.TEXT_MESSAGES: Rate(Category.TEXT_MESSAGES, "message", 7_900),
    Category.NUMBER_RENEWALS: Rate(Category.NUMBER_RENEWALS, "number", 1_000_000),
    Category.SUBSCRIPTION_FEES: Rate(Category.SUBSCRIPTION_FEES, "subscription", 30_000_000),
}

# Credits and adjustments are counted in items, never priced by the card.
NON_USAGE_UNIT = "item"
MAX_UNIT_PRICE_MICROS = 1_000_000 * 1_000_000


class RateCardError(ValueError):
    pass


class PriceOutOfRange(RateCardError):
    """quantity x unit price is more than one ledger entry may hold (MAX_ABS_MICROS)."""


def parse_rate_overrides(raw: Mapping[str, object]) -> dict[Category, Rate]:
    """Validate `{category: {"unit_price": "0.0125", "unit": "minute"}}` into Rates."""
    rates: dict[Category, Rate] = {}
    for name, spec in raw.items():
        try:
            category = Category(name)
        except ValueError:
            raise RateCardError(f"rates.{name}: unknown category") from None
        if category not in USAGE_CATEGORIES:
            raise RateCardError(f"rates.{name}: only usage categories have a rate")
        if not isinstance(spec, Mapping):
            raise RateCardError(f"rates.{name}: must be an object with unit_price")
        unknown = set(spec) - {"unit_price", "unit"}
        if unknown:
            raise RateCardError(f"rates.{name}: unknown field {sorted(unknown)[0]}")
        if "unit_price" not in spec:
            raise RateCardError(f"rates.{name}.unit_price: required")
        try:
            price = parse_micros(spec["unit_price"], field=f"rates.{name}.unit_price")
        except MoneyError as exc:
            raise RateCardError(str(exc)) from None
        if price < 0 or price > MAX_UNIT_PRICE_MICROS:
            raise RateCardError(f"rates.{name}.unit_price: must be between 0 and 1000000")
        unit = spec.get("unit", DEFAULT_RATES[category].unit)
        if not isinstance(unit, str) or not (1 <= len(unit) <= 32):
            raise RateCardError(f"rates.{name}.unit: must be a short text")
        problem = text_problem(unit)
        if problem is not None:
            raise RateCardError(f"rates.{name}.unit: {problem}")
        rates[category] = Rate(category, unit, price)
    return rates


def default_rates(config_json: str | None) -> dict[Category, Rate]:
    """Built-in defaults, overridden by the BILLING_DEFAULT_RATES configuration."""
    rates = dict(DEFAULT_RATES)
    if config_json:
        rates.update(parse_rate_overrides(json.loads(config_json, parse_float=Decimal)))
    return rates


@dataclass(frozen=True)
class RateCard:
    """The effective prices of one account: defaults with its overrides on top."""

    rates: Mapping[Category, Rate]

    @classmethod
    def build(cls, defaults: Mapping[Category, Rate], overrides: Mapping[Category, Rate]) -> RateCard:
        return cls({**defaults, **overrides})

    def rate_for(self, category: Category) -> Rate:
        try:
            return self.rates[category]
        except KeyError:
            raise RateCardError(f"no rate for {category.value}") from None


@dataclass(frozen=True)
class Price:
    unit: str
    unit_price_micros: int | None
    amount_micros: int  # signed from the balance's side: charges negative


def price_event(
    category: Category,
    quantity: Decimal,
    rate_card: RateCard,
    *,
    unit_price_micros: int | None = None,
    amount_micros: int | None = None,
) -> Price:
    """Price one event. Usage is a debit; recharge a credit; adjustment carries its sign.

    For usage an explicit `amount` (the positive price of a one-off item) wins over
    an explicit `unit_price`, which wins over the rate card.
    """
    if category.is_usage:
        rate = rate_card.rates.get(category)
        unit = rate.unit if rate else "item"
        if amount_micros is not None:
            return Price(unit, None, -amount_micros)  # priced as a whole: no per-unit price to check
        if unit_price_micros is None:
            if rate is None:
                raise RateCardError(f"no rate for {category.value}")
            unit_price_micros = rate.unit_price_micros
        return _in_range(Price(unit, unit_price_micros, -multiply_micros(quantity, unit_price_micros)), quantity)
    if amount_micros is None:
        raise RateCardError(f"{category.value} needs an amount")
    return _in_range(Price(NON_USAGE_UNIT, None, amount_micros), quantity)


def _in_range(price: Price, quantity: Decimal) -> Price:
    if not within_ledger_range(price.amount_micros):
        per_unit = price.unit_price_micros
        unit_price = "" if per_unit is None else f" x unit price {format_micros(per_unit)}"
        raise PriceOutOfRange(
            f"quantity: {quantity:f}{unit_price} = {format_micros(abs(price.amount_micros))}, more than "
            f"the ledger's limit of {format_micros(MAX_ABS_MICROS)} for one entry"
        )
    return price
