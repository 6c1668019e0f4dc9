from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.money import (
    MAX_ABS_MICROS,
    MoneyError,
    format_cents,
    format_micros,
    multiply_micros,
    parse_micros,
    to_decimal,
    within_ledger_range,
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


# -- the validation boundary (issue 11) ----------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "\u0663",  # ARABIC-INDIC DIGIT THREE: Python's \d and Decimal() both read it as 3
        "\uff15",  # FULLWIDTH DIGIT FIVE
        "1\u0660.00",
        "\u0967\u0968",  # Devanagari 12
        "\U0001d7d9",  # MATHEMATICAL DOUBLE-STRUCK DIGIT ONE
        "\u00b2",  # SUPERSCRIPT TWO
    ],
)
def test_only_ascii_digits_are_numbers(text):
    with pytest.raises(MoneyError, match="ASCII"):
        parse_micros(text)
    with pytest.raises(MoneyError, match="ASCII"):
        to_decimal(text, field="quantity")


@pytest.mark.parametrize(
    "value",
    [
        Decimal("1e1000000"),
        Decimal("-1e1000000"),
        Decimal("1e999999"),
        Decimal("9.99e999999"),
        Decimal("1E+17"),
        10**17,
        -(10**400),
        "1" + "0" * 38,
    ],
)
def test_huge_values_are_refused_before_any_arithmetic(value):
    # decimal.Overflow (an ArithmeticError, not a MoneyError) used to escape from here.
    with pytest.raises(MoneyError, match=r"too large|too long"):
        parse_micros(value)
    with pytest.raises(MoneyError, match=r"too large|too long"):
        to_decimal(value)


@pytest.mark.parametrize("value", [Decimal("1e-1000000"), Decimal("1.0000001"), Decimal("-0.00000005")])
def test_tiny_fractions_are_refused_without_arithmetic(value):
    with pytest.raises(MoneyError, match="6 decimal places"):
        to_decimal(value)


def test_trailing_zeros_carry_no_value():
    assert parse_micros("12.500000000") == 12_500_000
    assert parse_micros(Decimal("1.50E+3")) == 1_500_000_000
    assert to_decimal(Decimal("0E-1000000")) == 0


def test_text_too_long_to_be_an_amount_is_refused_unread():
    with pytest.raises(MoneyError, match="too long"):
        to_decimal("0." + "0" * 100_000 + "1")


def test_true_and_false_are_not_numbers():
    with pytest.raises(MoneyError, match="true or false"):
        to_decimal(True)


def test_the_ledger_limit_itself_is_accepted_and_one_micro_more_refused():
    assert parse_micros("10000000000") == MAX_ABS_MICROS
    assert parse_micros("-10000000000") == -MAX_ABS_MICROS
    with pytest.raises(MoneyError, match="too large"):
        parse_micros("10000000000.000001")


@given(
    st.decimals(min_value=-(10**9), max_value=10**9, places=6, allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(10**17), max_value=10**17),
)
def test_multiply_is_exact_half_up_whatever_the_sizes(quantity, price):
    # Reference: Decimal with enough precision for the exact product, then half-up.
    with localcontext() as ctx:
        ctx.prec = 80
        expected = int((quantity * price).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert multiply_micros(quantity, price) == expected


def test_multiply_beyond_28_digits_is_not_rounded_by_decimal_context():
    # The exact product is 1249488039995049651867392.499...: Decimal's default 28-digit
    # context rounded it to ...392.5 before the half-up rule ran, then up to ...393.
    assert multiply_micros(Decimal("552278829.003761"), 2_262_422_483_673_624) == 1249488039995049651867392


def test_within_ledger_range():
    assert within_ledger_range(MAX_ABS_MICROS) and within_ledger_range(-MAX_ABS_MICROS)
    assert not within_ledger_range(MAX_ABS_MICROS + 1)
