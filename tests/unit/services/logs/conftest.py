"""The Logs' service tests: fakes only (no DynamoDB Local, no moto), bound with `use_stores`.

`world` binds the fakes Logs read (accounts, the ledger's tables) and those the writer needs.
Entries are made by the real writer (`services/usage.record_usage` on queued event bodies), posted
at the fake clock's time, so the Logs pages the fakes hold are the ones production writes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import pytest

from chalicelib.domain.access import Principal, Role
from chalicelib.domain.accounts import Account
from chalicelib.services.accounts import put_account
from chalicelib.services.billing_settings import put_billing_settings
from chalicelib.services.ports import (
    AccountStore,
    AlertCounterStore,
    BillingStore,
    LedgerStore,
    RollupStore,
    Stores,
    WebhookEndpointStore,
)
from chalicelib.services.stores import use_stores
from chalicelib.services.usage import QueuedMessage, UsageOutcome, record_usage
from tests.fakes.accounts import FakeAccounts
from tests.fakes.alerts import FakeWebhookEndpoints
from tests.fakes.ledger import FakeAlertCounters, FakeBilling, FakeLedger, FakeRollups, LedgerTables
from tests.fakes.outside import FakeClock, FakeSecrets
from tests.fakes.stores import FakeStores

SERVICE = Principal("tests", "platform", Role.SERVICE)


def viewer(account_id: str) -> Principal:
    return Principal(f"viewer@{account_id}", account_id, Role.VIEWER)


def admin(account_id: str) -> Principal:
    return Principal(f"admin@{account_id}", account_id, Role.ADMIN)


@dataclass
class World:
    clock: FakeClock
    secrets: FakeSecrets
    tables: LedgerTables
    accounts: FakeAccounts
    ledger: FakeLedger
    stores: FakeStores
    dead: list[tuple[str, str]] = field(default_factory=list)  # (reason, raw body)

    def provision(self, account_id: str, **body: object) -> Account:
        account, _ = put_account(SERVICE, account_id, {"name": f"Account {account_id}", "time_zone": "UTC", **body})
        return account

    def family(self, agency_id: str = "agency") -> tuple[Account, Account, Account]:
        """An agency, a sub-account on its balance (shared billing) and one paying for itself."""
        agency = self.provision(agency_id, kind="agency", time_zone="America/New_York")
        shared = self.provision(f"{agency_id}-shared", agency_id=agency_id, billing="agency")
        own = self.provision(f"{agency_id}-own", agency_id=agency_id)
        return agency, shared, own

    def share_balance(self, agency_id: str, shared: bool) -> None:
        put_billing_settings(admin(agency_id), agency_id, {"share_balance_with_sub_accounts": shared})

    def record(self, *events: dict[str, Any], at: datetime | None = None) -> UsageOutcome:
        """The events through the ledger writer (posted now, or `at`); nothing may be refused."""
        if at is not None:
            self.clock.now = at
        messages = [QueuedMessage(uuid.uuid4().hex, json.dumps(e)) for e in events]
        outcome = record_usage(
            messages,
            dead_letter=lambda _m, reason, raw: self.dead.append((reason, raw)),
            clock=self.clock,
            sleep=self.clock.sleep,
        )
        assert not self.dead, self.dead
        return outcome


def usage(
    account_id: str,
    category: str = "call_minutes",
    quantity: str = "3",
    *,
    event_id: str | None = None,
    occurred_at: str = "2026-03-01T09:00:00Z",
    **extra: object,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": event_id or f"evt_{uuid.uuid4().hex[:16]}",
        "account_id": account_id,
        "category": category,
        "occurred_at": occurred_at,
    }
    if category not in ("recharge", "adjustment"):
        body["quantity"] = quantity
    body.update(extra)
    return body


def credit(account_id: str, amount: str = "100", *, event_id: str | None = None) -> dict[str, Any]:
    return usage(account_id, "recharge", event_id=event_id, amount=amount)


def build_world() -> World:
    clock, secrets, tables = FakeClock(), FakeSecrets(), LedgerTables()
    accounts, ledger = FakeAccounts(), FakeLedger(tables, clock=clock)
    billing, rollups, counters = FakeBilling(tables), FakeRollups(tables), FakeAlertCounters(tables)
    endpoints = FakeWebhookEndpoints()  # the billing settings' page reads the account's webhook
    # The fakes are the ports (mypy checks each against its Protocol here).
    ports: tuple[AccountStore, LedgerStore, BillingStore, RollupStore, AlertCounterStore, WebhookEndpointStore] = (
        accounts,
        ledger,
        billing,
        rollups,
        counters,
        endpoints,
    )
    assert ports
    stores = FakeStores(
        accounts=accounts,
        ledger=ledger,
        billing=billing,
        rollups=rollups,
        alert_counters=counters,
        webhook_endpoints=endpoints,
        secrets=secrets,
        clock=clock,
    )
    return World(clock, secrets, tables, accounts, ledger, stores)


@contextmanager
def bound(world: World) -> Iterator[World]:
    """`world`'s fakes bound for the block (hypothesis tests build a world per example)."""
    # FakeStores sets its ports by name (mypy cannot see them): the typed tuple above checks the fakes.
    with use_stores(cast(Stores, world.stores)):
        yield world


@pytest.fixture
def world() -> Iterator[World]:
    with bound(build_world()) as built:
        yield built
