"""A hypothesis state machine over the writer, with redelivery and injected failures.

After every step, on the stored ledger: balance = sum of entries, the
balance_after chain is intact, and no event is charged twice. At the end, once
every message has been delivered without faults, each event is charged exactly
once at its exact price.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from chalicelib.adapters.ledger_repo import LedgerRepository
from chalicelib.domain.posting import Posting
from chalicelib.services.usage import QueuedMessage, record_usage

from .usage_helpers import assert_ledger_consistent, event_body, message, new_id, provision

pytestmark = pytest.mark.usefixtures("aws")

KINDS = {
    "call": ("call_minutes", {"quantity": "3"}, -37_500),
    "text": ("text_messages", {"quantity": "2"}, -15_800),
    "recharge": ("recharge", {"amount": "10.00"}, 10_000_000),
    "refund": ("adjustment", {"amount": "0.25", "description": "Goodwill credit"}, 250_000),
    "fee": ("adjustment", {"amount": "-1.10", "description": "Porting fee"}, -1_100_000),
}


class FlakyLedger(LedgerRepository):
    """Fails some commits before writing, and some after (the reply is lost)."""

    def __init__(self, rng: random.Random, rate: float) -> None:
        self.rng, self.rate, self.enabled = rng, rate, True

    def commit(self, posting: Posting, head_updates: Mapping[str, Any] | None = None, extra: Any = ()) -> None:
        roll = self.rng.random()
        if self.enabled and roll < self.rate / 2:
            raise ConnectionError("injected: request never reached DynamoDB")
        super().commit(posting, head_updates, extra)
        if self.enabled and roll < self.rate:
            raise TimeoutError("injected: committed, but the reply was lost")


def never(*_: object) -> None:
    raise AssertionError("nothing should be dead-lettered")


class WriterMachine(RuleBasedStateMachine):
    @initialize(seed=st.integers(0, 2**32 - 1), fault_rate=st.sampled_from([0.0, 0.2, 0.5]), shared=st.booleans())
    def setup(self, seed: int, fault_rate: float, shared: bool) -> None:
        self.agency = provision(new_id("ag"), kind="agency")
        self.account = provision(new_id("acct"), agency_id=self.agency, billing="agency" if shared else "own")
        self.billing = self.agency if shared else self.account
        self.ledger = FlakyLedger(random.Random(seed), fault_rate)
        self.expected: dict[str, int] = {}  # event id -> signed amount
        self.sent: list[QueuedMessage] = []  # every message ever produced (for redelivery)
        self.pending: list[QueuedMessage] = []  # still to be delivered (SQS would redeliver)

    @rule(kinds=st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=30))
    def produce(self, kinds: list[str]) -> None:
        for kind in kinds:
            category, extra, amount = KINDS[kind]
            event_id = new_id("ev")
            self.expected[event_id] = amount
            msg = message(event_body(event_id, self.account, category, **extra), group=self.billing)
            self.sent.append(msg)
            self.pending.append(msg)

    @precondition(lambda self: bool(self.sent))
    @rule(data=st.data())
    def redeliver(self, data: st.DataObject) -> None:
        """At-least-once delivery: an old message shows up again (a copy, new message id)."""
        old = data.draw(st.sampled_from(self.sent))
        self.pending.append(message(old.body, group=old.group_id))

    @precondition(lambda self: bool(self.pending))
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        count = data.draw(st.integers(1, len(self.pending)))
        batch = data.draw(st.permutations(self.pending))[:count]
        outcome = record_usage(batch, dead_letter=never, ledger=self.ledger, sleep=lambda s: None)
        failed = set(outcome.failed_message_ids)
        delivered = {m.message_id for m in batch} - failed
        self.pending = [m for m in self.pending if m.message_id not in delivered]

    @invariant()
    def ledger_is_consistent(self) -> None:
        if hasattr(self, "billing"):
            assert_ledger_consistent(self.billing)

    def teardown(self) -> None:
        if not hasattr(self, "billing"):
            return
        self.ledger.enabled = False
        while self.pending:
            outcome = record_usage(self.pending, dead_letter=never, ledger=self.ledger)
            assert outcome.failed_message_ids == []
            self.pending = []
        entries = list(LedgerRepository().chain(self.billing))
        charged = {e.event_id: e.amount_micros for e in entries}
        assert len(charged) == len(entries)
        assert charged == self.expected
        assert assert_ledger_consistent(self.billing) == sum(self.expected.values())


WriterMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
test_writer_state_machine = WriterMachine.TestCase
