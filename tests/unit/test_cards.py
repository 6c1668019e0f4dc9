import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.cards import (
    NOT_A_TOKEN_MESSAGE,
    RAW_CARD_NUMBER_MESSAGE,
    InvalidCard,
    is_gateway_token,
    looks_like_card_number,
    validate_card_token,
)

TEST_TOKENS = [
    "pm_card_visa",
    "pm_card_mastercard",
    "pm_card_amex",
    "pm_card_chargeDeclined",
    "pm_card_chargeDeclinedInsufficientFunds",
    "pm_card_chargeDeclinedExpiredCard",
    "pm_card_visa_timeoutAfterCharge",
    "pm_1NXWPnJ2eZvKYlo2CIgM4rQm",  # shaped like a live id
]


@pytest.mark.parametrize(
    "text",
    [
        "4242424242424242",
        "4242 4242 4242 4242",
        "4242-4242-4242-4242",
        "4242.4242.4242.4242",
        "4242_4242_4242_4242",
        "4242 - 4242 - 4242 - 4242",
        "4242\u20134242\u20134242\u20134242",  # en dashes
        "378282246310005",  # amex, 15 digits
        "3782 822463 10005",
        "4000000000003",  # 13 digits
        "6011 0009 9013 9424 123",  # 19 digits
        "card: 4242424242424242 exp 12/34",
        "pm_4242424242424242",
        "x4242424242424242y",
        "42424242424242424242424242",  # longer than 19 still hides a number
    ],
)
def test_card_numbers_are_spotted_anywhere(text):
    assert looks_like_card_number(text)
    with pytest.raises(InvalidCard, match="raw card number"):
        validate_card_token(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "pm_card_visa",
        "424242424242",  # 12 digits
        "4242 4242 4242",
        "call +1 415-555-0100",
        "2024-01-15 10:30:00",
        "4242/4242/4242/4242",  # not a separator we join on: runs of 4
        "invoice 123456789012 and 3456",
    ],
)
def test_short_or_broken_digit_runs_are_not_card_numbers(text):
    assert not looks_like_card_number(text)


@pytest.mark.parametrize("token", TEST_TOKENS)
def test_gateway_tokens_are_accepted(token):
    assert is_gateway_token(token)
    assert not looks_like_card_number(token)
    assert validate_card_token(token) == token


@pytest.mark.parametrize(
    "text",
    [
        "",
        "pm_",
        "pm-card-visa",
        "PM_card_visa",
        "tok_visa",
        "card_1234",
        "src_abc",
        " pm_card_visa",
        "pm_card_visa ",
        "pm_card visa",
        "pm_card_visa\n",
        "pm_caf\u00e9",
        "pm_" + "a" * 201,
        "pm_<script>",
    ],
)
def test_anything_else_is_not_a_token(text):
    assert not is_gateway_token(text)
    with pytest.raises(InvalidCard) as e:
        validate_card_token(text)
    assert str(e.value) == NOT_A_TOKEN_MESSAGE


def test_messages_say_what_to_send():
    with pytest.raises(InvalidCard) as e:
        validate_card_token("4242 4242 4242 4242")
    assert str(e.value) == RAW_CARD_NUMBER_MESSAGE
    assert "never the number" in RAW_CARD_NUMBER_MESSAGE
    for bad in (None, 4242424242424242, b"pm_card_visa"):
        with pytest.raises(InvalidCard, match="not a payment-method token"):
            validate_card_token(bad)  # type: ignore[arg-type]
        assert not is_gateway_token(bad)  # type: ignore[arg-type]
        assert not looks_like_card_number(bad)  # type: ignore[arg-type]


SEPARATORS = st.sampled_from(["", "", "", " ", "-", "  ", " - ", ".", "_", "\t"])


@st.composite
def written_card_numbers(draw):
    """13-19 digits, each gap possibly filled with a separator, inside arbitrary text."""
    digits = draw(st.text(alphabet="0123456789", min_size=13, max_size=19))
    seps = [draw(SEPARATORS) for _ in digits[1:]]
    number = digits[0] + "".join(sep + d for sep, d in zip(seps, digits[1:], strict=True))
    # Any surrounding text: at worst it glues more digits on, which only makes a longer run.
    return draw(st.text(max_size=20)) + number + draw(st.text(max_size=20))


@given(written_card_numbers())
def test_any_written_card_number_is_caught(text):
    assert looks_like_card_number(text)
    assert not is_gateway_token(text)
    with pytest.raises(InvalidCard, match="raw card number"):
        validate_card_token(text)


@given(st.text(alphabet="0123456789", min_size=13, max_size=19), st.text(max_size=30), st.text(max_size=30))
def test_digits_anywhere_in_any_text_are_caught(digits, before, after):
    assert looks_like_card_number(before + digits + after)


TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
WORDS = st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=12).filter(lambda s: s.strip("_") != "")
DIGIT_GROUPS = st.text(alphabet="0123456789", min_size=1, max_size=12)


@st.composite
def stripe_shaped_tokens(draw):
    """pm_ + words (letters, underscores) and digit groups of at most 12 digits, never two groups in a row.

    That is every shape real ids ("pm_1NXWPnJ2eZvKYlo2CIgM4rQm") and test ids ("pm_card_visa") take.
    """
    body = draw(WORDS)
    for _ in range(draw(st.integers(min_value=0, max_value=8))):
        body += draw(DIGIT_GROUPS) + draw(WORDS)
    if draw(st.booleans()):
        body = draw(DIGIT_GROUPS) + body
    if draw(st.booleans()):
        body += draw(DIGIT_GROUPS)
    return "pm_" + body[:200]


@given(stripe_shaped_tokens())
def test_no_valid_token_is_flagged(token):
    assert not looks_like_card_number(token)
    assert is_gateway_token(token)
    assert validate_card_token(token) == token


@given(st.text(alphabet=TOKEN_CHARS + "0123456789", min_size=1, max_size=200))
def test_token_check_and_number_check_never_disagree(body):
    token = "pm_" + body
    # Every pm_ string is either a token or (if it hides a number) refused as a number.
    assert is_gateway_token(token) != looks_like_card_number(token)
    if looks_like_card_number(token):
        with pytest.raises(InvalidCard, match="raw card number"):
            validate_card_token(token)
    else:
        assert validate_card_token(token) == token
