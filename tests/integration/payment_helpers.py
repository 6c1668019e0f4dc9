"""Helpers for payment tests: funded accounts with cards, debits, and running billing tasks."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain.access import Principal, Role
from chalicelib.domain.auto_recharge import BillingTask, TaskKind
from chalicelib.services.billing_settings import put_billing_settings
from chalicelib.services.usage import UsageOutcome, record_usage

from .usage_helpers import event_body, message, new_id, provision


def never(*_: object) -> None:
    raise AssertionError("nothing should be dead-lettered")


def admin_of(account_id: str) -> Principal:
    return Principal(f"admin@{account_id}", account_id, Role.ADMIN)


def account_with_card(
    *,
    card: str = "pm_card_visa",
    backup: str | None = None,
    opening: str = "20.00",
    threshold: str = "15.00",
    amount: str = "25.00",
    alert: str | None = None,
    emails: list[str] | None = None,
    **account: Any,
) -> str:
    """An account with auto-recharge on a card; a billing address of its own unless `emails` is given."""
    account["emails"] = [f"{new_id('billing')}@example.com"] if emails is None else emails
    account_id = provision(new_id("acct"), **account)
    body: dict[str, Any] = {
        "auto_recharge_enabled": True,
        "threshold": threshold,
        "amount": amount,
        "primary_card": card,
    }
    if backup:
        body["backup_card"] = backup
    if alert:
        body["low_balance_alert"] = alert
    put_billing_settings(admin_of(account_id), account_id, body)
    if opening:
        debit(account_id, amount=None, credit=opening)
    return account_id


def debit(account_id: str, amount: str | None = "10.00", credit: str | None = None) -> UsageOutcome:
    """One charge (a one-off subscription fee of `amount`), or one credit."""
    if credit is not None:
        body = event_body(new_id("rc"), account_id, "recharge", amount=credit)
    else:
        body = event_body(new_id("fee"), account_id, "subscription_fees", quantity="1", amount=amount)
    outcome = record_usage([message(body, group=account_id)], dead_letter=never)
    assert outcome.failed_message_ids == []
    return outcome


def recharge_tasks(outcome: UsageOutcome) -> list[BillingTask]:
    return [t for t in outcome.tasks if t.kind is TaskKind.RECHARGE]


def emails_to(address: str) -> list[dict[str, Any]]:
    from .email_helpers import read_sent_emails

    return read_sent_emails(os.environ["AWS_ENDPOINT_URL"], to=address)


def now() -> datetime:
    return datetime.now(UTC)
