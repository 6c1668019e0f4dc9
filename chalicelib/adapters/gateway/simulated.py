"""The simulated gateway: the local default, deterministic, no network.

It accepts Stripe's test payment-method ids, so the same fixtures work against
Stripe's test mode, and behaves like Stripe where it matters to us:

- a charge is remembered by its idempotency key: asking again with the same key
  returns the first outcome (success or decline) and never charges twice;
- the same key with different parameters (amount, currency, card, description or
  metadata) is refused with GatewayError, as Stripe answers 400 idempotency_error;
- declines carry Stripe's failure codes.

Simulator-only: `pm_card_visa_timeoutAfterCharge` takes the charge and then raises
GatewayTimeout on the first call for a key (a retry with the same key returns the
original success), and the `fault` constructor option injects timeouts for any card.

Charges live in one module-level, lock-protected store shared by every instance,
so a retried worker in the same process sees the first attempt's charge, as it
would at Stripe. `SimulatedGateway.reset()` empties it; `SimulatedGateway.charges()`
lists the real (succeeded, distinct) charges for tests to count.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from chalicelib.adapters.gateway.base import (
    CardDetails,
    ChargeResult,
    ChargeStatus,
    GatewayError,
    GatewayTimeout,
    check_charge_request,
)
from chalicelib.domain.cards import InvalidCard, validate_card_token

# What a `fault` callable may answer for an idempotency key.
TIMEOUT_BEFORE = "timeout_before"  # raise GatewayTimeout without charging
TIMEOUT_AFTER = "timeout_after"  # charge (idempotently), then raise GatewayTimeout
Fault = Callable[[str], str | None]

TIMEOUT_AFTER_CHARGE_TOKEN = "pm_card_visa_timeoutAfterCharge"


@dataclass(frozen=True)
class SimulatedCard:
    brand: str
    last4: str
    failure_code: str | None = None  # None: the charge succeeds
    failure_message: str | None = None
    timeout_after_charge: bool = False


# Stripe's test payment methods (https://docs.stripe.com/testing), same brands and last 4.
TEST_CARDS: Mapping[str, SimulatedCard] = {
    "pm_card_visa": SimulatedCard("visa", "4242"),
    "pm_card_mastercard": SimulatedCard("mastercard", "4444"),
    "pm_card_amex": SimulatedCard("amex", "8431"),
    "pm_card_chargeDeclined": SimulatedCard("visa", "0002", "card_declined", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": SimulatedCard(
        "visa", "9995", "insufficient_funds", "Your card has insufficient funds."
    ),
    "pm_card_chargeDeclinedExpiredCard": SimulatedCard("visa", "0069", "expired_card", "Your card has expired."),
    # Simulator only (Stripe has no such id): the charge is taken, then the call times out.
    TIMEOUT_AFTER_CHARGE_TOKEN: SimulatedCard("visa", "0077", timeout_after_charge=True),
}


@dataclass(frozen=True)
class SimulatedCharge:
    """One charge attempt as the simulated gateway recorded it (one per idempotency key)."""

    reference: str
    idempotency_key: str
    amount_cents: int
    currency: str
    card_token: str
    description: str
    metadata: Mapping[str, str]
    status: ChargeStatus
    failure_code: str | None = None
    failure_message: str | None = None
    # How many calls asked for this key (1 = never retried).
    calls: int = field(default=1, compare=False)

    def result(self) -> ChargeResult:
        return ChargeResult(
            status=self.status,
            gateway_reference=self.reference,
            failure_code=self.failure_code,
            failure_message=self.failure_message,
        )


_lock = threading.Lock()
_by_key: dict[str, SimulatedCharge] = {}


def reference_for(idempotency_key: str) -> str:
    """The PaymentIntent-like id the simulator gives the charge made with this key."""
    return "pi_sim_" + hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:24]


class SimulatedGateway:
    """A deterministic, in-memory stand-in for Stripe; see the module docstring."""

    name: str = "simulated"

    def __init__(self, *, fault: Fault | None = None) -> None:
        # fault(idempotency_key) -> "timeout_before" | "timeout_after" | None, asked on
        # every charge call (retries included), so a test can fail chosen attempts.
        self._fault = fault

    # -- test helpers -------------------------------------------------------------

    @staticmethod
    def reset() -> None:
        """Forget every charge (tests)."""
        with _lock:
            _by_key.clear()

    @staticmethod
    def charges() -> list[SimulatedCharge]:
        """The real charges: one entry per distinct succeeded charge, in the order taken."""
        with _lock:
            return [c for c in _by_key.values() if c.status is ChargeStatus.SUCCEEDED]

    @staticmethod
    def attempts() -> list[SimulatedCharge]:
        """Every recorded outcome, declines included (one per idempotency key)."""
        with _lock:
            return list(_by_key.values())

    @staticmethod
    def charge_for_key(idempotency_key: str) -> SimulatedCharge | None:
        with _lock:
            return _by_key.get(idempotency_key)

    # -- PaymentGateway ---------------------------------------------------------------

    def describe_card(self, token: str) -> CardDetails:
        card = _known_card(token)
        return CardDetails(token=token, brand=card.brand, last4=card.last4)

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
        currency = check_charge_request(amount_cents=amount_cents, currency=currency, idempotency_key=idempotency_key)
        card = _known_card(card_token)
        meta = dict(metadata)

        fault = self._fault(idempotency_key) if self._fault is not None else None
        if fault not in (None, TIMEOUT_BEFORE, TIMEOUT_AFTER):
            raise ValueError(f"unknown fault {fault!r}: expected 'timeout_before', 'timeout_after' or None")
        if fault == TIMEOUT_BEFORE:
            raise GatewayTimeout(f"simulated timeout before charging (key {idempotency_key!r})")

        with _lock:
            previous = _by_key.get(idempotency_key)
            if previous is not None:
                if (previous.amount_cents, previous.currency, previous.card_token, previous.description) != (
                    amount_cents,
                    currency,
                    card_token,
                    description,
                ) or dict(previous.metadata) != meta:
                    raise GatewayError(
                        f"idempotency key {idempotency_key!r} was first used with different parameters"
                        " (Stripe answers 400 idempotency_error)"
                    )
                recorded = replace(previous, calls=previous.calls + 1)
                _by_key[idempotency_key] = recorded
                first_call = False
            else:
                recorded = SimulatedCharge(
                    reference=reference_for(idempotency_key),
                    idempotency_key=idempotency_key,
                    amount_cents=amount_cents,
                    currency=currency,
                    card_token=card_token,
                    description=description,
                    metadata=meta,
                    status=ChargeStatus.DECLINED if card.failure_code else ChargeStatus.SUCCEEDED,
                    failure_code=card.failure_code,
                    failure_message=card.failure_message,
                )
                _by_key[idempotency_key] = recorded
                first_call = True

        if fault == TIMEOUT_AFTER or (card.timeout_after_charge and first_call):
            raise GatewayTimeout(
                f"simulated timeout after the charge was {recorded.status.value} (key {idempotency_key!r})"
            )
        return recorded.result()


def _known_card(token: str) -> SimulatedCard:
    validate_card_token(token)  # raw card numbers and non-tokens: InvalidCard
    card = TEST_CARDS.get(token)
    if card is None:
        raise InvalidCard(f"no such payment method: {token!r}")
    return card
