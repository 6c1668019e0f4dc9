from decimal import Decimal

import pytest

from chalicelib.domain.categories import Category
from chalicelib.domain.money import MAX_ABS_MICROS
from chalicelib.domain.pricing import (
    DEFAULT_RATES,
    PriceOutOfRange,
    Rate,
    RateCard,
    RateCardError,
    RateSource,
    default_rates,
    parse_default_cards,
    parse_rate_overrides,
    price_event,
)

CARD = RateCard.build(DEFAULT_RATES, {})


def test_usage_is_a_debit_priced_by_the_rate_card():
    price = price_event(Category.CALL_MINUTES, Decimal("3"), CARD)
    assert (price.unit, price.unit_price_micros, price.amount_micros) == ("minute", 12_500, -37_500)


def test_explicit_unit_price_wins_over_the_card():
    price = price_event(Category.TEXT_MESSAGES, Decimal("2"), CARD, unit_price_micros=10_000)
    assert price.amount_micros == -20_000


def test_explicit_amount_is_the_positive_price_of_a_one_off_item():
    price = price_event(Category.SUBSCRIPTION_FEES, Decimal("1"), CARD, amount_micros=49_000_000)
    assert price.amount_micros == -49_000_000


def test_recharge_credits_and_adjustment_keeps_its_sign():
    assert price_event(Category.RECHARGE, Decimal(1), CARD, amount_micros=25_000_000).amount_micros == 25_000_000
    assert price_event(Category.ADJUSTMENT, Decimal(1), CARD, amount_micros=-2_000_000).amount_micros == -2_000_000
    with pytest.raises(RateCardError):
        price_event(Category.RECHARGE, Decimal(1), CARD)


def test_account_overrides_replace_defaults_per_category():
    overrides = parse_rate_overrides({"call_minutes": {"unit_price": "0.02"}})
    card = RateCard.build(DEFAULT_RATES, overrides)
    assert card.rate_for(Category.CALL_MINUTES) == Rate(Category.CALL_MINUTES, "minute", 20_000)
    assert card.rate_for(Category.TEXT_MESSAGES) == DEFAULT_RATES[Category.TEXT_MESSAGES]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"bogus": {"unit_price": "1"}}, "unknown category"),
        ({"recharge": {"unit_price": "1"}}, "only usage"),
        ({"call_minutes": {"unit_price": "-1"}}, "between"),
        ({"call_minutes": {"unit_price": 0.1}}, "float"),
        ({"call_minutes": {}}, "required"),
        ({"call_minutes": {"unit_price": "1", "x": 1}}, "unknown field"),
        ({"call_minutes": "1"}, "object"),
    ],
)
def test_bad_overrides_name_the_problem(raw, message):
    with pytest.raises(RateCardError, match=message):
        parse_rate_overrides(raw)


def test_configured_defaults_override_built_ins():
    rates = default_rates('{"text_messages": {"unit_price": "0.01"}}')
    assert rates[Category.TEXT_MESSAGES].unit_price_micros == 10_000
    assert rates[Category.CALL_MINUTES] == DEFAULT_RATES[Category.CALL_MINUTES]


def test_a_price_over_the_ledger_range_is_refused_not_written():
    # quantity 1e9 x unit price 1e10 used to price an entry of -1e25 micros.
    with pytest.raises(PriceOutOfRange, match=r"quantity: 1000000000 x unit price 10000000000\.00"):
        price_event(Category.CALL_MINUTES, Decimal(10**9), CARD, unit_price_micros=10**16)
    with pytest.raises(PriceOutOfRange, match="more than the ledger's limit"):
        price_event(Category.SUBSCRIPTION_FEES, Decimal(10**9), CARD)  # 1e9 x the card's 30.00
    assert issubclass(PriceOutOfRange, RateCardError)  # the writer dead-letters it with its reason


def test_a_price_at_the_ledger_limit_is_accepted():
    price = price_event(Category.CALL_MINUTES, Decimal(10**6), CARD, unit_price_micros=10**10)
    assert price.amount_micros == -MAX_ABS_MICROS


@pytest.mark.parametrize("unit", ["min\nute", "min\rute", "\x00", "min\u2028ute"])
def test_a_rate_unit_with_control_characters_is_refused(unit):
    with pytest.raises(RateCardError, match="unit: must not contain"):
        parse_rate_overrides({"call_minutes": {"unit_price": "0.01", "unit": unit}})


@pytest.mark.parametrize("price", ["\u0663", Decimal("1e1000000"), "1e1000000"])
def test_a_rate_unit_price_out_of_bounds_is_a_rate_card_error(price):
    with pytest.raises(RateCardError, match="unit_price"):
        parse_rate_overrides({"call_minutes": {"unit_price": price}})


# -- cards per currency, and the one rule ---------------------------------------------------------
def test_default_cards_are_per_currency():
    cards = parse_default_cards(
        '{"USD": {"text_messages": {"unit_price": "0.01"}}, "EUR": {"call_minutes": {"unit_price": "0.011"}}}'
    )
    assert cards["USD"][Category.TEXT_MESSAGES].unit_price_micros == 10_000
    assert cards["USD"][Category.CALL_MINUTES] == DEFAULT_RATES[Category.CALL_MINUTES]  # built in, kept
    # A currency without a built-in card has only what configuration gives it: never USD's prices.
    assert cards["EUR"] == {Category.CALL_MINUTES: Rate(Category.CALL_MINUTES, "minute", 11_000)}
    assert "GBP" not in cards
    assert parse_default_cards(None) == {"USD": DEFAULT_RATES}
    # The older one-card form is the USD card.
    assert default_rates('{"text_messages": {"unit_price": "0.01"}}', "EUR") == {}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('["USD"]', "JSON object"),
        ('{"usd": {}}', "not a currency code"),
        ('{"EUR": "0.01"}', "object of categories"),
        ('{"EUR": {"fax": {"unit_price": "1"}}}', "unknown category"),
    ],
)
def test_bad_default_cards_name_the_problem(config, message):
    with pytest.raises(RateCardError, match=message):
        parse_default_cards(config)


def test_account_then_agency_then_default_each_says_its_source():
    defaults = {c: DEFAULT_RATES[c] for c in (Category.CALL_MINUTES, Category.TEXT_MESSAGES, Category.NUMBER_RENEWALS)}
    agency = parse_rate_overrides({"call_minutes": {"unit_price": "0.01"}, "text_messages": {"unit_price": "0.005"}})
    account = parse_rate_overrides({"call_minutes": {"unit_price": "0.02"}})
    card = RateCard.resolve("USD", defaults, agency, account)
    assert card.rate_for(Category.CALL_MINUTES).unit_price_micros == 20_000
    assert card.rate_for(Category.TEXT_MESSAGES).unit_price_micros == 5_000
    assert [card.source_of(c) for c in (Category.CALL_MINUTES, Category.TEXT_MESSAGES, Category.NUMBER_RENEWALS)] == [
        RateSource.ACCOUNT,
        RateSource.AGENCY,
        RateSource.DEFAULT,
    ]
    assert card.unpriced() == [Category.SUBSCRIPTION_FEES]


def test_an_unpriced_category_is_refused_naming_the_currency():
    card = RateCard.resolve("GBP", {}, {}, {})
    with pytest.raises(RateCardError, match="no GBP rate for call_minutes"):
        price_event(Category.CALL_MINUTES, Decimal(1), card)
    # An item carrying its own price needs no card.
    assert (
        price_event(Category.SUBSCRIPTION_FEES, Decimal(1), card, amount_micros=5_000_000).amount_micros == -5_000_000
    )
