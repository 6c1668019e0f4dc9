"""The statements area's world: the shared fakes (tests/fakes/world.py), accounts in Berlin.

Balances and rollups are made the way production makes them: usage events through
`record_usage` (the ledger writer), so a statement is built from what the writer left.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest

from chalicelib.services.usage import UsageOutcome
from tests.fakes.world import FakeWorld


class World(FakeWorld):
    time_zone = "Europe/Berlin"

    def record_at(self, posted_at: datetime, *bodies: Mapping[str, Any]) -> UsageOutcome:
        """Charge the events as if the consumer ran at `posted_at`; the clock comes back after."""
        now = self.clock.now
        try:
            return self.record(*bodies, at=posted_at)
        finally:
            self.clock.now = now


@pytest.fixture
def world_type() -> type[World]:
    return World


def days(n: float) -> timedelta:
    return timedelta(days=n)


Json = dict[str, Any]
