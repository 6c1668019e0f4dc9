"""Money coming in, in memory: accounts, the ledger's tables, payments, idempotency keys, the
simulated card gateway, mail and queues, bound as the stores for each test."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from chalicelib.adapters.gateway.simulated import SimulatedGateway
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
    WebhookEndpointStore,
)
from chalicelib.services.stores import use_stores
from chalicelib.services.usage import QueuedMessage, UsageOutcome, record_usage
from tests.fakes.accounts import FakeAccounts
from tests.fakes.alerts import FakeNotices, FakeWebhookEndpoints
from tests.fakes.housekeeping import FakeRateLimits
from tests.fakes.ledger import FakeAlertCounters, FakeBilling, FakeLedger, LedgerTables
from tests.fakes.outside import FakeClock, FakeMailer, FakeQueues
from tests.fakes.payments import FakeIdempotency, FakePayments
from tests.fakes.stores import FakeStores

SERVICE = Principal("tests", "platform", Role.SERVICE)


@dataclass(frozen=True)
class Event:
    """A billing event as recorded for an endpoint's owner (a notice of `hook#<owner>`)."""

    owner: str
    event_id: str
    event_type: str
    account_id: str
    data: dict[str, Any]


@dataclass
class World:
    clock: FakeClock
    tables: LedgerTables
    accounts: FakeAccounts
    ledger: FakeLedger
    billing: FakeBilling
    payments: FakePayments
    idempotency: FakeIdempotency
    endpoints: FakeWebhookEndpoints
    notices: FakeNotices
    limits: FakeRateLimits
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

    def events(self, event_type: str | None = None) -> list[Event]:
        """The billing events recorded for webhook endpoints, oldest first (of one type when given)."""
        return [
            Event(
                owner.removeprefix("hook#"), notice_id, item["event_type"], item["account_id"], json.loads(item["data"])
            )
            for (owner, notice_id), item in self.notices.items.items()
            if owner.startswith("hook#") and event_type in (None, item["event_type"])
        ]

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
    endpoints, notices, limits = FakeWebhookEndpoints(), FakeNotices(), FakeRateLimits()
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
        notices=notices,
        rate_limits=limits,
        gateway=gateway,
        mailer=mailer,
        queues=queues,
        clock=clock,
    )
    return World(
        clock, tables, accounts, ledger, billing, payments, idempotency, endpoints, notices, limits, gateway, mailer,
        queues, stores,
    )  # fmt: skip


@pytest.fixture
def world() -> Iterator[World]:
    SimulatedGateway.reset()
    built = build_world()
    # FakeStores sets its ports by name (mypy cannot see them): the typed tuple above checks the fakes.
    with use_stores(built.stores):
        yield built
    SimulatedGateway.reset()
