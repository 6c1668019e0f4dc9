"""A hypothesis state machine over the writer, with redelivery and injected failures.

The accounts are an agency and a few sub-accounts, some on the agency's balance and
some on their own, whose events interleave in the same batches (as the FIFO queue
delivers them: a message group per balance). After every step, on the stored ledger,
everything `make reconcile` checks holds for every balance of the agency: balance =
sum of entries, the seq/balance_after chain and its seals, every entry on its Logs
page (the sharded pages of the account and of the agency), the agency-kept rollups
equal to the entries, posting days; and no event is charged twice. At the end, once
every message has been delivered without faults, each event is charged exactly once
at its exact price, to the right balance.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from chalicelib.adapters.ledger_repo import LedgerRepository
from chalicelib.domain.payments import RechargeState
from chalicelib.domain.posting import Posting
from chalicelib.services.usage import QueuedMessage, record_usage
from tests.conftest import budget

from .usage_helpers import assert_agency_consistent, event_body, message, new_id, provision

pytestmark = [pytest.mark.usefixtures("aws"), pytest.mark.slow]

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

    def commit(self, posting: Posting, recharge: RechargeState | None = None, extra: Any = ()) -> None:
        roll = self.rng.random()
        if self.enabled and roll < self.rate / 2:
            raise ConnectionError("injected: request never reached DynamoDB")
        super().commit(posting, recharge, extra)
        if self.enabled and roll < self.rate:
            raise TimeoutError("injected: committed, but the reply was lost")


def never(*_: object) -> None:
    raise AssertionError("nothing should be dead-lettered")


class WriterMachine(RuleBasedStateMachine):
    @initialize(
        seed=st.integers(0, 2**32 - 1),
        fault_rate=st.sampled_from([0.0, 0.2, 0.5]),
        shared=st.lists(st.booleans(), min_size=1, max_size=4),
    )
    def setup(self, seed: int, fault_rate: float, shared: list[bool]) -> None:
        # Ids sort in the order they are made: the writer orders work by id, and the
        # faults it meets must follow the drawn data, not uuid4 (hypothesis replays).
        self.run, self.made = new_id("run"), 0
        self.agency = provision(self.next_id("ag"), kind="agency")
        # account -> the balance it draws from; the agency's own usage draws from its balance.
        self.billing_of = {self.agency: self.agency}
        for on_agency in shared:
            sub = provision(self.next_id("acct"), agency_id=self.agency, billing="agency" if on_agency else "own")
            self.billing_of[sub] = self.agency if on_agency else sub
        event(f"fault rate {fault_rate}")
        self.ledger = FlakyLedger(random.Random(seed), fault_rate)
        self.expected: dict[str, tuple[str, int]] = {}  # event id -> (billing account, signed amount)
        self.sent: list[QueuedMessage] = []  # every message ever produced (for redelivery)
        self.pending: list[QueuedMessage] = []  # still to be delivered (SQS would redeliver)

    def next_id(self, kind: str) -> str:
        self.made += 1
        return f"{kind}_{self.run}_{self.made:05d}"

    @rule(data=st.data(), kinds=st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=30))
    def produce(self, data: st.DataObject, kinds: list[str]) -> None:
        event("rule: produce")
        for kind in kinds:
            account = data.draw(st.sampled_from(sorted(self.billing_of)))
            category, extra, amount = KINDS[kind]
            event_id = self.next_id("ev")
            self.expected[event_id] = (self.billing_of[account], amount)
            msg = message(event_body(event_id, account, category, **extra), group=self.billing_of[account])
            self.sent.append(msg)
            self.pending.append(msg)

    @precondition(lambda self: bool(self.sent))
    @rule(data=st.data())
    def redeliver(self, data: st.DataObject) -> None:
        """At-least-once delivery: an old message shows up again (a copy, new message id)."""
        event("rule: redeliver")
        old = data.draw(st.sampled_from(self.sent))
        self.pending.append(message(old.body, group=old.group_id))

    @precondition(lambda self: bool(self.pending))
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        event("rule: deliver")
        count = data.draw(st.integers(1, len(self.pending)))
        batch = data.draw(st.permutations(self.pending))[:count]
        outcome = record_usage(batch, dead_letter=never, ledger=self.ledger, sleep=lambda s: None)
        failed = set(outcome.failed_message_ids)
        if failed:
            event("deliver: a fault left messages for redelivery")
        delivered = {m.message_id for m in batch} - failed
        self.pending = [m for m in self.pending if m.message_id not in delivered]

    @invariant()
    def ledger_is_consistent(self) -> None:
        if hasattr(self, "billing_of"):
            assert_agency_consistent(self.agency)

    def teardown(self) -> None:
        if not hasattr(self, "billing_of"):
            return
        self.ledger.enabled = False
        while self.pending:
            outcome = record_usage(self.pending, dead_letter=never, ledger=self.ledger)
            assert outcome.failed_message_ids == []
            self.pending = []
        balances = assert_agency_consistent(self.agency)
        charged: dict[str, tuple[str, int]] = {}
        for billing in set(self.billing_of.values()):
            entries = list(LedgerRepository().chain(billing))
            charged.update({e.event_id: (e.billing_account_id, e.amount_micros) for e in entries})
            assert len({e.event_id for e in entries}) == len(entries)
            assert balances.get(billing, 0) == sum(a for b, a in self.expected.values() if b == billing)
        assert charged == self.expected


# Every rule, every fault rate and faulted deliveries are reached within the quick budget
# (`--hypothesis-show-statistics` lists them); `make test-long` runs the long one.
WriterMachine.TestCase.settings = settings(
    max_examples=budget(quick=10, long=25),
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
test_writer_state_machine = WriterMachine.TestCase
