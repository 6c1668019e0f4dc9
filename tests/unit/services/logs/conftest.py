"""The Logs' world: the shared fakes (tests/fakes/world.py), accounts "Account <id>" in UTC.

Entries are made by the real writer (`services/usage.record_usage` on queued event bodies), posted
at the fake clock's time, so the Logs pages the fakes hold are the ones production writes.
"""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.services.billing_settings import put_billing_settings
from tests.fakes.world import FakeWorld, admin, event_body

OCCURRED_AT = "2026-03-01T09:00:00Z"  # when the Logs' events happened unless told


class World(FakeWorld):
    account_name = "Account {}"

    def share_balance(self, agency_id: str, shared: bool) -> None:
        put_billing_settings(admin(agency_id), agency_id, {"share_balance_with_sub_accounts": shared})


@pytest.fixture
def world_type() -> type[World]:
    return World


def usage(
    account_id: str,
    category: str = "call_minutes",
    quantity: str = "3",
    *,
    occurred_at: str = OCCURRED_AT,
    **extra: Any,
) -> dict[str, Any]:
    return event_body(account_id, category, occurred_at=occurred_at, quantity=quantity, **extra)


def credit(account_id: str, amount: str = "100", *, event_id: str | None = None) -> dict[str, Any]:
    return usage(account_id, "recharge", event_id=event_id, amount=amount)
