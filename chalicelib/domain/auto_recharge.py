"""Auto-recharge and the low-balance alert: what a movement of a balance sets off, in plain Python.

A ledger transaction that leaves a balance below its threshold requests one recharge
(`reactions`, inside the same transaction as the entries); the billing worker charges
the primary card, then the backup card, and moves the recharge state on with
`after_success` or `after_decline`. After a decline the balance cools down for
DECLINE_COOLDOWN; after MAX_CONSECUTIVE_DECLINES declines in a row auto-recharge
pauses until its settings are changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from .payments import BillingHead, BillingSettings, RechargeState

DECLINE_COOLDOWN = timedelta(hours=6)
MAX_CONSECUTIVE_DECLINES = 3
# A recharge requested this long ago and still in flight is put on the queue again
# (its worker is idempotent), in case the first message was lost.
RECHARGE_REDRIVE_AFTER = timedelta(minutes=15)


def recharge_id_for(billing_account_id: str, seq: int) -> str:
    """One recharge per (balance, entry that left it below the threshold)."""
    digest = hashlib.sha256(f"{billing_account_id}\x00{seq}".encode()).hexdigest()[:20]
    return f"rc_{digest}"


def payment_id_for_recharge(recharge_id: str, attempt: int) -> str:
    """Attempt 0 charges the primary card, attempt 1 the backup card."""
    return f"pay_{recharge_id.removeprefix('rc_')}" + ("" if attempt == 0 else f"_{attempt}")


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
