"""Helpers for statement tests: ledgers written at chosen posting times, and the statements queue."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.config import get_settings
from chalicelib.domain.payments import Payment, PaymentKind, PaymentStatus
from chalicelib.services.statements import SendOutcome, process_message
from chalicelib.services.usage import QueuedMessage, record_usage

from .http_helpers import drain_queue


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def never(*_: object) -> None:
    raise AssertionError("nothing should be dead-lettered")


def post_at(posted: datetime, events: Iterable[dict[str, Any]]) -> None:
    """Write events to the ledger as if the writer ran at `posted` (their posting time)."""
    messages = [QueuedMessage(uuid.uuid4().hex, json.dumps(e), "g") for e in events]
    outcome = record_usage(messages, dead_letter=never, clock=lambda: posted)
    assert not outcome.failed_message_ids, outcome


def event(account_id: str, category: str, occurred: datetime, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": f"evt_{uuid.uuid4().hex[:16]}",
        "account_id": account_id,
        "category": category,
        "occurred_at": iso(occurred),
    }
    if category not in ("recharge", "adjustment"):
        body["quantity"] = "3"
    body.update(extra)
    return body


def card_payment(
    billing_account_id: str, amount_micros: int, created_at: datetime, status: PaymentStatus = PaymentStatus.SUCCEEDED
) -> Payment:
    """A card payment as the payments service records it (the ledger credit is written separately)."""
    from chalicelib.adapters.accounts_repo import AccountRepository
    from chalicelib.adapters.payments_repo import PaymentRepository

    payments = PaymentRepository()
    payer = AccountRepository().get(billing_account_id)
    payment = Payment(
        payment_id=f"pay_t{uuid.uuid4().hex[:18]}",
        billing_account_id=billing_account_id,
        account_id=billing_account_id,
        kind=PaymentKind.AUTO_RECHARGE,
        amount_micros=amount_micros,
        currency="USD",
        status=PaymentStatus.PENDING,
        card_brand="visa",
        card_last4="4242",
        created_at=created_at,
        gateway="simulated",
        agency_id=payer.agency_id if payer else None,
    )
    payments.create_pending(payment)
    failure = {"failure_code": "card_declined", "failure_reason": "Declined"} if status is PaymentStatus.FAILED else {}
    return payments.finish(payment.payment_id, status, created_at, gateway_reference="ch_test", **failure)


def run_statement_queue(
    clock: Callable[[], datetime] = lambda: datetime.now(UTC), send: Callable[..., str] | None = None
) -> list[SendOutcome]:
    """Deliver every message on the statements queue to the sender, as the Lambda would."""
    outcomes = []
    for message in drain_queue(get_settings().statements_queue_name):
        outcomes.append(process_message(message["Body"], clock=clock, send=send))
    return outcomes


def last_month(now: datetime, zone: Any) -> tuple[datetime, datetime]:
    """The first and last local days of the month before `now`'s, as local midnights."""
    local = now.astimezone(zone)
    first_this = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_prev = first_this - timedelta(days=1)
    return last_prev.replace(day=1), last_prev
