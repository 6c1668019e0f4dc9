"""The statements area's world in memory: accounts, the ledger's tables, payments, statements,
schedules, mail and queues as fakes (no DynamoDB Local, no moto), bound with `use_stores`.

Balances and rollups are made the way production makes them: usage events through
`record_usage` (the ledger writer), so a statement is built from what the writer left.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.access import Principal, Role
from chalicelib.domain.accounts import Account
from chalicelib.services.accounts import put_account
from chalicelib.services.ports import (
    AccountStore,
    AlertCounterStore,
    BillingStore,
    LedgerStore,
    NoticeStore,
    PaymentStore,
    RateLimitStore,
    RollupStore,
    ScheduleStore,
    StatementStore,
    WebhookEndpointStore,
)
from chalicelib.services.stores import use_stores
from chalicelib.services.usage import QueuedMessage, UsageOutcome, record_usage
from tests.fakes.accounts import FakeAccounts
from tests.fakes.alerts import FakeNotices, FakeWebhookEndpoints
from tests.fakes.housekeeping import FakeRateLimits
from tests.fakes.ledger import FakeAlertCounters, FakeBilling, FakeLedger, FakeRollups, LedgerTables
from tests.fakes.outside import FakeClock, FakeMailer, FakeQueues
from tests.fakes.payments import FakePayments
from tests.fakes.statements import FakeSchedules, FakeStatements
from tests.fakes.stores import FakeStores

SERVICE = Principal("tests", "platform", Role.SERVICE)


def admin(account_id: str) -> Principal:
    return Principal(f"admin-of-{account_id}", account_id, Role.ADMIN)


def viewer(account_id: str) -> Principal:
    return Principal(f"viewer-of-{account_id}", account_id, Role.VIEWER)


@dataclass
class World:
    clock: FakeClock
    accounts: FakeAccounts
    ledger: FakeLedger
    rollups: FakeRollups
    payments: FakePayments
    statements: FakeStatements
    schedules: FakeSchedules
    mailer: FakeMailer
    queues: FakeQueues
    endpoints: FakeWebhookEndpoints
    notices: FakeNotices
    stores: FakeStores
    dead: list[tuple[str, str]] = field(default_factory=list)

    def provision(self, account_id: str, **body: object) -> Account:
        account, _ = put_account(SERVICE, account_id, {"name": account_id, "time_zone": "Europe/Berlin", **body})
        return account

    def event(self, account_id: str, occurred_at: datetime, category: str = "call_minutes", **extra: object) -> str:
        data: dict[str, object] = {
            "event_id": uuid.uuid4().hex,
            "account_id": account_id,
            "category": category,
            "occurred_at": occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if category not in ("recharge", "adjustment"):
            data["quantity"] = "3"
        data.update(extra)
        return json.dumps(data)

    def record(self, *bodies: str) -> UsageOutcome:
        """Charge the events now (the clock's time), as the usage queue's consumer does."""
        messages = [QueuedMessage(message_id=uuid.uuid4().hex, body=b, group_id=None) for b in bodies]
        outcome = record_usage(
            messages,
            dead_letter=lambda m, reason, raw: self.dead.append((reason, raw)),
            clock=self.clock,
            sleep=self.clock.sleep,
        )
        assert not self.dead, self.dead
        return outcome

    def record_at(self, posted_at: datetime, *bodies: str) -> UsageOutcome:
        """Charge the events as if the consumer ran at `posted_at`; the clock comes back after."""
        now = self.clock.now
        self.clock.now = posted_at
        try:
            return self.record(*bodies)
        finally:
            self.clock.now = now

    def balance(self, account_id: str) -> int:
        return self.ledger.balance(account_id).balance_micros


def build_world() -> World:
    clock = FakeClock()
    tables = LedgerTables()
    accounts = FakeAccounts()
    notices = FakeNotices()
    ledger = FakeLedger(tables, clock=clock)
    billing, rollups, counters = FakeBilling(tables), FakeRollups(tables), FakeAlertCounters(tables)
    payments, statements, schedules = FakePayments(), FakeStatements(), FakeSchedules()
    endpoints, rate_limits = FakeWebhookEndpoints(), FakeRateLimits()
    # The fakes are the ports: mypy checks each against its Protocol here.
    ports: tuple[
        AccountStore,
        LedgerStore,
        BillingStore,
        RollupStore,
        AlertCounterStore,
        PaymentStore,
        StatementStore,
        ScheduleStore,
        WebhookEndpointStore,
        NoticeStore,
        RateLimitStore,
    ] = (accounts, ledger, billing, rollups, counters, payments, statements, schedules, endpoints, notices, rate_limits)
    assert ports
    mailer, queues = FakeMailer(), FakeQueues()
    stores = FakeStores(
        accounts=accounts,
        ledger=ledger,
        billing=billing,
        rollups=rollups,
        alert_counters=counters,
        payments=payments,
        statements=statements,
        schedules=schedules,
        webhook_endpoints=endpoints,
        notices=notices,
        rate_limits=rate_limits,
        mailer=mailer,
        queues=queues,
        clock=clock,
    )
    return World(
        clock, accounts, ledger, rollups, payments, statements, schedules, mailer, queues, endpoints, notices, stores
    )


@pytest.fixture
def world() -> Iterator[World]:
    built = build_world()
    # FakeStores sets its ports by name (mypy cannot see them): the typed tuple above checks the fakes.
    with use_stores(built.stores):
        yield built


def days(n: float) -> timedelta:
    return timedelta(days=n)


Json = dict[str, Any]
