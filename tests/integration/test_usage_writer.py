"""The ledger writer against DynamoDB Local: exactly-once charging under redelivery."""

from __future__ import annotations

import random
import threading

import pytest

from chalicelib.adapters.aws import client
from chalicelib.adapters.ledger_repo import LedgerRepository
from chalicelib.adapters.queues import queue_url
from chalicelib.config import get_settings
from chalicelib.domain.rollups import RollupTotals
from chalicelib.handlers.ingest import _dead_letter
from chalicelib.services.usage import record_usage

from .usage_helpers import assert_ledger_consistent, event_body, message, new_id, provision, rollups_of

pytestmark = pytest.mark.usefixtures("aws")

CALL_3_MIN = -37_500  # 3 minutes at the default $0.0125


def never(*_: object) -> None:
    raise AssertionError("nothing should be dead-lettered")


def test_every_event_delivered_three_times_is_charged_once():
    accounts = [provision(new_id("acct")) for _ in range(3)]
    events = [(new_id("ev"), accounts[i % 3]) for i in range(120)]
    deliveries = [message(event_body(e, a), group=a) for e, a in events for _ in range(3)]
    random.Random(7).shuffle(deliveries)

    charged = duplicates = 0
    for start in range(0, len(deliveries), 50):
        outcome = record_usage(deliveries[start : start + 50], dead_letter=never)
        assert outcome.failed_message_ids == []
        charged += outcome.charged
        duplicates += outcome.duplicates

    assert charged == 120 and duplicates == 240
    for account in accounts:
        assert assert_ledger_consistent(account) == 40 * CALL_3_MIN
        assert sum(1 for _ in LedgerRepository().chain(account)) == 40


def test_shared_billing_draws_from_the_agency_and_records_both_accounts():
    agency = provision(new_id("ag"), kind="agency")
    sub = provision(new_id("sub"), agency_id=agency, billing="agency")
    own = provision(new_id("own"), agency_id=agency)
    record_usage(
        [
            message(event_body(new_id("e"), sub)),
            message(event_body(new_id("e"), own)),
            message(event_body(new_id("e"), agency)),
        ],
        dead_letter=never,
    )
    entries = list(LedgerRepository().chain(agency))
    assert sorted(e.account_id for e in entries) == sorted([sub, agency])
    assert {e.billing_account_id for e in entries} == {agency}
    assert {e.agency_id for e in entries} == {agency}
    assert assert_ledger_consistent(agency) == 2 * CALL_3_MIN
    assert assert_ledger_consistent(own) == CALL_3_MIN


def test_credits_and_adjustments_move_the_balance_both_ways():
    account = provision(new_id("acct"))
    record_usage(
        [
            message(event_body(new_id("r"), account, "recharge", amount="25.00")),
            message(event_body(new_id("a"), account, "adjustment", amount="-1.50", description="Refund reversal")),
            message(event_body(new_id("s"), account, "subscription_fees", amount="9.99")),
        ],
        dead_letter=never,
    )
    assert assert_ledger_consistent(account) == 25_000_000 - 1_500_000 - 9_990_000


def test_concurrent_writers_on_one_balance_lose_no_update():
    account = provision(new_id("acct"))
    batches = [[message(event_body(new_id("ev"), account)) for _ in range(15)] for _ in range(6)]
    errors: list[BaseException] = []

    def write(batch):
        try:
            outcome = record_usage(batch, dead_letter=never, sleep=lambda s: None)
            assert outcome.failed_message_ids == [] and outcome.charged == 15
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert assert_ledger_consistent(account) == 90 * CALL_3_MIN


def test_a_malformed_message_is_dead_lettered_with_its_reason_and_the_rest_are_charged():
    account = provision(new_id("acct"))
    good = [message(event_body(new_id("ev"), account), group=account) for _ in range(4)]
    bad = message(event_body(new_id("ev"), account, quantity="-3"), group=account)
    unknown = message(event_body(new_id("ev"), "no_such_account"), group=account)
    batch = [*good[:2], bad, *good[2:], unknown]

    outcome = record_usage(batch, dead_letter=_dead_letter)

    assert outcome.charged == 4 and outcome.failed_message_ids == []
    assert sorted(mid for mid, _ in outcome.dead_lettered) == sorted([bad.message_id, unknown.message_id])
    assert assert_ledger_consistent(account) == 4 * CALL_3_MIN
    dlq = client("sqs").receive_message(
        QueueUrl=queue_url(get_settings().usage_dlq_name), MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    reasons = {
        m["MessageAttributes"]["source_message_id"]["StringValue"]: m["MessageAttributes"]["reason"]["StringValue"]
        for m in dlq
    }
    assert "greater than 0" in reasons[bad.message_id]
    assert "unknown account" in reasons[unknown.message_id]


def test_a_failed_group_fails_its_later_messages_but_not_other_groups():
    a = provision(new_id("acct"))
    b = provision(new_id("acct"))

    class FailingFor(LedgerRepository):
        def commit(self, posting, *args, **kwargs):
            if posting.plan.before.billing_account_id == a:
                raise ConnectionError("injected")
            return super().commit(posting, *args, **kwargs)

    first_a, first_b, second_a = (
        message(event_body(new_id("e"), a), a),
        message(event_body(new_id("e"), b), b),
        message(event_body(new_id("e"), a), a),
    )
    outcome = record_usage([first_a, first_b, second_a], dead_letter=never, ledger=FailingFor())
    assert outcome.failed_message_ids == [first_a.message_id, second_a.message_id]
    assert outcome.charged == 1
    # redelivery charges the rest exactly once
    again = record_usage([first_a, second_a], dead_letter=never)
    assert again.charged == 2
    assert assert_ledger_consistent(a) == 2 * CALL_3_MIN


def test_a_large_batch_of_one_balance_splits_into_full_transactions():
    account = provision(new_id("acct"))
    outcome = record_usage([message(event_body(new_id("e"), account)) for _ in range(250)], dead_letter=never)
    assert outcome.charged == 250 and outcome.transactions == 3
    assert assert_ledger_consistent(account) == 250 * CALL_3_MIN


def test_rollups_bucket_by_the_accounts_local_date_of_occurrence():
    account = provision(new_id("acct"))  # America/New_York
    late_evening = "2026-11-26T03:30:00Z"  # 22:30 on Nov 25 in New York
    record_usage(
        [
            message(event_body(new_id("e"), account, occurred_at=late_evening)),
            message(event_body(new_id("e"), account, occurred_at="2026-11-26T05:00:00Z")),  # 00:00 Nov 26
            message(event_body(new_id("e"), account, "text_messages", quantity="2", occurred_at=late_evening)),
        ],
        dead_letter=never,
    )
    rollups = {(k.period, k.bucket, k.category.value): v for k, v in rollups_of(account).items()}
    assert rollups[("D", "2026-11-25", "call_minutes")] == RollupTotals(1, 3_000_000, -37_500)
    assert rollups[("D", "2026-11-26", "call_minutes")] == RollupTotals(1, 3_000_000, -37_500)
    assert rollups[("D", "2026-11-25", "text_messages")] == RollupTotals(1, 2_000_000, -15_800)
    assert rollups[("M", "2026-11", "call_minutes")] == RollupTotals(2, 6_000_000, -75_000)
    assert_ledger_consistent(account)


def test_an_event_dynamodb_refuses_is_dead_lettered_alone_and_the_rest_charged_at_once():
    """A permanent write error (ValidationException) is never retried: the writer finds the one
    event that cannot be written and dead-letters it with the reason; its group goes on."""
    from botocore.exceptions import ClientError

    account = provision(new_id("acct"))
    poison = new_id("poison")

    class RefusesOne(LedgerRepository):
        def commit(self, posting, *args, **kwargs):
            if any(e.event_id == poison for e in posting.plan.entries):
                raise ClientError(
                    {"Error": {"Code": "ValidationException", "Message": "Item size has exceeded the maximum"}},
                    "TransactWriteItems",
                )
            return super().commit(posting, *args, **kwargs)

    dead: list[tuple[str, str]] = []
    messages = [message(event_body(new_id("e"), account), account) for _ in range(5)]
    messages.insert(2, message(event_body(poison, account), account))
    outcome = record_usage(messages, dead_letter=lambda m, reason, raw: dead.append((raw, reason)), ledger=RefusesOne())
    assert outcome.failed_message_ids == [] and outcome.charged == 5
    [(raw, reason)] = dead
    assert poison in raw and "ValidationException" in reason and poison in reason
    assert assert_ledger_consistent(account) == 5 * CALL_3_MIN


def test_a_transient_write_error_fails_the_messages_for_a_retry():
    from botocore.exceptions import ClientError

    account = provision(new_id("acct"))

    class Throttled(LedgerRepository):
        def commit(self, posting, *args, **kwargs):
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "TransactWriteItems")

    messages = [message(event_body(new_id("e"), account), account) for _ in range(3)]
    outcome = record_usage(messages, dead_letter=never, ledger=Throttled())
    assert sorted(outcome.failed_message_ids) == sorted(m.message_id for m in messages) and outcome.charged == 0


def test_a_known_event_id_with_other_content_or_of_another_account_is_a_conflict_on_the_queue():
    """The first version stays charged; the other is dead-lettered with the reason (and logged with
    both versions); the same content again is a silent duplicate."""
    account, other = provision(new_id("acct")), provision(new_id("acct"))
    event_id = new_id("e")
    first = message(event_body(event_id, account, quantity="3"), account)
    assert record_usage([first], dead_letter=never).charged == 1
    dead: list[tuple[str, str]] = []
    changed = message(event_body(event_id, account, quantity="30"), account)
    elsewhere = message(event_body(event_id, other, quantity="3"), other)
    same = message(first.body, account)
    outcome = record_usage([changed, elsewhere, same], dead_letter=lambda m, r, raw: dead.append((m.message_id, r)))
    assert outcome.charged == 0 and outcome.duplicates == 1 and outcome.failed_message_ids == []
    reasons = dict(dead)
    assert set(reasons) == {changed.message_id, elsewhere.message_id}
    assert "other content" in reasons[changed.message_id] and "another account" in reasons[elsewhere.message_id]
    assert [c[0] for c in outcome.conflicts] == [event_id, event_id]
    assert assert_ledger_consistent(account) == CALL_3_MIN
    # In one batch: the same id twice with other content charges the first only.
    twin = new_id("e")
    dead.clear()
    batch = [
        message(event_body(twin, account, quantity="1"), account),
        message(event_body(twin, account, quantity="2"), account),
    ]
    outcome = record_usage(batch, dead_letter=lambda m, r, raw: dead.append((m.message_id, r)))
    assert outcome.charged == 1 and len(dead) == 1 and "twice in one batch" in dead[0][1]
