"""Card payments and auto-recharge: the rules, in plain Python.

The balance head carries the billing settings and the recharge state, so the
ledger writer that moves a balance below its threshold can request a recharge in
the same transaction, and the optimistic condition on the head makes "never two
in flight" hold whatever the concurrency.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from .money import MICROS_PER_UNIT

CENT_MICROS = MICROS_PER_UNIT // 100
MIN_RECHARGE_MICROS = 10 * MICROS_PER_UNIT
MAX_RECHARGE_MICROS = 10_000 * MICROS_PER_UNIT
MAX_THRESHOLD_MICROS = 10_000 * MICROS_PER_UNIT
DEFAULT_THRESHOLD_MICROS = 15 * MICROS_PER_UNIT  # the platform recharges below $15
DECLINE_COOLDOWN = timedelta(hours=6)
MAX_CONSECUTIVE_DECLINES = 3
# A recharge requested this long ago and still in flight is put on the queue again
# (its worker is idempotent), in case the first message was lost.
RECHARGE_REDRIVE_AFTER = timedelta(minutes=15)


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


def recharge_id_for(billing_account_id: str, seq: int) -> str:
    """One recharge per (balance, entry that left it below the threshold)."""
    digest = hashlib.sha256(f"{billing_account_id}\x00{seq}".encode()).hexdigest()[:20]
    return f"rc_{digest}"


def payment_id_for_recharge(recharge_id: str, attempt: int) -> str:
    """Attempt 0 charges the primary card, attempt 1 the backup card."""
    return f"pay_{recharge_id.removeprefix('rc_')}" + ("" if attempt == 0 else f"_{attempt}")


def payment_id_for_request(account_id: str, idempotency_key: str) -> str:
    digest = hashlib.sha256(f"{account_id}\x00{idempotency_key}".encode()).hexdigest()[:20]
    return f"pay_m{digest}"


def can_auto_recharge(head: BillingHead, now: datetime) -> bool:
    settings, state = head.settings, head.recharge
    return (
        settings.auto_recharge_enabled
        and bool(settings.cards)
        and not state.paused
        and state.in_flight_id is None
        and (state.cooldown_until is None or state.cooldown_until <= now)
    )


def wants_recharge(balance_after_micros: int, head: BillingHead, now: datetime) -> bool:
    return balance_after_micros < head.settings.threshold_micros and can_auto_recharge(head, now)


def alert_threshold(settings: BillingSettings) -> int | None:
    return settings.low_balance_alert_micros


def low_alert_change(after_micros: int, head: BillingHead) -> bool | None:
    """True: send one alert now (went below); False: re-arm (back above); None: no change.

    Judged against the flag stored on the head, so concurrent batches send one alert
    per crossing between them.
    """
    threshold = alert_threshold(head.settings)
    if threshold is None:
        return None
    if after_micros < threshold and not head.recharge.low_alert_sent:
        return True
    if after_micros >= threshold and head.recharge.low_alert_sent:
        return False
    return None


def past_due_change(after_micros: int, head: BillingHead) -> bool | None:
    """True: tell them now (went below zero); False: re-arm (back at or above zero); None: no change."""
    if after_micros < 0 and not head.recharge.past_due_sent:
        return True
    if after_micros >= 0 and head.recharge.past_due_sent:
        return False
    return None


def after_success(state: RechargeState) -> RechargeState:
    return replace(state, in_flight_id=None, requested_at=None, consecutive_declines=0, cooldown_until=None)


def after_decline(state: RechargeState, now: datetime) -> RechargeState:
    declines = state.consecutive_declines + 1
    return replace(
        state,
        in_flight_id=None,
        requested_at=None,
        consecutive_declines=declines,
        cooldown_until=now + DECLINE_COOLDOWN,
        paused=declines >= MAX_CONSECUTIVE_DECLINES,
    )


def needs_redrive(state: RechargeState, now: datetime) -> bool:
    return (
        state.in_flight_id is not None
        and state.requested_at is not None
        and now - state.requested_at >= RECHARGE_REDRIVE_AFTER
    )


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


class TaskKind(StrEnum):
    RECHARGE = "recharge"
    LOW_BALANCE_ALERT = "low_balance_alert"
    PAST_DUE = "past_due"


@dataclass(frozen=True)
class BillingTask:
    """Work for the billing worker, decided inside a ledger transaction, sent after it."""

    kind: TaskKind
    billing_account_id: str
    key: str  # recharge id, or the sequence number of the entry that crossed the alert (or zero)
    balance_micros: int

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "billing_account_id": self.billing_account_id,
            "key": self.key,
            "balance_micros": self.balance_micros,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> BillingTask:
        return cls(
            TaskKind(str(data["kind"])),
            str(data["billing_account_id"]),
            str(data["key"]),
            int(str(data["balance_micros"])),
        )


def reactions(
    billing_account_id: str, head: BillingHead, after_balance_micros: int, after_seq: int, now: datetime
) -> tuple[RechargeState, list[BillingTask]]:
    """What a ledger transaction that leaves the balance at `after_balance_micros` sets off."""
    state = head.recharge
    tasks: list[BillingTask] = []
    if wants_recharge(after_balance_micros, head, now):
        recharge_id = recharge_id_for(billing_account_id, after_seq)
        state = replace(state, in_flight_id=recharge_id, requested_at=now)
        tasks.append(BillingTask(TaskKind.RECHARGE, billing_account_id, recharge_id, after_balance_micros))
    elif state.in_flight_id is not None and needs_redrive(state, now):
        in_flight = state.in_flight_id
        state = replace(state, requested_at=now)
        tasks.append(BillingTask(TaskKind.RECHARGE, billing_account_id, in_flight, after_balance_micros))
    alert = low_alert_change(after_balance_micros, head)
    if alert is not None:
        state = replace(state, low_alert_sent=alert)
        if alert:
            tasks.append(
                BillingTask(TaskKind.LOW_BALANCE_ALERT, billing_account_id, str(after_seq), after_balance_micros)
            )
    # Below zero is past due: told once per crossing, like the low-balance alert (and instead of
    # it when one transaction crosses both: the past-due notice says all the low one would).
    past_due = past_due_change(after_balance_micros, head)
    if past_due is not None:
        state = replace(state, past_due_sent=past_due)
        if past_due:
            tasks = [t for t in tasks if t.kind is not TaskKind.LOW_BALANCE_ALERT]
            tasks.append(BillingTask(TaskKind.PAST_DUE, billing_account_id, str(after_seq), after_balance_micros))
    return state, tasks
