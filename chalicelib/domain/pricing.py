"""Rate cards and the pricing of one usage event, in exact micro-units.

Prices are per currency and never converted: an account is priced in its own
currency, by the one rule of `RateCard.resolve`: the account's override, else its
agency's override (in that currency), else the default card of that currency
(built in, or from BILLING_DEFAULT_RATES). A category no card prices in a currency
is refused by `price_event` (RateCardError naming the currency), never priced from
another currency's card.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

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

DEFAULT_CURRENCY = "USD"
# The built-in default card of each currency (only USD: another currency is priced once
# configuration gives it a card, or an account or agency an override).
BUILT_IN_CARDS: Mapping[str, Mapping[Category, Rate]] = {DEFAULT_CURRENCY: DEFAULT_RATES}
_CURRENCY = re.compile(r"[A-Z]{3}")

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


def is_currency_code(value: object) -> bool:
    """Three capital letters (ISO 4217's shape), as accounts spell their currency."""
    return isinstance(value, str) and _CURRENCY.fullmatch(value) is not None


def parse_default_cards(config_json: str | None) -> dict[str, dict[Category, Rate]]:
    """The default card of every currency: the built-in cards, with BILLING_DEFAULT_RATES on top.

    The configuration is `{"USD": {"call_minutes": {"unit_price": "0.0125"}, ...}, "EUR": {...}}`:
    each currency's categories replace the built-in ones of that currency (a currency without
    a built-in card has only the categories given). The older form, one card
    `{"call_minutes": {...}}`, is the USD card.
    """
    cards = {currency: dict(card) for currency, card in BUILT_IN_CARDS.items()}
    if not config_json:
        return cards
    raw = json.loads(config_json, parse_float=Decimal)
    if not isinstance(raw, dict):
        raise RateCardError("BILLING_DEFAULT_RATES: must be a JSON object of currencies")
    category_names = {c.value for c in Category}
    if raw and all(key in category_names for key in raw):
        raw = {DEFAULT_CURRENCY: raw}
    for currency, card in raw.items():
        if not is_currency_code(currency):
            raise RateCardError(f"BILLING_DEFAULT_RATES: {currency!r} is not a currency code (like USD)")
        if not isinstance(card, Mapping):
            raise RateCardError(f"BILLING_DEFAULT_RATES.{currency}: must be an object of categories")
        cards[currency] = {**cards.get(currency, {}), **parse_rate_overrides(card)}
    return cards


def default_rates(config_json: str | None, currency: str = DEFAULT_CURRENCY) -> dict[Category, Rate]:
    """The default card of one currency (empty when there is none)."""
    return parse_default_cards(config_json).get(currency, {})


class RateSource(StrEnum):
    """Where an account's rate comes from."""

    ACCOUNT = "account"  # the account's own override
    AGENCY = "agency"  # its agency's override, for its sub-accounts
    DEFAULT = "default"  # the default card of the currency


@dataclass(frozen=True)
class RateCard:
    """The effective prices of one account, in one currency, and where each comes from."""

    rates: Mapping[Category, Rate]
    currency: str = DEFAULT_CURRENCY
    sources: Mapping[Category, RateSource] = field(default_factory=dict)

    @classmethod
    def build(
        cls, defaults: Mapping[Category, Rate], overrides: Mapping[Category, Rate], currency: str = DEFAULT_CURRENCY
    ) -> RateCard:
        return cls.resolve(currency, defaults, {}, overrides)

    @classmethod
    def resolve(
        cls,
        currency: str,
        defaults: Mapping[Category, Rate],
        agency_overrides: Mapping[Category, Rate],
        account_overrides: Mapping[Category, Rate],
    ) -> RateCard:
        """The one rule: account override -> agency override -> default, all in `currency`."""
        rates: dict[Category, Rate] = {}
        sources: dict[Category, RateSource] = {}
        for tier, source in (
            (defaults, RateSource.DEFAULT),
            (agency_overrides, RateSource.AGENCY),
            (account_overrides, RateSource.ACCOUNT),
        ):
            for category, rate in tier.items():
                rates[category] = rate
                sources[category] = source
        return cls(rates, currency, sources)

    def source_of(self, category: Category) -> RateSource:
        return self.sources.get(category, RateSource.DEFAULT)

    def unpriced(self) -> list[Category]:
        """Usage categories no card prices in this currency: their events are refused."""
        return sorted(USAGE_CATEGORIES - set(self.rates), key=lambda c: c.value)

    def missing(self, category: Category) -> RateCardError:
        return RateCardError(
            f"no {self.currency} rate for {category.value}: there is no default {self.currency} card "
            f"for it and no override for the account or its agency"
        )

    def rate_for(self, category: Category) -> Rate:
        try:
            return self.rates[category]
        except KeyError:
            raise self.missing(category) from None


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
                raise rate_card.missing(category)
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
