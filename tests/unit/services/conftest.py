"""The services' unit tests share one world of fakes (tests/fakes/world.py), bound for each test.

An area names its own `FakeWorld` subclass by overriding `world_type` in its conftest.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.world import FakeWorld


@pytest.fixture
def world_type() -> type[FakeWorld]:
    return FakeWorld


@pytest.fixture
def world(world_type: type[FakeWorld]) -> Iterator[FakeWorld]:
    with world_type().bound() as built:
        yield built
