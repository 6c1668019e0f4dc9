"""What the billing code needs from a card payment gateway.

Amounts are whole cents (card charges are never fractions of a cent). Every
charge carries an idempotency key derived from our payment id: asking again with
the same key returns the first outcome and never charges twice, which is what
makes a retried worker safe after a timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class ChargeStatus(StrEnum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"


@dataclass(frozen=True)
class CardDetails:
    """A card on file as the gateway describes it (never the number itself)."""

    token: str  # the gateway's payment-method id, e.g. "pm_card_visa"
    brand: str  # "visa", "mastercard", ...
    last4: str


@dataclass(frozen=True)
class ChargeResult:
    status: ChargeStatus
    gateway_reference: str | None  # the gateway's id for the charge (PaymentIntent id)
    failure_code: str | None = None  # e.g. "card_declined", "insufficient_funds", "expired_card"
    failure_message: str | None = None


class GatewayError(Exception):
    """The gateway could not be asked; nothing is known about the charge."""


class GatewayTimeout(GatewayError):
    """The outcome is unknown (the charge may have been taken): retry with the same key."""


class PaymentGateway(Protocol):
    name: str

    def describe_card(self, token: str) -> CardDetails:
        """Brand and last 4 of a payment method; raises domain.cards.InvalidCard."""
        ...

    def charge(
        self,
        *,
        amount_cents: int,
        currency: str,
        card_token: str,
        idempotency_key: str,
        description: str,
        metadata: dict[str, str],
    ) -> ChargeResult:
        """Charge the card off-session. Raises GatewayTimeout when the outcome is unknown."""
        ...


# Stripe's limits: an amount has at most 8 digits, an idempotency key at most 255 characters.
MAX_AMOUNT_CENTS = 99_999_999
MAX_IDEMPOTENCY_KEY_LENGTH = 255


def check_charge_request(*, amount_cents: int, currency: str, idempotency_key: str) -> str:
    """Validate a charge's amount, currency and key the same way in every gateway.

    Returns the currency lowercased (as Stripe wants it); raises GatewayError for a
    non-int, non-positive or too-large amount, a currency that is not 3 letters, or
    an empty or over-long idempotency key. Nothing is sent when this refuses.
    """
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise GatewayError(f"amount must be whole cents (an int), got {amount_cents!r}")
    if amount_cents <= 0:
        raise GatewayError(f"amount must be positive, got {amount_cents}")
    if amount_cents > MAX_AMOUNT_CENTS:
        raise GatewayError(f"amount must be at most {MAX_AMOUNT_CENTS} cents, got {amount_cents}")
    if not isinstance(currency, str) or len(currency) != 3 or not (currency.isascii() and currency.isalpha()):
        raise GatewayError(f"currency must be a 3-letter ISO code, got {currency!r}")
    if not isinstance(idempotency_key, str) or not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise GatewayError(f"idempotency key must be 1-{MAX_IDEMPOTENCY_KEY_LENGTH} characters")
    return currency.lower()
