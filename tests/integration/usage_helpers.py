"""Helpers for writer tests: accounts, event bodies, and reading the ledger back."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

from chalicelib.adapters.accounts_repo import AccountRepository
from chalicelib.adapters.rollups_repo import RollupRepository
from chalicelib.domain.access import Principal, Role
from chalicelib.domain.accounts import Account
from chalicelib.domain.rollups import RollupKey, RollupTotals
from chalicelib.services.accounts import put_account
from chalicelib.services.reconcile import reconcile_all
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
    """Every invariant `make reconcile` checks, on one balance and the accounts of its scope;
    returns the balance in micros."""
    billing = account_of(billing_account_id)
    scope = billing.agency_scope or billing.account_id
    reports = reconcile_all(scope_members(scope), recheck_after=0)
    problems = [str(p) for r in reports for p in r.problems]
    assert not problems, problems
    [report] = [r for r in reports if r.billing_account_id == billing_account_id]
    return report.balance_micros


def assert_agency_consistent(agency_id: str) -> dict[str, int]:
    """`assert_ledger_consistent` over every balance of an agency; each balance in micros."""
    reports = reconcile_all(scope_members(agency_id), recheck_after=0)
    problems = [str(p) for r in reports for p in r.problems]
    assert not problems, problems
    return {r.billing_account_id: r.balance_micros for r in reports}


def account_of(account_id: str) -> Account:
    account = AccountRepository().get(account_id)
    assert account is not None
    return account


def scope_members(scope: str) -> list[Account]:
    """The accounts whose rollups are kept under `scope`: an agency and its sub-accounts, or one account."""
    repo = AccountRepository()
    owner = repo.get(scope)
    assert owner is not None
    return [owner, *repo.sub_accounts(scope)]


def rollups_of(account_id: str) -> dict[RollupKey, RollupTotals]:
    """Every rollup of one account (its whole scope read, then filtered)."""
    account = AccountRepository().get(account_id)
    assert account is not None
    today = datetime.now(UTC).date()
    stored = RollupRepository().all_of_scope(
        account.agency_scope or account_id, date(2000, 1, 1), today + timedelta(days=2)
    )
    return {k: v for k, v in stored.items() if k.account_id == account_id}
