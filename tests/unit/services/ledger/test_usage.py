"""services/usage.py `record_usage` against the in-memory ledger (tests/fakes/ledger.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.adapters.ledger_repo import CommitConflict
from chalicelib.adapters.rollups_repo import ScopedAccount
from chalicelib.domain.auto_recharge import TaskKind
from chalicelib.domain.balance_days import boundary_before
from chalicelib.domain.categories import Category
from chalicelib.domain.events import UsageEvent
from chalicelib.domain.ledger import BalanceState, PricedEvent, plan_entries, seal_of
from chalicelib.domain.payments import BillingSettings, CardOnFile
from chalicelib.domain.posting import Posting, posting_for
from chalicelib.domain.reports import BucketRange
from chalicelib.domain.rollups import MONTH, RollupKey, RollupTotals
from chalicelib.services.usage import MAX_COMMIT_ATTEMPTS, QueuedMessage
from tests.fakes.ledger import FakeLedger
from tests.fakes.world import message
from tests.unit.services.ledger.conftest import World, bound


def aws_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "TransactWriteItems")


def amounts(world: World, billing_account_id: str) -> list[int]:
    return [e.amount_micros for e in world.ledger.chain(billing_account_id)]


def test_charges_each_event_once_in_one_transaction(world: World) -> None:
    world.provision("acme")
    first = world.deliver(world.event("acme", event_id="e1"), world.event("acme", event_id="e2"))
    assert (first.charged, first.duplicates, first.transactions, first.failed_message_ids) == (2, 0, 1, [])
    head = world.ledger.balance("acme")
    entries = list(world.ledger.chain("acme"))
    assert [(e.event_id, e.seq) for e in entries] == [("e1", 1), ("e2", 2)]
    assert head.seq == 2 and head.balance_micros == sum(e.amount_micros for e in entries) < 0
    assert entries[-1].balance_after_micros == head.balance_micros


def test_an_event_charged_before_is_a_duplicate(world: World) -> None:
    world.provision("acme")
    world.deliver(world.event("acme", event_id="e1"))
    again = world.deliver(world.event("acme", event_id="e1"), world.event("acme", event_id="e2"))
    assert (again.charged, again.duplicates, again.conflicts, world.dead) == (1, 1, [], [])
    assert [e.event_id for e in world.ledger.chain("acme")] == ["e1", "e2"]


def test_the_same_event_twice_in_a_batch_is_charged_once(world: World) -> None:
    world.provision("acme")
    body = world.event("acme", event_id="e1")
    outcome = world.deliver(body, body)
    assert (outcome.charged, outcome.duplicates) == (1, 1)
    assert len(amounts(world, "acme")) == 1


def test_another_version_of_a_charged_event_is_a_conflict_never_charged(world: World) -> None:
    world.provision("acme")
    world.provision("other")
    world.deliver(world.event("acme", event_id="e1"))
    changed = world.deliver(world.event("acme", quantity="9", event_id="e1"))
    assert changed.charged == 0 and [e for e, _ in changed.conflicts] == ["e1"]
    assert "other content" in changed.conflicts[0][1]
    elsewhere = world.deliver(world.event("other", event_id="e1"))
    assert "another account's content" in elsewhere.conflicts[0][1]
    assert [reason for _, reason, _ in world.dead] == [changed.conflicts[0][1], elsewhere.conflicts[0][1]]
    assert len(amounts(world, "acme")) == 1 and not world.ledger.balance("other").exists


def test_two_versions_in_one_batch_charge_the_first_and_refuse_the_second(world: World) -> None:
    world.provision("acme")
    outcome = world.deliver(world.event("acme", event_id="e1"), world.event("acme", quantity="9", event_id="e1"))
    assert outcome.charged == 1 and [e for e, _ in outcome.conflicts] == ["e1"]
    assert "twice in one batch" in outcome.conflicts[0][1]
    [entry] = world.ledger.chain("acme")
    assert entry.quantity == 3


def test_a_second_version_after_a_redelivered_first_is_a_duplicate(world: World) -> None:
    world.provision("acme")
    world.deliver(world.event("acme", event_id="e1"))
    outcome = world.deliver(world.event("acme", event_id="e1"), world.event("acme", event_id="e1"))
    assert (outcome.charged, outcome.duplicates, outcome.conflicts) == (0, 2, [])


def test_malformed_messages_and_unknown_accounts_are_dead_lettered_alone(world: World) -> None:
    world.provision("acme")
    bad = message("{not json")
    stranger = message(world.event("nobody", event_id="e2"))
    good = message(world.event("acme", event_id="e1"))
    outcome = world.deliver(bad, stranger, good)
    assert outcome.charged == 1
    reasons = dict(outcome.dead_lettered)
    assert reasons[bad.message_id] == "message body is not valid JSON"
    assert "unknown account 'nobody'" in reasons[stranger.message_id]
    assert [m for m, _, _ in world.dead] == [bad.message_id, stranger.message_id]


def test_a_dead_letter_queue_that_fails_leaves_the_message_for_sqs(world: World) -> None:
    def refuse(*_: object) -> None:
        raise RuntimeError("DLQ down")

    from chalicelib.services.usage import record_usage

    bad = message("[]")
    outcome = record_usage([bad], dead_letter=refuse, clock=world.clock, sleep=world.clock.sleep)
    assert outcome.failed_message_ids == [bad.message_id] and outcome.dead_lettered == []


def test_an_account_priced_in_another_currency_than_its_balance_is_refused(world: World) -> None:
    world.provision("agency", kind="agency")
    sub = world.provision("sub", agency_id="agency", billing="agency")
    world.accounts.save(replace(sub, currency="EUR"))  # as if the agency's currency changed under it
    outcome = world.deliver(world.event("sub", event_id="e1"), world.event("agency", event_id="e2"))
    assert outcome.charged == 1
    [(_, reason)] = outcome.dead_lettered
    assert "currencies are never mixed" in reason
    assert [e.event_id for e in world.ledger.chain("agency")] == ["e2"]


def test_an_event_that_cannot_be_priced_is_refused(world: World) -> None:
    world.provision("acme")
    outcome = world.deliver(
        world.event("acme", quantity="99999999999", event_id="e1"), world.event("acme", event_id="e2")
    )
    assert outcome.charged == 1 and len(outcome.dead_lettered) == 1
    assert not any(e.event_id == "e1" for e in world.ledger.chain("acme"))


def test_a_shared_sub_account_draws_from_its_agency_balance_with_pages_per_account(world: World) -> None:
    world.provision("agency", kind="agency")
    world.provision("sub", agency_id="agency", billing="agency")
    world.provision("own", agency_id="agency")
    outcome = world.deliver(
        world.event("sub", event_id="s1"), world.event("agency", event_id="a1"), world.event("own", event_id="o1")
    )
    assert (outcome.charged, outcome.transactions) == (3, 2)
    assert [e.account_id for e in world.ledger.chain("agency")] == ["agency", "sub"]  # sorted by account
    assert [e.account_id for e in world.ledger.chain("own")] == ["own"]
    logs = world.ledger.log("agency", "agency", None, None, None, 10, None)
    assert {e.event_id for e in logs.entries} == {"s1", "a1", "o1"}


def test_entries_are_sealed_in_a_chain(world: World) -> None:
    world.provision("acme")
    world.deliver(world.event("acme", event_id="e1"), world.event("acme", event_id="e2"))
    world.clock.advance(minutes=1)
    world.deliver(world.event("acme", event_id="e3"))
    key = world.stores.secrets.ledger_key()
    previous = ""
    for entry in world.ledger.chain("acme"):
        assert entry.seal == seal_of(key, previous, replace(entry, seal=""))
        previous = entry.seal
    assert world.ledger.balance("acme").seal == previous


def test_rollups_and_posting_days_follow_the_entries(world: World) -> None:
    world.provision("acme")
    world.deliver(
        world.event("acme", event_id="e1"), world.event("acme", category="text_messages", quantity="2", event_id="e2")
    )
    world.clock.advance(minutes=1)
    world.deliver(world.event("acme", event_id="e3"))
    found = world.rollups.of_account(ScopedAccount("acme", "acme"), [BucketRange(MONTH, "2026-03", "2026-03")])
    calls = found[RollupKey("acme", MONTH, "2026-03", Category.CALL_MINUTES)]
    texts = found[RollupKey("acme", MONTH, "2026-03", Category.TEXT_MESSAGES)]
    entries = list(world.ledger.chain("acme"))
    assert (calls.count, calls.quantity_micros) == (2, 6_000_000)
    assert (texts.count, texts.quantity_micros) == (1, 2_000_000)
    assert calls.amount_micros + texts.amount_micros == sum(e.amount_micros for e in entries)
    head = world.ledger.balance("acme")
    day = world.clock.now.astimezone(entries[0].posted_at.tzinfo).date()
    days = world.rollups.balance_days_of("acme", "acme", [day - timedelta(days=1), day, day + timedelta(days=1)])
    boundary = boundary_before(days[0].day, head.seq, head.balance_micros, days)
    assert (boundary.seq, boundary.balance_micros) == (0, 0)


def test_going_below_zero_sets_the_past_due_flag_once(world: World) -> None:
    world.provision("acme")
    first = world.deliver(world.event("acme", event_id="e1"))
    assert [t.kind for t in first.tasks] == [TaskKind.PAST_DUE]
    assert world.billing.head("acme").recharge.past_due_sent
    second = world.deliver(world.event("acme", event_id="e2"))
    assert second.tasks == []


def test_a_balance_under_its_threshold_requests_one_recharge(world: World) -> None:
    world.provision("acme")
    card = CardOnFile("tok_visa", "visa", "4242")
    settings = BillingSettings(True, 5_000_000, 20_000_000, card, None, None, (), False)
    world.billing.save_settings("acme", "USD", settings, world.clock.now, changed=True)
    world.deliver(world.event("acme", category="recharge", amount="6.00", event_id="r1"))
    outcome = world.deliver(world.event("acme", quantity="100", event_id="e1"))
    [task] = [t for t in outcome.tasks if t.kind is TaskKind.RECHARGE]
    recharge = world.billing.head("acme").recharge
    assert recharge.in_flight_id == task.key and recharge.requested_at == world.clock.now
    again = world.deliver(world.event("acme", event_id="e2"))
    assert not any(t.kind is TaskKind.RECHARGE for t in again.tasks)  # one in flight already
    assert world.billing.head("acme").recharge.in_flight_id == task.key


ZONE = ZoneInfo("America/New_York")


def _priced(event_id: str, account_id: str) -> PricedEvent:
    event = UsageEvent(event_id, account_id, Category.ADJUSTMENT, Decimal(1), datetime(2026, 3, 1, tzinfo=UTC), "x")
    return PricedEvent(event, account_id, None, "adjustment", None, 1_000)


class StaleHeads(FakeLedger):
    """Answers the batch's head read with a head from before the last transaction, once."""

    def balances(self, billing_account_ids: Sequence[str], consistent: bool = False) -> dict[str, BalanceState]:
        heads = super().balances(billing_account_ids, consistent)
        if not getattr(self, "served", False):
            self.served = True
            return {b: BalanceState(b, 0, 0, None, exists=False) for b in heads}
        return heads


def test_a_head_that_moved_is_read_again_and_the_plan_redone() -> None:
    with bound(StaleHeads) as world:
        world.provision("acme")
        world.ledger.commit(
            posting_for(
                plan_entries(world.ledger.balance("acme"), [_priced("e0", "acme")], world.clock.now),
                currency="USD",
                zones={"acme": ZONE},
                billing_zone=ZONE,
                scopes={"acme": "acme"},
                event_digests={},
            )
        )
        outcome = world.deliver(world.event("acme", event_id="e2"))  # planned on the stale head first
        assert (outcome.charged, outcome.transactions) == (1, 2)
        assert [e.event_id for e in world.ledger.chain("acme")] == ["e0", "e2"]


def test_a_transient_refusal_is_retried_after_a_pause(world: World) -> None:
    world.provision("acme")
    world.ledger.fail_next = [CommitConflict(set(), balance_moved=False, transient=True)]
    before = world.clock.now
    outcome = world.deliver(world.event("acme", event_id="e1"))
    assert (outcome.charged, outcome.transactions, outcome.failed_message_ids) == (1, 2, [])
    assert world.clock.now >= before


def test_a_commit_that_keeps_failing_leaves_its_messages_and_their_fifo_group_to_sqs(world: World) -> None:
    world.provision("acme")
    world.provision("beta")
    world.ledger.fail_next = [CommitConflict(set(), False, transient=True)] * MAX_COMMIT_ATTEMPTS
    failing = message(world.event("acme", event_id="a1"), group="acme")
    fine = message(world.event("beta", event_id="b1"), group="beta")
    later = message(world.event("nobody", event_id="x1"), group="acme")  # after a failed one of its group
    outcome = world.deliver(failing, fine, later)
    assert outcome.failed_message_ids == [failing.message_id, later.message_id]
    assert outcome.charged == 1 and world.ledger.balance("beta").seq == 1


def test_an_unknown_outcome_leaves_the_messages_for_a_retry(world: World) -> None:
    world.provision("acme")
    world.ledger.fail_next = [aws_error("ProvisionedThroughputExceededException")]
    pending = message(world.event("acme", event_id="e1"))
    outcome = world.deliver(pending)
    assert outcome.failed_message_ids == [pending.message_id] and outcome.charged == 0
    assert world.deliver(pending).charged == 1  # the redelivery is charged


class RefusesOne(FakeLedger):
    """DynamoDB refuses any transaction that holds event `refused` (an item it cannot store)."""

    refused = "e2"

    def commit(self, posting: Posting, *args: object, **kwargs: object) -> None:
        if any(e.event_id == self.refused for e in posting.plan.entries):
            raise aws_error("ValidationException")
        super().commit(posting, *args, **kwargs)  # type: ignore[arg-type]


def test_an_event_dynamodb_refuses_is_found_and_dead_lettered_alone() -> None:
    with bound(RefusesOne) as world:
        world.provision("acme")
        bodies = [message(world.event("acme", event_id=f"e{n}")) for n in (1, 2, 3)]
        outcome = world.deliver(*bodies)
        assert outcome.charged == 2 and outcome.failed_message_ids == []
        [(message_id, reason)] = outcome.dead_lettered
        assert message_id == bodies[1].message_id and "DynamoDB refused it: ValidationException" in reason
        assert [e.event_id for e in world.ledger.chain("acme")] == ["e1", "e3"]


def test_a_lone_event_the_store_refuses_is_dead_lettered_with_the_error(world: World) -> None:
    world.provision("acme")
    world.ledger.fail_next = [aws_error("ValidationException")]  # one event: nothing left to split
    outcome = world.deliver(world.event("acme", event_id="e1"))
    assert outcome.charged == 0 and "DynamoDB refused it: ValidationException" in outcome.dead_lettered[0][1]
    world.ledger.fail_next = [RuntimeError("no such attribute")]  # no error code: the message is the reason
    outcome = world.deliver(world.event("acme", event_id="e2"))
    assert outcome.dead_lettered[0][1].endswith("DynamoDB refused it: no such attribute")
    assert not world.ledger.balance("acme").exists


def test_a_batch_split_into_transactions_that_fit(world: World) -> None:
    world.provision("acme")
    events = [world.event("acme", event_id=f"e{n}") for n in range(150)]
    outcome = world.deliver(json.dumps({"events": events[:100]}), json.dumps({"events": events[100:]}))
    assert outcome.charged == 150 and outcome.transactions == 2
    assert [e.seq for e in world.ledger.chain("acme")] == list(range(1, 151))


# -- the invariant ----------------------------------------------------------------------------------

ACCOUNTS = ("acme", "beta", "sub")
BATCH = st.lists(st.integers(0, 11), min_size=1, max_size=6)  # event numbers


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(BATCH, min_size=1, max_size=5), redeliver=st.lists(st.integers(0, 4), max_size=3))
def test_balance_is_the_sum_of_its_entries_and_no_event_is_charged_twice(
    batches: list[list[int]], redeliver: list[int]
) -> None:
    with bound() as world:
        world.provision("acme")
        world.provision("beta", kind="agency")
        world.provision("sub", agency_id="beta", billing="agency")
        sent: list[list[QueuedMessage]] = []
        occurred = (world.clock.now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for batch in batches:
            # An event id is one event (account, quantity, time fixed by the id), sent again and again.
            bodies = [
                world.event(ACCOUNTS[n % 3], quantity=str(n % 5 + 1), occurred_at=occurred, event_id=f"e{n}")
                for n in batch
            ]
            sent.append([message(b) for b in bodies])
            world.deliver(*sent[-1])
            world.clock.advance(seconds=1)
        for i in redeliver:
            if i < len(sent):
                world.deliver(*sent[i])
        charged = [e.event_id for b in ("acme", "beta") for e in world.ledger.chain(b)]
        assert sorted(charged) == sorted({f"e{n}" for batch in batches for n in batch})
        for billing in ("acme", "beta"):
            entries = list(world.ledger.chain(billing))
            head = world.ledger.balance(billing)
            assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
            assert head.balance_micros == sum(e.amount_micros for e in entries)
            assert head.seq == len(entries)
            running = 0
            for entry in entries:
                running += entry.amount_micros
                assert entry.balance_after_micros == running
        assert world.dead == []


def test_rollup_totals_add_up_per_account(world: World) -> None:
    world.provision("acme")
    world.deliver(*(world.event("acme", event_id=f"e{n}") for n in range(4)))
    found = world.rollups.of_account(ScopedAccount("acme", "acme"), [BucketRange(MONTH, "2026-03", "2026-03")])
    assert found == {
        RollupKey("acme", MONTH, "2026-03", Category.CALL_MINUTES): RollupTotals(
            4, 12_000_000, sum(amounts(world, "acme"))
        )
    }
