from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.money import (
    MoneyError,
    format_cents,
    format_micros,
    multiply_micros,
    parse_micros,
    to_decimal,
)


@pytest.mark.parametrize(
    ("text", "micros"),
    [("12.50", 12_500_000), ("0.0125", 12_500), ("-3", -3_000_000), ("0.000001", 1), (".5", 500_000), ("7", 7_000_000)],
)
def test_parse_micros_is_exact(text, micros):
    assert parse_micros(text) == micros


@pytest.mark.parametrize("bad", ["1e3", "NaN", "Infinity", "1,000.00", "", " ", "12.5.1", "abc", "0x10", "1_000"])
def test_parse_micros_refuses_non_decimal_text(bad):
    with pytest.raises(MoneyError):
        parse_micros(bad)


def test_floats_are_refused_everywhere():
    with pytest.raises(MoneyError, match="float"):
        to_decimal(0.1)
    with pytest.raises(MoneyError):
        parse_micros(12.5)
    with pytest.raises(MoneyError):
        to_decimal(True)


def test_more_than_six_decimals_is_refused_not_rounded():
    with pytest.raises(MoneyError, match="6 decimal"):
        parse_micros("0.0000001")


def test_too_large_is_refused():
    with pytest.raises(MoneyError, match="too large"):
        parse_micros("100000000000")


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (12_500_000, "12.50"),
        (12_500, "0.0125"),
        (-3_000_000, "-3.00"),
        (0, "0.00"),
        (1, "0.000001"),
        (-37_500, "-0.0375"),
    ],
)
def test_format_micros(micros, text):
    assert format_micros(micros) == text


def test_format_cents_rounds_half_up():
    assert format_cents(12_345_000) == "12.35"
    assert format_cents(12_344_999) == "12.34"
    assert format_cents(-5_000) == "-0.01"


def test_pricing_rounds_half_up_to_a_micro():
    # 3 minutes at $0.0125 is exact; 1/3 of a unit at 1 micro rounds
    assert multiply_micros(Decimal("3"), 12_500) == 37_500
    assert multiply_micros(Decimal("0.5"), 1) == 1  # .5 rounds up
    assert multiply_micros(Decimal("0.4"), 1) == 0


@given(st.integers(min_value=-(10**16), max_value=10**16))
def test_format_then_parse_round_trips(micros):
    assert parse_micros(format_micros(micros)) == micros


@given(
    st.decimals(
        min_value=Decimal("-1000000"), max_value=Decimal("1000000"), places=6, allow_nan=False, allow_infinity=False
    )
)
def test_parse_matches_decimal_arithmetic(value):
    assert parse_micros(str(value)) == int(value * 1_000_000)
