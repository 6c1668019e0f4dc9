"""Card payments and the billing settings and recharge state the balance head carries.

The balance head carries the billing settings and the recharge state, so the
ledger writer that moves a balance below its threshold can request a recharge in
the same transaction, and the optimistic condition on the head makes "never two
in flight" hold whatever the concurrency. The rules that read and move that state
(when to recharge, cool-down, pause, alerts) are in domain/auto_recharge.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from .money import MICROS_PER_UNIT

CENT_MICROS = MICROS_PER_UNIT // 100
MIN_RECHARGE_MICROS = 10 * MICROS_PER_UNIT
MAX_RECHARGE_MICROS = 10_000 * MICROS_PER_UNIT
MAX_THRESHOLD_MICROS = 10_000 * MICROS_PER_UNIT
DEFAULT_THRESHOLD_MICROS = 15 * MICROS_PER_UNIT  # the platform recharges below $15


class PaymentKind(StrEnum):
    AUTO_RECHARGE = "auto_recharge"
    MANUAL = "manual"
    SUBSCRIPTION = "subscription"


class PaymentStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"


@dataclass(frozen=True)
class CardOnFile:
    token: str
    brand: str
    last4: str

    @property
    def label(self) -> str:
        return f"{self.brand.title()} •••• {self.last4}"


@dataclass(frozen=True)
class BillingSettings:
    auto_recharge_enabled: bool = False
    threshold_micros: int = DEFAULT_THRESHOLD_MICROS
    amount_micros: int = 25 * MICROS_PER_UNIT
    primary_card: CardOnFile | None = None
    backup_card: CardOnFile | None = None
    low_balance_alert_micros: int | None = None
    alert_recipients: tuple[str, ...] = ()
    # An agency's balance: its sub-accounts on shared billing show it to their own users (off: they
    # see only that the agency bills them).
    share_balance_with_sub_accounts: bool = False

    @property
    def cards(self) -> tuple[CardOnFile, ...]:
        return tuple(c for c in (self.primary_card, self.backup_card) if c is not None)


@dataclass(frozen=True)
class RechargeState:
    in_flight_id: str | None = None
    requested_at: datetime | None = None
    consecutive_declines: int = 0
    cooldown_until: datetime | None = None
    paused: bool = False
    low_alert_sent: bool = False
    past_due_sent: bool = False  # below zero, and its contacts were told


@dataclass(frozen=True)
class BillingHead:
    """What the balance head says about money coming in."""

    settings: BillingSettings = field(default_factory=BillingSettings)
    recharge: RechargeState = field(default_factory=RechargeState)


def payment_id_for_request(account_id: str, idempotency_key: str) -> str:
    digest = hashlib.sha256(f"{account_id}\x00{idempotency_key}".encode()).hexdigest()[:20]
    return f"pay_m{digest}"


@dataclass(frozen=True)
class Payment:
    payment_id: str
    billing_account_id: str
    account_id: str  # who asked (the billing account for auto recharges)
    kind: PaymentKind
    amount_micros: int
    currency: str
    status: PaymentStatus
    card_brand: str
    card_last4: str
    created_at: datetime
    gateway: str
    gateway_reference: str | None = None
    failure_code: str | None = None
    failure_reason: str | None = None
    recharge_id: str | None = None
    description: str = ""
    agency_id: str | None = None  # the agency of a sub-account that pays its own: its statement lists it
    receipt_number: int | None = None  # sequential per billing account, given once the payment succeeded

    @property
    def has_receipt(self) -> bool:
        """A receipt is for money taken: a payment that failed (or is still pending) has none."""
        return self.status in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED)

    @property
    def amount_cents(self) -> int:
        return self.amount_micros // CENT_MICROS

    @property
    def credit_event_id(self) -> str:
        """The ledger credit of a succeeded payment is keyed by the payment: credited once, ever."""
        return f"payment:{self.payment_id}"


class SettingsError(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


def check_recharge_amounts(threshold_micros: int, amount_micros: int, alert_micros: int | None) -> None:
    if amount_micros % CENT_MICROS:
        raise SettingsError("amount", "must be whole cents")
    if not MIN_RECHARGE_MICROS <= amount_micros <= MAX_RECHARGE_MICROS:
        raise SettingsError("amount", "must be between 10.00 and 10000.00")
    if threshold_micros % CENT_MICROS:
        raise SettingsError("threshold", "must be whole cents")
    if not 0 <= threshold_micros <= MAX_THRESHOLD_MICROS:
        raise SettingsError("threshold", "must be between 0.00 and 10000.00")
    if alert_micros is not None and (alert_micros % CENT_MICROS or not 0 <= alert_micros <= MAX_THRESHOLD_MICROS):
        raise SettingsError("low_balance_alert", "must be whole cents between 0.00 and 10000.00")
