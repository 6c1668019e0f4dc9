"""The reports area's world: the shared fakes (tests/fakes/world.py), accounts in UTC.

Ledger data is made by the real writer (`services/usage.record_usage` on queued event bodies),
so the fakes hold what production writes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.fakes.world import FakeWorld, event_body

World = FakeWorld


def recharge(account_id: str, occurred_at: datetime, amount: str = "100") -> dict[str, Any]:
    return event_body(account_id, "recharge", occurred_at=occurred_at, amount=amount)


def usage(
    account_id: str, occurred_at: datetime, category: str = "call_minutes", quantity: str = "3"
) -> dict[str, Any]:
    return event_body(account_id, category, occurred_at=occurred_at, quantity=quantity)
