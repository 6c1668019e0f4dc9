"""Demo payments for `make run`: cards on file, auto-recharges as they happened, top-ups today.

Used by devtools/seed.py, through the same services the API and the billing worker
use, with the simulated gateway:

- `ensure_settings`: each balance's auto-recharge settings and card on file as of a
  night of the history (Thames Lettings' Visa expired on the 21st two months ago: the
  card on file since is one the gateway declines as expired);
- `run_recharges`: the billing worker at that moment, for the recharge a night's
  batch set off: the card is charged, the payment recorded with its receipt number,
  and the credit posted, all at that time (a credit that still leaves the balance
  below the threshold sets off the next one, charged at once too);
- `seed_payments`: today's manual top-ups (fixed Idempotency-Keys: a rerun charges
  nothing new).

Thresholds and amounts are set so that one recharge always lifts the balance back
above its threshold, even after the 1st of the month's plan fees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from .demo_ids import AGENCY_ID, OWN_1_ID, OWN_2_ID

VISA = "pm_card_visa"
EXPIRED = "pm_card_chargeDeclinedExpiredCard"


@dataclass
class PaymentSeedSummary:
    top_ups: int = 0
    recharges: dict[str, int] = field(default_factory=dict)  # billing account -> succeeded
    declines: dict[str, int] = field(default_factory=dict)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # what this run knows is stored


SETTINGS: dict[str, dict[str, Any]] = {
    # Plans of $99 and $29 and two numbers go out on the 1st: $250 whenever it falls below $100.
    AGENCY_ID: {
        "auto_recharge_enabled": True,
        "threshold": "100.00",
        "amount": "250.00",
        "primary_card": VISA,
        "backup_card": "pm_card_mastercard",
        "low_balance_alert": "50.00",
    },
    # $49 plan and three numbers on the 1st: $100 below $20.
    OWN_1_ID: {"auto_recharge_enabled": True, "threshold": "20.00", "amount": "100.00", "primary_card": VISA},
    # $29 plan and a number on the 1st: $60 below $15.
    OWN_2_ID: {"auto_recharge_enabled": True, "threshold": "15.00", "amount": "60.00", "primary_card": VISA},
}
TOP_UPS = {AGENCY_ID: ["100.00", "150.00"], OWN_1_ID: ["40.00"]}


def card_expiry(today: date) -> date:
    """When Thames Lettings' Visa expired: the 21st, two months before today's month."""
    index = today.year * 12 + today.month - 1 - 2
    return date(index // 12, index % 12 + 1, 21)


def settings_on(billing_account_id: str, day: date, today: date) -> dict[str, Any]:
    body = dict(SETTINGS[billing_account_id])
    if billing_account_id == OWN_2_ID and day >= card_expiry(today):
        body["primary_card"] = EXPIRED  # the card on file expired; nobody has replaced it yet
    return body


def _admin(account_id: str) -> Any:
    from chalicelib.domain.access import Principal, Role

    return Principal("seed", account_id, Role.ADMIN)


def ensure_settings(billing_account_id: str, day: date, today: date, summary: PaymentSeedSummary) -> None:
    """The settings of that day, saved only when they differ from the stored ones (a change of
    settings lifts a pause, as an admin's save does)."""
    from chalicelib.services.billing_settings import get_billing_settings, put_billing_settings

    wanted = settings_on(billing_account_id, day, today)
    if summary.settings.get(billing_account_id) == wanted:
        return
    stored = get_billing_settings(_admin(billing_account_id), billing_account_id)
    card = {VISA: "4242", EXPIRED: "0069"}[wanted["primary_card"]]
    same = (
        stored.get("auto_recharge_enabled") == wanted["auto_recharge_enabled"]
        and stored.get("threshold") == wanted["threshold"]
        and stored.get("amount") == wanted["amount"]
        and (stored.get("primary_card") or {}).get("last4") == card
    )
    if not same:
        put_billing_settings(_admin(billing_account_id), billing_account_id, wanted)
    summary.settings[billing_account_id] = wanted


def run_recharges(billing_account_id: str, tasks: Sequence[Any], at: datetime, summary: PaymentSeedSummary) -> None:
    """What the billing worker does at `at` for the recharges a batch set off (alerts are not sent)."""
    from chalicelib.adapters.ledger_repo import LedgerRepository
    from chalicelib.domain.auto_recharge import BillingTask, TaskKind
    from chalicelib.services.recharge import RechargeOutcome, run_task

    pending = [t for t in tasks if t.kind is TaskKind.RECHARGE]
    for _ in range(5):  # a credit that leaves the balance below the threshold sets off another
        if not pending:
            return
        for task in pending:
            outcome = run_task(task, clock=lambda: at)
            if outcome is RechargeOutcome.SUCCEEDED:
                summary.recharges[billing_account_id] = summary.recharges.get(billing_account_id, 0) + 1
            elif outcome is RechargeOutcome.DECLINED:
                summary.declines[billing_account_id] = summary.declines.get(billing_account_id, 0) + 1
        state = LedgerRepository().balance(billing_account_id)
        in_flight = state.billing.recharge.in_flight_id
        pending = (
            [BillingTask(TaskKind.RECHARGE, billing_account_id, in_flight, state.balance_micros)] if in_flight else []
        )


def seed_payments(today: date, summary: PaymentSeedSummary, verbose: bool = True) -> PaymentSeedSummary:
    """Today's settings (the seed's last night set them already) and manual top-ups."""
    from chalicelib.services.payments import add_funds

    for account_id in SETTINGS:
        ensure_settings(account_id, today, today, summary)
    for account_id, amounts in TOP_UPS.items():
        for i, amount in enumerate(amounts):
            answer = add_funds(_admin(account_id), account_id, {"amount": amount}, f"seed-top-up-{i}")
            summary.top_ups += answer.status == 201
    if verbose:
        recharges = ", ".join(f"{a}: {n}" for a, n in sorted(summary.recharges.items())) or "none new"
        declines = ", ".join(f"{a}: {n}" for a, n in sorted(summary.declines.items())) or "none new"
        print(f"seed: auto-recharges {recharges}; declined {declines}; {summary.top_ups} top-ups", flush=True)
    return summary
