"""The ledger writer's world in memory: accounts, the ledger's tables and the fakes over them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from chalicelib.domain.access import Principal, Role
from chalicelib.domain.accounts import Account
from chalicelib.services.accounts import put_account
from chalicelib.services.ports import (
    AccountStore,
    AlertCounterStore,
    BillingStore,
    LedgerStore,
    RollupStore,
)
from chalicelib.services.stores import use_stores
from chalicelib.services.usage import QueuedMessage, UsageOutcome, record_usage
from tests.fakes.accounts import FakeAccounts
from tests.fakes.ledger import FakeAlertCounters, FakeBilling, FakeLedger, FakeRollups, LedgerTables
from tests.fakes.outside import FakeClock
from tests.fakes.stores import FakeStores

SERVICE = Principal("tests", "platform", Role.SERVICE)


@dataclass
class World:
    clock: FakeClock
    tables: LedgerTables
    accounts: FakeAccounts
    ledger: FakeLedger
    billing: FakeBilling
    rollups: FakeRollups
    counters: FakeAlertCounters
    stores: FakeStores
    dead: list[tuple[str, str, str]] = field(default_factory=list)  # (message id, reason, raw)

    def provision(self, account_id: str, **body: object) -> Account:
        account, _ = put_account(SERVICE, account_id, {"name": account_id, "time_zone": "America/New_York", **body})
        return account

    def event(self, event_id: str, account_id: str, category: str = "call_minutes", **extra: object) -> str:
        data: dict[str, object] = {
            "event_id": event_id,
            "account_id": account_id,
            "category": category,
            "occurred_at": (self.clock.now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if category not in ("recharge", "adjustment"):
            data["quantity"] = "3"
        data.update(extra)
        return json.dumps(data)

    def record(self, *bodies: str | QueuedMessage) -> UsageOutcome:
        messages = [b if isinstance(b, QueuedMessage) else message(b) for b in bodies]
        return record_usage(
            messages,
            dead_letter=lambda m, reason, raw: self.dead.append((m.message_id, reason, raw)),
            clock=self.clock,
            sleep=self.clock.sleep,
        )


def message(body: str, group: str | None = None) -> QueuedMessage:
    return QueuedMessage(message_id=uuid.uuid4().hex, body=body, group_id=group)


def build_world(ledger_type: type[FakeLedger] = FakeLedger) -> World:
    clock = FakeClock()
    tables = LedgerTables()
    accounts = FakeAccounts()
    ledger = ledger_type(tables, clock=clock)
    billing, rollups, counters = FakeBilling(tables), FakeRollups(tables), FakeAlertCounters(tables)
    # The fakes are the ports (mypy checks each against its Protocol here).
    ports: tuple[AccountStore, LedgerStore, BillingStore, RollupStore, AlertCounterStore] = (
        accounts,
        ledger,
        billing,
        rollups,
        counters,
    )
    assert ports
    stores = FakeStores(
        accounts=accounts, ledger=ledger, billing=billing, rollups=rollups, alert_counters=counters, clock=clock
    )
    return World(clock, tables, accounts, ledger, billing, rollups, counters, stores)


@contextmanager
def bound(ledger_type: type[FakeLedger] = FakeLedger) -> Iterator[World]:
    built = build_world(ledger_type)
    # FakeStores sets its ports by name (mypy cannot see them): the typed tuple above checks the fakes.
    with use_stores(built.stores):
        yield built


@pytest.fixture
def world() -> Iterator[World]:
    with bound() as built:
        yield built
