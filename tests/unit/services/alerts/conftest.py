"""The alerts area's service tests: the shared fakes (tests/fakes/world.py), bound with `use_stores`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.domain.accounts import Account, AccountKind, Billing
from chalicelib.services.stores import use_stores
from tests.fakes.accounts import FakeAccounts
from tests.fakes.alerts import FakeAlerts, FakeNotices, FakeWebhookEndpoints
from tests.fakes.ledger import FakeLedger, LedgerTables
from tests.fakes.outside import FakeClock, FakeMailer, FakeQueues, FakeWebhooks
from tests.fakes.stores import FakeStores
from tests.fakes.world import FakeWorld

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


# The world's fakes one by one, for the tests that read or seed one of them.
@pytest.fixture
def clock(world: FakeWorld) -> FakeClock:
    return world.clock


@pytest.fixture
def accounts(world: FakeWorld) -> FakeAccounts:
    return world.accounts


@pytest.fixture
def alerts(world: FakeWorld) -> FakeAlerts:
    return world.alerts


@pytest.fixture
def notices(world: FakeWorld) -> FakeNotices:
    return world.notices


@pytest.fixture
def endpoints(world: FakeWorld) -> FakeWebhookEndpoints:
    return world.endpoints


@pytest.fixture
def queues(world: FakeWorld) -> FakeQueues:
    return world.queues


@pytest.fixture
def mailer(world: FakeWorld) -> FakeMailer:
    return world.mailer


@pytest.fixture
def webhooks(world: FakeWorld) -> FakeWebhooks:
    return world.webhooks


@pytest.fixture
def tables(world: FakeWorld) -> LedgerTables:
    return world.tables


@pytest.fixture
def ledger(world: FakeWorld) -> FakeLedger:
    return world.ledger


@pytest.fixture
def bound(world: FakeWorld) -> FakeStores:
    """The world's stores (bound by the `world` fixture)."""
    return world.stores


def bind(**ports: Any) -> Any:
    """`use_stores` over a FakeStores of `ports` (FakeStores sets its ports by name: mypy sees no Stores)."""
    return use_stores(FakeStores(**ports))
