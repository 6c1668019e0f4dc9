"""The reports area's service tests: fakes only (no DynamoDB Local, no moto), bound with `use_stores`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import pytest

from chalicelib.services.ports import Stores
from chalicelib.services.stores import use_stores
from tests.fakes.housekeeping import FakeCheckpoints, FakeRateLimits
from tests.fakes.outside import FakeClock, FakeSecrets
from tests.fakes.stores import FakeStores


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def secrets() -> FakeSecrets:
    return FakeSecrets()


@pytest.fixture
def rate_limits() -> FakeRateLimits:
    return FakeRateLimits()


@pytest.fixture
def checkpoints() -> FakeCheckpoints:
    return FakeCheckpoints()


@pytest.fixture
def housekeeping(
    rate_limits: FakeRateLimits, checkpoints: FakeCheckpoints, secrets: FakeSecrets, clock: FakeClock
) -> Iterator[FakeStores]:
    """Only the ports that need no ledger: counters, checkpoints, secrets, the clock."""
    fakes = FakeStores(rate_limits=rate_limits, checkpoints=checkpoints, secrets=secrets, clock=clock)
    with use_stores(cast(Stores, fakes)):
        yield fakes
