"""The ledger writer's world: the shared fakes (tests/fakes/world.py), accounts in New York."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.fakes.alerts import FakeNotices
from tests.fakes.ledger import FakeLedger, LedgerTables
from tests.fakes.outside import FakeClock
from tests.fakes.stores import FakeStores
from tests.fakes.world import FakeWorld


class World(FakeWorld):
    time_zone = "America/New_York"


def build_world(ledger_type: type[FakeLedger] = FakeLedger) -> World:
    """A world whose ledger is a `ledger_type` (a fake that fails or races on purpose)."""
    tables, notices, clock = LedgerTables(), FakeNotices(), FakeClock()
    ledger = ledger_type(tables, notices=notices, clock=clock)
    return World(FakeStores(tables=tables, notices=notices, clock=clock, ledger=ledger))


@contextmanager
def bound(ledger_type: type[FakeLedger] = FakeLedger) -> Iterator[World]:
    with build_world(ledger_type).bound() as built:
        yield built


@pytest.fixture
def world_type() -> type[World]:
    return World
