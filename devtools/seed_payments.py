"""Demo payments for `make run`: cards on file, Payment History, a recharge and a decline.

Runs after the usage seed, through the same services the API and the billing
worker use, with the simulated gateway. Idempotent: top-ups carry fixed
Idempotency-Keys, and the debits that set off a recharge have fixed event ids per
day, so a rerun on the same day charges nothing new.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .seed import AGENCY_ID, OWN_1_ID, OWN_2_ID


@dataclass
class PaymentSeedSummary:
    top_ups: int = 0
    recharges: dict[str, str] = field(default_factory=dict)


SETTINGS: dict[str, dict[str, Any]] = {
    AGENCY_ID: {
        "auto_recharge_enabled": True,
        "threshold": "100.00",
        "amount": "250.00",
        "primary_card": "pm_card_visa",
        "backup_card": "pm_card_mastercard",
        "low_balance_alert": "50.00",
    },
    OWN_1_ID: {
        "auto_recharge_enabled": True,
        "threshold": "15.00",
        "amount": "50.00",
        "primary_card": "pm_card_visa",
    },
    # A card that is declined: the demo shows a failed recharge and its email.
    OWN_2_ID: {
        "auto_recharge_enabled": True,
        "threshold": "15.00",
        "amount": "25.00",
        "primary_card": "pm_card_chargeDeclined",
    },
}
TOP_UPS = {AGENCY_ID: ["100.00", "150.00"], OWN_1_ID: ["40.00"]}


def seed_payments(today: date, verbose: bool = True) -> PaymentSeedSummary:
    from chalicelib.adapters.ledger_repo import LedgerRepository
    from chalicelib.domain.access import Principal, Role
    from chalicelib.domain.money import format_micros
    from chalicelib.services.billing_settings import put_billing_settings
    from chalicelib.services.payments import add_funds
    from chalicelib.services.recharge import run_task
    from chalicelib.services.usage import QueuedMessage, record_usage

    summary = PaymentSeedSummary()
    for account_id, body in SETTINGS.items():
        put_billing_settings(Principal("seed", account_id, Role.ADMIN), account_id, body)
    for account_id, amounts in TOP_UPS.items():
        for i, amount in enumerate(amounts):
            answer = add_funds(
                Principal("seed", account_id, Role.ADMIN), account_id, {"amount": amount}, f"seed-top-up-{i}"
            )
            summary.top_ups += answer.status == 201
    ledger = LedgerRepository()
    for account_id in (OWN_1_ID, OWN_2_ID):
        # Today's number-package purchase takes the balance to 10.00, below the 15.00
        # threshold, so the demo shows a recharge that happened and one that was declined.
        balance = ledger.balance(account_id).balance_micros
        if balance <= 10_000_000:
            continue
        fee = {
            "event_id": f"seed-{account_id}-number-package-{today.isoformat()}",
            "account_id": account_id,
            "category": "number_renewals",
            "quantity": "1",
            "amount": format_micros(balance - 10_000_000),
            "occurred_at": f"{today.isoformat()}T00:00:00Z",
            "description": "Annual toll-free number package",
        }
        outcome = record_usage([QueuedMessage(fee["event_id"], json.dumps(fee), account_id)], dead_letter=_refuse)
        for task in outcome.tasks:
            if task.kind.value == "recharge":
                summary.recharges[account_id] = run_task(task).value
    if verbose:
        print(f"seed: {summary.top_ups} top-ups, recharges today: {summary.recharges or 'none new'}", flush=True)
    return summary


def _refuse(_message: object, reason: str, _raw: str) -> None:
    raise RuntimeError(f"demo payment event rejected: {reason}")
