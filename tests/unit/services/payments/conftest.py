"""Money coming in: the shared fakes (tests/fakes/world.py) with the simulated card gateway,
mail and queues; accounts are "<id> Inc" in New York."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib.domain.auto_recharge import BillingTask, TaskKind
from chalicelib.domain.payments import BillingHead, Payment
from chalicelib.services.billing_settings import put_billing_settings
from chalicelib.services.usage import UsageOutcome
from tests.fakes.world import FakeWorld, admin, message


@dataclass(frozen=True)
class Event:
    """A billing event as recorded for an endpoint's owner (a notice of `hook#<owner>`)."""

    owner: str
    event_id: str
    event_type: str
    account_id: str
    data: dict[str, Any]


class World(FakeWorld):
    time_zone = "America/New_York"
    account_name = "{} Inc"

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
        body = self.event(
            account_id,
            "adjustment",
            event_id=f"adj-{uuid.uuid4().hex[:12]}",
            occurred_at=self.clock.now,
            amount=f"-{amount}",
            description="test spend",
        )
        outcome = self.deliver(message(body, group=account_id))
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

    def head(self, account_id: str) -> BillingHead:
        return self.billing.head(account_id)

    def payments_of(self, billing_account_id: str) -> list[Payment]:
        return list(self.payments.of_billing(billing_account_id))

    def task(self, outcome: UsageOutcome, kind: TaskKind = TaskKind.RECHARGE) -> BillingTask:
        [found] = [t for t in outcome.tasks if t.kind is kind]
        return found


@pytest.fixture
def world_type() -> type[World]:
    return World
