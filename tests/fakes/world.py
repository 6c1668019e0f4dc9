"""`FakeWorld`: one `FakeStores` with the helpers every service test needs around it.

A world provisions accounts through the real `put_account`, charges usage through the real
writer (`services/usage.record_usage`, at the fake clock's time, dead letters kept), builds
event bodies, and hands out its fakes typed as the fakes (`world.ledger`, `world.mailer`, ...)
for tests that read their state. `with world.bound():` binds its stores for the block.

An area's tests subclass it for their defaults (`time_zone`, `account_name`) and
their own helpers; tests/unit/services/conftest.py builds the `world_type` each area names.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, ClassVar, NamedTuple, Self, TypeVar

from chalicelib.adapters.gateway.simulated import SimulatedGateway
from chalicelib.domain.access import Principal, Role
from chalicelib.domain.accounts import Account
from chalicelib.domain.money import MICROS_PER_UNIT
from chalicelib.domain.payments import Payment, PaymentKind, PaymentStatus
from chalicelib.services.accounts import put_account
from chalicelib.services.stores import use_stores
from chalicelib.services.usage import QueuedMessage, UsageOutcome, record_usage
from tests.fakes.accounts import FakeAccounts
from tests.fakes.alerts import FakeAlerts, FakeNotices, FakeWebhookEndpoints
from tests.fakes.housekeeping import FakeCheckpoints, FakeRateLimits
from tests.fakes.ledger import FakeAlertCounters, FakeBilling, FakeLedger, FakeRollups, LedgerTables
from tests.fakes.outside import FakeClock, FakeMailer, FakeQueues, FakeSecrets, FakeWebhooks
from tests.fakes.payments import FakeIdempotency, FakePayments
from tests.fakes.statements import FakeSchedules, FakeStatements
from tests.fakes.stores import FakeStores

SERVICE = Principal("tests", "platform", Role.SERVICE)

# Categories that carry an amount rather than a quantity.
MONEY_CATEGORIES = ("recharge", "adjustment")

_Fake = TypeVar("_Fake")


def admin(account_id: str) -> Principal:
    return Principal(f"admin@{account_id}", account_id, Role.ADMIN)


def viewer(account_id: str) -> Principal:
    return Principal(f"viewer@{account_id}", account_id, Role.VIEWER)


def message(body: str | Mapping[str, Any], group: str | None = None) -> QueuedMessage:
    """`body` as the usage queue hands it to the writer (a mapping is sent as its JSON)."""
    text = body if isinstance(body, str) else json.dumps(body)
    return QueuedMessage(message_id=uuid.uuid4().hex, body=text, group_id=group)


def event_body(
    account_id: str,
    category: str = "call_minutes",
    *,
    occurred_at: datetime | str,
    event_id: str | None = None,
    quantity: str | None = "3",
    **extra: object,
) -> dict[str, Any]:
    """A usage event as the platform sends it; metered categories carry `quantity` (unless None)."""
    body: dict[str, Any] = {
        "event_id": event_id or f"evt_{uuid.uuid4().hex[:16]}",
        "account_id": account_id,
        "category": category,
        "occurred_at": occurred_at if isinstance(occurred_at, str) else occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if quantity is not None and category not in MONEY_CATEGORIES:
        body["quantity"] = quantity
    body.update(extra)
    return body


def card_payment(
    billing_account_id: str,
    payment_id: str,
    *,
    status: PaymentStatus = PaymentStatus.SUCCEEDED,
    amount_micros: int = 20 * MICROS_PER_UNIT,
    created_at: datetime,
    **fields: Any,
) -> Payment:
    """A card payment of a balance, asked for by its own account, on the simulated gateway's visa 4242;
    `fields` sets any other field of Payment (kind MANUAL unless given)."""
    base = Payment(
        payment_id=payment_id,
        billing_account_id=billing_account_id,
        account_id=billing_account_id,
        kind=PaymentKind.MANUAL,
        amount_micros=amount_micros,
        currency="USD",
        status=status,
        card_brand="visa",
        card_last4="4242",
        created_at=created_at,
        gateway="simulated",
    )
    return replace(base, **fields)


class DeadLetter(NamedTuple):
    message_id: str
    reason: str
    raw: str


def _fake(port: object, kind: type[_Fake]) -> _Fake:
    # A test may replace a port with a fake of its own; asking for the standard one is then a mistake.
    assert isinstance(port, kind), f"this world's port is a {type(port).__name__}, not a {kind.__name__}"
    return port


class FakeWorld:
    """Every port in memory (a `FakeStores`, its default fakes unless given), and its helpers."""

    time_zone: ClassVar[str] = "UTC"  # of the accounts `provision` makes
    account_name: ClassVar[str] = "{}"  # their name, from the account id

    def __init__(self, stores: FakeStores | None = None) -> None:
        self.stores = stores or FakeStores()
        self.dead: list[DeadLetter] = []

    @contextmanager
    def bound(self) -> Iterator[Self]:
        """The world's stores bound for the block; the simulated gateway forgets its charges."""
        SimulatedGateway.reset()
        try:
            with use_stores(self.stores):
                yield self
        finally:
            SimulatedGateway.reset()

    # The fakes, typed as themselves for the tests that read their state.
    @property
    def clock(self) -> FakeClock:
        return self.stores.clock

    @property
    def secrets(self) -> FakeSecrets:
        return self.stores.secrets

    @property
    def tables(self) -> LedgerTables:
        return self.stores.tables

    @property
    def queues(self) -> FakeQueues:
        return self.stores.queues

    @property
    def mailer(self) -> FakeMailer:
        return self.stores.mailer

    @property
    def webhooks(self) -> FakeWebhooks:
        return self.stores.webhooks

    @property
    def gateway(self) -> SimulatedGateway:
        return _fake(self.stores.gateway, SimulatedGateway)

    @property
    def accounts(self) -> FakeAccounts:
        return _fake(self.stores.accounts, FakeAccounts)

    @property
    def ledger(self) -> FakeLedger:
        return _fake(self.stores.ledger, FakeLedger)

    @property
    def billing(self) -> FakeBilling:
        return _fake(self.stores.billing, FakeBilling)

    @property
    def rollups(self) -> FakeRollups:
        return _fake(self.stores.rollups, FakeRollups)

    @property
    def alert_counters(self) -> FakeAlertCounters:
        return _fake(self.stores.alert_counters, FakeAlertCounters)

    @property
    def payments(self) -> FakePayments:
        return _fake(self.stores.payments, FakePayments)

    @property
    def idempotency(self) -> FakeIdempotency:
        return _fake(self.stores.idempotency, FakeIdempotency)

    @property
    def statements(self) -> FakeStatements:
        return _fake(self.stores.statements, FakeStatements)

    @property
    def schedules(self) -> FakeSchedules:
        return _fake(self.stores.schedules, FakeSchedules)

    @property
    def alerts(self) -> FakeAlerts:
        return _fake(self.stores.alerts, FakeAlerts)

    @property
    def notices(self) -> FakeNotices:
        return _fake(self.stores.notices, FakeNotices)

    @property
    def endpoints(self) -> FakeWebhookEndpoints:
        return _fake(self.stores.webhook_endpoints, FakeWebhookEndpoints)

    @property
    def checkpoints(self) -> FakeCheckpoints:
        return _fake(self.stores.checkpoints, FakeCheckpoints)

    @property
    def rate_limits(self) -> FakeRateLimits:
        return _fake(self.stores.rate_limits, FakeRateLimits)

    # Accounts.
    def provision(self, account_id: str, **body: object) -> Account:
        """An account put by the platform's service token (the world's name and time zone unless given)."""
        fields: dict[str, object] = {"name": self.account_name.format(account_id), "time_zone": self.time_zone}
        fields.update(body)
        account, _ = put_account(SERVICE, account_id, fields)
        return account

    def family(self, agency_id: str = "agency") -> tuple[Account, Account, Account]:
        """An agency, a sub-account on its balance (shared billing) and one paying for itself."""
        agency = self.provision(agency_id, kind="agency", time_zone="America/New_York")
        shared = self.provision(f"{agency_id}-shared", agency_id=agency_id, billing="agency")
        own = self.provision(f"{agency_id}-own", agency_id=agency_id)
        return agency, shared, own

    def balance(self, account_id: str) -> int:
        return self.ledger.balance(account_id).balance_micros

    # Usage.
    def event(
        self,
        account_id: str,
        category: str = "call_minutes",
        *,
        occurred_at: datetime | str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """`event_body`, by default of an event that happened an hour before the clock's time."""
        when = occurred_at or self.clock.now - timedelta(hours=1)
        return event_body(account_id, category, occurred_at=when, **fields)

    def deliver(self, *bodies: str | Mapping[str, Any] | QueuedMessage, at: datetime | None = None) -> UsageOutcome:
        """The bodies through the ledger writer as the usage queue hands them over, posted at the
        clock's time (moved to `at` first when given); what it dead-letters is kept in `dead`."""
        if at is not None:
            self.clock.now = at
        messages = [b if isinstance(b, QueuedMessage) else message(b) for b in bodies]
        return record_usage(
            messages,
            dead_letter=lambda m, reason, raw: self.dead.append(DeadLetter(m.message_id, reason, raw)),
            clock=self.clock,
            sleep=self.clock.sleep,
        )

    def record(self, *bodies: str | Mapping[str, Any] | QueuedMessage, at: datetime | None = None) -> UsageOutcome:
        """`deliver`, and nothing may be dead-lettered."""
        outcome = self.deliver(*bodies, at=at)
        assert not self.dead, self.dead
        return outcome
