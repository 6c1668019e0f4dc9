"""Money coming in, in memory: accounts, the ledger's tables, payments, idempotency keys, the
simulated card gateway, mail and queues, bound as the stores for each test."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import pytest

from chalicelib.adapters.gateway.simulated import SimulatedGateway
from chalicelib.adapters.webhook_endpoints_repo import Endpoint
from chalicelib.domain.access import Principal, Role
from chalicelib.domain.accounts import Account
from chalicelib.domain.auto_recharge import BillingTask, TaskKind
from chalicelib.domain.payments import BillingHead, Payment
from chalicelib.services.accounts import put_account
from chalicelib.services.billing_settings import put_billing_settings
from chalicelib.services.ports import (
    AccountStore,
    AlertCounterStore,
    BillingStore,
    IdempotencyStore,
    LedgerStore,
    PaymentStore,
    RateLimitStore,
    Stores,
    WebhookEndpointStore,
)
from chalicelib.services.stores import use_stores
from chalicelib.services.usage import QueuedMessage, UsageOutcome, record_usage
from tests.fakes.accounts import FakeAccounts
from tests.fakes.ledger import FakeAlertCounters, FakeBilling, FakeLedger, LedgerTables
from tests.fakes.outside import FakeClock, FakeMailer, FakeQueues
from tests.fakes.payments import FakeIdempotency, FakePayments
from tests.fakes.stores import FakeStores

SERVICE = Principal("tests", "platform", Role.SERVICE)


# Stand-ins for ports whose fakes other branches hold (wt/alerts: FakeWebhookEndpoints and
# FakeNotices; wt/reports: FakeRateLimits); each keeps only what these tests need.
@dataclass
class Endpoints:
    """WebhookEndpointStore: one endpoint per account."""

    endpoints: dict[str, Endpoint] = field(default_factory=dict)

    def get(self, account_id: str) -> Endpoint | None:
        return self.endpoints.get(account_id)

    def get_many(self, account_ids: Iterable[str]) -> dict[str, Endpoint]:
        return {i: self.endpoints[i] for i in sorted(set(account_ids)) if i in self.endpoints}

    def put(self, account_id: str, url: str, secret: str, now: datetime) -> None:
        self.endpoints[account_id] = Endpoint(account_id, url, secret)

    def delete(self, account_id: str) -> None:
        self.endpoints.pop(account_id, None)


@dataclass(frozen=True)
class Event:
    owner: str
    event_id: str
    event_type: str
    account_id: str
    data: dict[str, Any]


@dataclass
class Events:
    """The notices table as far as billing events go: one notice per (owner, event id)."""

    recorded: list[Event] = field(default_factory=list)

    def record_event(
        self,
        endpoint_owner: str,
        event_id: str,
        event_type: str,
        account_id: str,
        data: Mapping[str, Any],
        created_at: datetime,
    ) -> bool:
        if any(e.owner == endpoint_owner and e.event_id == event_id for e in self.recorded):
            return False
        self.recorded.append(Event(endpoint_owner, event_id, event_type, account_id, dict(data)))
        return True

    def of_type(self, event_type: str) -> list[Event]:
        return [e for e in self.recorded if e.event_type == event_type]


@dataclass
class Limits:
    """RateLimitStore: a counter per window key, refused once full."""

    hits: dict[str, int] = field(default_factory=dict)

    def hit(self, key: str, max_requests: int, window_end: int) -> bool:
        if self.hits.get(key, 0) >= max_requests:
            return False
        self.hits[key] = self.hits.get(key, 0) + 1
        return True


@dataclass
class World:
    clock: FakeClock
    tables: LedgerTables
    accounts: FakeAccounts
    ledger: FakeLedger
    billing: FakeBilling
    payments: FakePayments
    idempotency: FakeIdempotency
    endpoints: Endpoints
    events: Events
    limits: Limits
    gateway: SimulatedGateway
    mailer: FakeMailer
    queues: FakeQueues
    stores: FakeStores
    dead: list[tuple[str, str]] = field(default_factory=list)

    def provision(self, account_id: str, **body: object) -> Account:
        fields: dict[str, object] = {"name": f"{account_id} Inc", "time_zone": "America/New_York"}
        fields.update(body)
        account, _ = put_account(SERVICE, account_id, fields)
        return account

    def settings(self, account_id: str, **body: object) -> dict[str, Any]:
        return put_billing_settings(admin(account_id), account_id, dict(body))

    def with_auto_recharge(
        self, account_id: str, primary: str = "pm_card_visa", backup: str | None = None, **body: object
    ) -> dict[str, Any]:
        return self.settings(
            account_id,
            auto_recharge_enabled=True,
            primary_card=primary,
            **({"backup_card": backup} if backup else {}),
            **body,
        )

    def spend(self, account_id: str, amount: str) -> UsageOutcome:
        """A debit of exactly `amount` (an adjustment), as the usage worker records it."""
        body = {
            "event_id": f"adj-{uuid.uuid4().hex[:12]}",
            "account_id": account_id,
            "category": "adjustment",
            "amount": f"-{amount}",
            "description": "test spend",
            "occurred_at": self.clock.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        outcome = record_usage(
            [QueuedMessage(uuid.uuid4().hex, json.dumps(body), account_id)],
            dead_letter=lambda m, reason, _raw: self.dead.append((m.message_id, reason)),
            clock=self.clock,
            sleep=self.clock.sleep,
        )
        assert outcome.charged == 1, outcome
        return outcome

    def balance(self, account_id: str) -> int:
        return self.ledger.balance(account_id).balance_micros

    def head(self, account_id: str) -> BillingHead:
        return self.billing.head(account_id)

    def payments_of(self, billing_account_id: str) -> list[Payment]:
        return list(self.payments.of_billing(billing_account_id))

    def task(self, outcome: UsageOutcome, kind: TaskKind = TaskKind.RECHARGE) -> BillingTask:
        [found] = [t for t in outcome.tasks if t.kind is kind]
        return found


def admin(account_id: str) -> Principal:
    return Principal(f"admin@{account_id}", account_id, Role.ADMIN)


def viewer(account_id: str) -> Principal:
    return Principal(f"viewer@{account_id}", account_id, Role.VIEWER)


def build_world() -> World:
    clock = FakeClock()
    tables = LedgerTables()
    accounts = FakeAccounts()
    ledger = FakeLedger(tables, clock=clock)
    billing, counters = FakeBilling(tables), FakeAlertCounters(tables)
    payments, idempotency = FakePayments(), FakeIdempotency()
    endpoints, events, limits = Endpoints(), Events(), Limits()
    # The fakes are the ports (mypy checks each against its Protocol here).
    ports: tuple[
        AccountStore,
        LedgerStore,
        BillingStore,
        AlertCounterStore,
        PaymentStore,
        IdempotencyStore,
        WebhookEndpointStore,
        RateLimitStore,
    ] = (accounts, ledger, billing, counters, payments, idempotency, endpoints, limits)
    assert ports
    gateway, mailer, queues = SimulatedGateway(), FakeMailer(), FakeQueues()
    stores = FakeStores(
        accounts=accounts,
        ledger=ledger,
        billing=billing,
        alert_counters=counters,
        payments=payments,
        idempotency=idempotency,
        webhook_endpoints=endpoints,
        notices=events,
        rate_limits=limits,
        gateway=gateway,
        mailer=mailer,
        queues=queues,
        clock=clock,
    )
    return World(
        clock, tables, accounts, ledger, billing, payments, idempotency, endpoints, events, limits, gateway, mailer,
        queues, stores,
    )  # fmt: skip


@pytest.fixture
def world() -> Iterator[World]:
    SimulatedGateway.reset()
    built = build_world()
    # FakeStores sets its ports by name (mypy cannot see them): the typed tuple above checks the fakes.
    with use_stores(cast(Stores, built.stores)):
        yield built
    SimulatedGateway.reset()
