"""Helpers for writer tests: accounts, event bodies, and reading the ledger back."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from chalicelib.adapters.accounts_repo import AccountRepository
from chalicelib.adapters.ledger_repo import LedgerRepository
from chalicelib.domain.access import Principal, Role
from chalicelib.domain.reconcile import check_chain
from chalicelib.services.accounts import put_account
from chalicelib.services.reconcile import reconcile_rollups
from chalicelib.services.usage import QueuedMessage

SERVICE = Principal("tests", "platform", Role.SERVICE)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def provision(account_id: str, **body: object) -> str:
    put_account(SERVICE, account_id, {"name": account_id, "time_zone": "America/New_York", **body})
    return account_id


def event_body(event_id: str, account_id: str, category: str = "call_minutes", **extra: object) -> str:
    occurred = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    data: dict[str, object] = {
        "event_id": event_id,
        "account_id": account_id,
        "category": category,
        "occurred_at": occurred,
    }
    if category not in ("recharge", "adjustment"):
        data.setdefault("quantity", "3")
    data.update(extra)
    return json.dumps(data)


def message(body: str, group: str | None = None) -> QueuedMessage:
    return QueuedMessage(message_id=uuid.uuid4().hex, body=body, group_id=group)


def assert_ledger_consistent(billing_account_id: str) -> int:
    """Invariants 1-4 on the stored ledger; returns the balance in micros."""
    ledger = LedgerRepository()
    head = ledger.balance(billing_account_id)
    entries = list(ledger.chain(billing_account_id))
    report = check_chain(head, entries)
    assert report.ok, report.problems
    for account_id in {e.account_id for e in entries}:
        account = AccountRepository().get(account_id)
        assert account is not None
        assert reconcile_rollups(account, recheck_after=0) == []
    return head.balance_micros
