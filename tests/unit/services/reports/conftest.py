"""The reports area's service tests: fakes only (no DynamoDB Local, no moto), bound with `use_stores`.

`world` binds every fake these services read: accounts, the ledger's tables (tests/fakes/ledger.py),
reconcile checkpoints and rate limits. Ledger data is made by the real writer
(`services/usage.record_usage` on queued event bodies), so the fakes hold what production writes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from chalicelib.domain.access import Principal, Role
from chalicelib.domain.accounts import Account
from chalicelib.services.accounts import put_account
from chalicelib.services.ports import (
    AccountStore,
    AlertCounterStore,
    BillingStore,
    CheckpointStore,
    LedgerStore,
    PaymentStore,
    RateLimitStore,
    RollupStore,
    StatementStore,
)
from chalicelib.services.stores import use_stores
from chalicelib.services.usage import QueuedMessage, UsageOutcome, record_usage
from tests.fakes.accounts import FakeAccounts
from tests.fakes.housekeeping import FakeCheckpoints, FakeRateLimits
from tests.fakes.ledger import FakeAlertCounters, FakeBilling, FakeLedger, FakeRollups, LedgerTables
from tests.fakes.outside import FakeClock, FakeSecrets
from tests.fakes.payments import FakePayments
from tests.fakes.statements import FakeStatements
from tests.fakes.stores import FakeStores

SERVICE = Principal("tests", "platform", Role.SERVICE)


def viewer(account_id: str, role: Role = Role.VIEWER) -> Principal:
    return Principal(f"user@{account_id}", account_id, role)


@dataclass
class World:
    clock: FakeClock
    secrets: FakeSecrets
    tables: LedgerTables
    accounts: FakeAccounts
    ledger: FakeLedger
    billing: FakeBilling
    rollups: FakeRollups
    checkpoints: FakeCheckpoints
    rate_limits: FakeRateLimits
    payments: FakePayments
    statements: FakeStatements
    stores: FakeStores
    dead: list[tuple[str, str]] = field(default_factory=list)  # (reason, raw body)

    def provision(self, account_id: str, **body: object) -> Account:
        account, _ = put_account(SERVICE, account_id, {"name": account_id, "time_zone": "UTC", **body})
        return account

    def record(self, *events: dict[str, Any]) -> UsageOutcome:
        """Each event through the ledger writer, as the usage queue hands it over; nothing may be refused."""
        messages = [QueuedMessage(uuid.uuid4().hex, json.dumps(e)) for e in events]
        outcome = record_usage(
            messages,
            dead_letter=lambda _m, reason, raw: self.dead.append((reason, raw)),
            clock=self.clock,
            sleep=self.clock.sleep,
        )
        assert not self.dead, self.dead
        return outcome


def event(
    account_id: str,
    occurred_at: datetime,
    category: str = "call_minutes",
    quantity: str | None = None,
    **extra: object,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": f"evt_{uuid.uuid4().hex[:16]}",
        "account_id": account_id,
        "category": category,
        "occurred_at": occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if quantity is not None:
        body["quantity"] = quantity
    body.update(extra)
    return body


def recharge(account_id: str, occurred_at: datetime, amount: str = "100") -> dict[str, Any]:
    return event(account_id, occurred_at, "recharge", amount=amount)


def usage(
    account_id: str, occurred_at: datetime, category: str = "call_minutes", quantity: str = "3"
) -> dict[str, Any]:
    return event(account_id, occurred_at, category, quantity)


def build_world() -> World:
    clock, secrets, tables = FakeClock(), FakeSecrets(), LedgerTables()
    accounts = FakeAccounts()
    ledger = FakeLedger(tables, clock=clock)
    billing, rollups, counters = FakeBilling(tables), FakeRollups(tables), FakeAlertCounters(tables)
    checkpoints, rate_limits = FakeCheckpoints(), FakeRateLimits()
    payments, statements = FakePayments(), FakeStatements(key=secrets.ledger)
    # The fakes are the ports (mypy checks each against its Protocol here).
    ports: tuple[
        AccountStore,
        LedgerStore,
        BillingStore,
        RollupStore,
        AlertCounterStore,
        CheckpointStore,
        RateLimitStore,
        PaymentStore,
        StatementStore,
    ] = (accounts, ledger, billing, rollups, counters, checkpoints, rate_limits, payments, statements)
    assert ports
    stores = FakeStores(
        accounts=accounts,
        ledger=ledger,
        billing=billing,
        rollups=rollups,
        alert_counters=counters,
        checkpoints=checkpoints,
        rate_limits=rate_limits,
        payments=payments,
        statements=statements,
        secrets=secrets,
        clock=clock,
    )
    return World(
        clock,
        secrets,
        tables,
        accounts,
        ledger,
        billing,
        rollups,
        checkpoints,
        rate_limits,
        payments,
        statements,
        stores,
    )


@contextmanager
def bound(world: World) -> Iterator[World]:
    """`world`'s fakes bound for the block (hypothesis tests build a world per example)."""
    # FakeStores sets its ports by name (mypy cannot see them): the typed tuple above checks the fakes.
    with use_stores(world.stores):
        yield world


@pytest.fixture
def world() -> Iterator[World]:
    with bound(build_world()) as built:
        yield built


@pytest.fixture
def clock(world: World) -> FakeClock:
    return world.clock


@pytest.fixture
def secrets(world: World) -> FakeSecrets:
    return world.secrets


@pytest.fixture
def rate_limits(world: World) -> FakeRateLimits:
    return world.rate_limits


@pytest.fixture
def checkpoints(world: World) -> FakeCheckpoints:
    return world.checkpoints


@pytest.fixture
def housekeeping(world: World) -> FakeStores:
    return world.stores
