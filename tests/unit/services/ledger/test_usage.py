"""services/usage.py `record_usage` against the in-memory ledger."""

from __future__ import annotations

from tests.unit.services.ledger.conftest import World


def test_charges_each_event_once_and_moves_the_balance(world: World) -> None:
    world.provision("acme")
    first = world.record(world.event("e1", "acme"), world.event("e2", "acme"))
    assert (first.charged, first.duplicates, first.transactions) == (2, 0, 1)
    again = world.record(world.event("e1", "acme"))
    assert (again.charged, again.duplicates) == (0, 1)
    head = world.ledger.balance("acme")
    entries = list(world.ledger.chain("acme"))
    assert [e.seq for e in entries] == [1, 2]
    assert head.seq == 2 and head.balance_micros == sum(e.amount_micros for e in entries) < 0
