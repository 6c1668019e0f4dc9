"""The alerts area's service tests: fakes only (no DynamoDB Local, no moto), bound with `use_stores`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.domain.accounts import Account, AccountKind, Billing
from chalicelib.services.stores import use_stores
from tests.fakes.accounts import FakeAccounts
from tests.fakes.alerts import FakeAlerts, FakeNotices, FakeWebhookEndpoints
from tests.fakes.ledger import FakeAlertCounters, FakeLedger, FakeRollups, LedgerTables
from tests.fakes.outside import FakeClock, FakeMailer, FakeQueues, FakeWebhooks
from tests.fakes.stores import FakeStores

CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def account(account_id: str, **fields: Any) -> Account:
    values: dict[str, Any] = {
        "name": f"Account {account_id}",
        "kind": AccountKind.ACCOUNT,
        "time_zone": "UTC",
        "currency": "USD",
        "agency_id": None,
        "billing": Billing.OWN,
        "emails": (f"billing@{account_id}.example",),
        "created_at": CREATED,
        "updated_at": CREATED,
    }
    values.update(fields)
    return Account(account_id=account_id, **values)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def accounts() -> FakeAccounts:
    return FakeAccounts()


@pytest.fixture
def alerts(accounts: FakeAccounts) -> FakeAlerts:
    return FakeAlerts(accounts)


@pytest.fixture
def notices() -> FakeNotices:
    return FakeNotices()


@pytest.fixture
def endpoints() -> FakeWebhookEndpoints:
    return FakeWebhookEndpoints()


@pytest.fixture
def queues() -> FakeQueues:
    return FakeQueues()


@pytest.fixture
def mailer() -> FakeMailer:
    return FakeMailer()


@pytest.fixture
def webhooks() -> FakeWebhooks:
    return FakeWebhooks()


@pytest.fixture
def tables() -> LedgerTables:
    return LedgerTables()


@pytest.fixture
def ledger(tables: LedgerTables, notices: FakeNotices, clock: FakeClock) -> FakeLedger:
    return FakeLedger(tables, notices=notices, clock=clock)


@pytest.fixture
def bound(
    tables: LedgerTables,
    ledger: FakeLedger,
    accounts: FakeAccounts,
    alerts: FakeAlerts,
    notices: FakeNotices,
    endpoints: FakeWebhookEndpoints,
    queues: FakeQueues,
    mailer: FakeMailer,
    webhooks: FakeWebhooks,
    clock: FakeClock,
) -> Iterator[FakeStores]:
    fakes = FakeStores(
        ledger=ledger,
        rollups=FakeRollups(tables),
        alert_counters=FakeAlertCounters(tables),
        accounts=accounts,
        alerts=alerts,
        notices=notices,
        webhook_endpoints=endpoints,
        queues=queues,
        mailer=mailer,
        webhooks=webhooks,
        clock=clock,
    )
    with use_stores(fakes):
        yield fakes


def bind(**ports: Any) -> Any:
    """`use_stores` over a FakeStores of `ports` (FakeStores sets its ports by name: mypy sees no Stores)."""
    return use_stores(FakeStores(**ports))
