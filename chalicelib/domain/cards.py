"""Card tokens: what we accept where a card is named, and what we refuse.

We never see, store or log a card number: a card is named by the gateway's
payment-method id (Stripe's `pm_...`), obtained by the browser from the gateway.
Anything that looks like a raw card number is refused wherever a token is
accepted, with a message saying why, so a number pasted into the wrong field is
never stored.

Plain Python, no AWS. InvalidCard is the one refusal of a card, whoever refuses it
(this module's checks, or a gateway that does not know the token), so callers
handle one exception type.
"""

from __future__ import annotations

import re

RAW_CARD_NUMBER_MESSAGE = "looks like a raw card number: send a payment-method token from the gateway, never the number"
NOT_A_TOKEN_MESSAGE = "not a payment-method token"


class InvalidCard(ValueError):
    """The token is not a usable card (unknown, or a raw card number was given)."""


# A card number is 13-19 digits, often written in groups. A "numeric run" is a
# stretch of digits joined only by separators (whitespace, dashes, dots,
# underscores); any run holding 13 or more digits is treated as a card number
# (more than 19 could still hide one, so they are refused too). The separator
# class and \d are disjoint, so the scan is linear, never backtracking.
_MIN_CARD_DIGITS = 13
_NUMERIC_RUN = re.compile(r"\d(?:[\s._\-\u2010-\u2015\u2212]*\d)*")
_DIGIT = re.compile(r"\d")

# Stripe's payment-method ids: "pm_" and 1-200 ASCII letters, digits or underscores
# (real ids look like "pm_1NXWPnJ2eZvKYlo2...", test ids like "pm_card_visa").
_TOKEN = re.compile(r"pm_[A-Za-z0-9_]{1,200}")


def looks_like_card_number(text: str) -> bool:
    """True when `text` contains 13 or more digits written as one number.

    Digits may be grouped with spaces, dashes, dots or underscores
    ("4242 4242 4242 4242", "4242-4242-4242-4242", "x4242424242424242y"). There is
    no Luhn check on purpose: a mistyped number is still a number we must not keep.
    """
    if not isinstance(text, str):
        return False
    return any(len(_DIGIT.findall(run.group())) >= _MIN_CARD_DIGITS for run in _NUMERIC_RUN.finditer(text))


def is_gateway_token(text: str) -> bool:
    """True for a Stripe-shaped payment-method id (`pm_` + [A-Za-z0-9_]{1,200}) and nothing else.

    An id that embeds a card-number-like digit run is not a token: the number
    check always wins.
    """
    if not isinstance(text, str) or _TOKEN.fullmatch(text) is None:
        return False
    return not looks_like_card_number(text)


def validate_card_token(text: str) -> str:
    """The token itself if it is a payment-method id; raises InvalidCard otherwise.

    The raw-card-number check runs first, so a card number gets the message that
    says what to send instead.
    """
    if not isinstance(text, str):
        raise InvalidCard(NOT_A_TOKEN_MESSAGE)
    if looks_like_card_number(text):
        raise InvalidCard(RAW_CARD_NUMBER_MESSAGE)
    if not is_gateway_token(text):
        raise InvalidCard(NOT_A_TOKEN_MESSAGE)
    return text
