"""One contract, two implementations: the payments and idempotency stores (tests/fakes/payments.py)
against the DynamoDB adapters (adapters/payments_repo.py) on DynamoDB Local.

Every condition the services rely on is asserted the same way for both: a payment recorded once,
moved out of `pending` once, a success numbered in turn per billing account (and a payment recorded
before numbering numbered once), the receipt email claimed once, Payment History newest first in
pages resumed by a key, and an Idempotency-Key claimed once, taken over only when its lease ran out
or was released, never released or forgotten once answered.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.adapters.payments_repo import PaymentPage, StoredRequest
from chalicelib.domain.payments import Payment, PaymentKind, PaymentStatus
from chalicelib.domain.periods import format_instant
from chalicelib.services.ports import IdempotencyStore, PaymentStore
from tests.fakes.payments import FakeIdempotency, FakePayments

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


@dataclass
class Payments:
    store: PaymentStore
    # Rewrites a stored payment's status behind the store's back: a payment recorded before
    # receipts were numbered (succeeded or refunded, with no number).
    set_status: Callable[[str, PaymentStatus], None]


@pytest.fixture(params=["fake", "dynamodb"])
def payments(request: pytest.FixtureRequest) -> Payments:
    if request.param == "dynamodb":
        request.getfixturevalue("aws")
        from chalicelib.adapters.payments_repo import PaymentRepository
        from chalicelib.adapters.tables.payments import PaymentRecord

        def set_record_status(payment_id: str, status: PaymentStatus) -> None:
            PaymentRecord(payment_id).update(actions=[PaymentRecord.status.set(status.value)])

        return Payments(PaymentRepository(), set_record_status)
    fake = FakePayments()

    def set_fake_status(payment_id: str, status: PaymentStatus) -> None:
        stored = fake.get(payment_id)
        assert stored is not None
        fake.seed(replace(stored, status=status))

    return Payments(fake, set_fake_status)


@pytest.fixture(params=["fake", "dynamodb"])
def idempotency(request: pytest.FixtureRequest) -> IdempotencyStore:
    if request.param == "dynamodb":
        request.getfixturevalue("aws")
        from chalicelib.adapters.payments_repo import IdempotencyRepository

        return IdempotencyRepository()
    return FakeIdempotency()


def pending(
    billing_account_id: str,
    created_at: datetime = NOW,
    *,
    agency_id: str | None = None,
    amount_micros: int = 25_000_000,
    **changes: object,
) -> Payment:
    payment = Payment(
        payment_id=new_id("pay_t"),
        billing_account_id=billing_account_id,
        account_id=billing_account_id,
        kind=PaymentKind.AUTO_RECHARGE,
        amount_micros=amount_micros,
        currency="USD",
        status=PaymentStatus.PENDING,
        card_brand="visa",
        card_last4="4242",
        created_at=created_at,
        gateway="simulated",
        recharge_id="rc_1",
        description="Auto recharge",
        agency_id=agency_id,
    )
    return replace(payment, **changes)  # type: ignore[arg-type]


# -- payments: create and finish --------------------------------------------------------------------


def test_a_payment_is_recorded_pending_once_and_a_repeat_gets_the_stored_one(payments: Payments) -> None:
    store = payments.store
    first = pending(new_id("ba"), agency_id="agency-1")
    assert store.get(first.payment_id) is None
    assert store.create_pending(first) == first
    assert store.get(first.payment_id) == first

    # The same id again (a retried worker, with other details): the stored payment, unchanged.
    again = replace(first, amount_micros=99_000_000, created_at=NOW + timedelta(hours=1), description="other")
    assert store.create_pending(again) == first
    store.finish(first.payment_id, PaymentStatus.FAILED, NOW, gateway_reference="pi_1", failure_code="card_declined")
    repeat = store.create_pending(again)
    assert repeat.status is PaymentStatus.FAILED and repeat.amount_micros == 25_000_000
    assert store.get(first.payment_id) == repeat


def test_a_new_payment_is_stored_pending_without_outcome_whatever_it_was_given(payments: Payments) -> None:
    given = pending(
        new_id("ba"),
        status=PaymentStatus.SUCCEEDED,
        gateway_reference="pi_x",
        failure_code="x",
        failure_reason="y",
        receipt_number=7,
        created_at=datetime(2026, 3, 15, 13, 30, 0, 123456, tzinfo=UTC),
    )
    assert payments.store.create_pending(given) == given  # what it was given, as the adapter answers
    stored = payments.store.get(given.payment_id)
    expected = replace(
        given,
        status=PaymentStatus.PENDING,
        gateway_reference=None,
        failure_code=None,
        failure_reason=None,
        receipt_number=None,
    )
    assert stored == expected
    assert stored is not None and stored.created_at.tzinfo is not None and stored.created_at.utcoffset() == timedelta(0)


def test_a_decline_moves_a_pending_payment_once_and_gets_no_receipt_number(payments: Payments) -> None:
    store = payments.store
    billing = new_id("ba")
    payment = store.create_pending(pending(billing))
    failed = store.finish(
        payment.payment_id,
        PaymentStatus.FAILED,
        NOW,
        gateway_reference="pi_declined",
        failure_code="insufficient_funds",
        failure_reason="Your card has insufficient funds.",
    )
    assert failed == replace(
        payment,
        status=PaymentStatus.FAILED,
        gateway_reference="pi_declined",
        failure_code="insufficient_funds",
        failure_reason="Your card has insufficient funds.",
    )
    # Finished already: neither a success nor another decline changes it.
    assert store.finish(payment.payment_id, PaymentStatus.SUCCEEDED, NOW, gateway_reference="pi_2") == failed
    assert (
        store.finish(payment.payment_id, PaymentStatus.FAILED, NOW, gateway_reference="pi_3", failure_code="other")
        == failed
    )
    assert store.last_receipt_number(billing) == 0


def test_a_finish_without_a_gateway_reference_leaves_it_unset(payments: Payments) -> None:
    payment = payments.store.create_pending(pending(new_id("ba")))
    failed = payments.store.finish(
        payment.payment_id,
        PaymentStatus.FAILED,
        NOW,
        gateway_reference=None,
        failure_code="invalid_card",
        failure_reason="no such card",
    )
    assert (failed.gateway_reference, failed.failure_code, failed.failure_reason) == (
        None,
        "invalid_card",
        "no such card",
    )


def test_successes_are_numbered_in_turn_per_billing_account_once_each(payments: Payments) -> None:
    store = payments.store
    billing, other = new_id("ba"), new_id("ba")
    mine = [store.create_pending(pending(billing, NOW + timedelta(minutes=i))) for i in range(3)]
    theirs = store.create_pending(pending(other))
    assert store.last_receipt_number(billing) == 0

    numbers = [
        store.finish(p.payment_id, PaymentStatus.SUCCEEDED, NOW, gateway_reference=f"pi_{i}").receipt_number
        for i, p in enumerate(mine)
    ]
    assert numbers == [1, 2, 3]
    assert store.last_receipt_number(billing) == 3
    succeeded = store.finish(theirs.payment_id, PaymentStatus.SUCCEEDED, NOW, gateway_reference="pi_o")
    assert succeeded.receipt_number == 1 and succeeded.status is PaymentStatus.SUCCEEDED
    assert succeeded.gateway_reference == "pi_o"

    # Finished twice (a retried worker): the same payment and number, the counter unmoved.
    again = store.finish(mine[0].payment_id, PaymentStatus.SUCCEEDED, NOW, gateway_reference="pi_again")
    assert again.receipt_number == 1 and again.gateway_reference == "pi_0"
    assert store.finish(mine[1].payment_id, PaymentStatus.FAILED, NOW, gateway_reference=None).status is (
        PaymentStatus.SUCCEEDED
    )
    assert store.last_receipt_number(billing) == 3


def test_finishing_a_payment_never_recorded_fails(payments: Payments) -> None:
    with pytest.raises(AssertionError):
        payments.store.finish(new_id("pay_t"), PaymentStatus.SUCCEEDED, NOW, gateway_reference="pi")
    with pytest.raises(AssertionError):
        payments.store.finish(new_id("pay_t"), PaymentStatus.FAILED, NOW, gateway_reference="pi")


# -- payments: receipt numbers of older payments, receipt claims -----------------------------------------


def test_a_payment_recorded_before_numbering_is_numbered_once_when_asked(payments: Payments) -> None:
    store = payments.store
    billing = new_id("ba")
    numbered = store.create_pending(pending(billing))
    numbered = store.finish(numbered.payment_id, PaymentStatus.SUCCEEDED, NOW, gateway_reference="pi")
    legacy = store.create_pending(pending(billing))
    payments.set_status(legacy.payment_id, PaymentStatus.SUCCEEDED)
    old = store.get(legacy.payment_id)
    assert old is not None and old.status is PaymentStatus.SUCCEEDED and old.receipt_number is None

    assert store.ensure_receipt_number(numbered) == numbered  # has one: as it is
    given = store.ensure_receipt_number(old)
    assert given == replace(old, receipt_number=2)
    assert store.ensure_receipt_number(old) == given  # asked again with the stale value: the same number
    assert store.last_receipt_number(billing) == 2

    refunded = store.create_pending(pending(billing))
    payments.set_status(refunded.payment_id, PaymentStatus.REFUNDED)
    stored_refund = store.get(refunded.payment_id)
    assert stored_refund is not None
    assert store.ensure_receipt_number(stored_refund).receipt_number == 3


def test_concurrent_askers_give_an_older_payment_one_number(payments: Payments) -> None:
    store = payments.store
    billing = new_id("ba")
    legacy = store.create_pending(pending(billing))
    payments.set_status(legacy.payment_id, PaymentStatus.SUCCEEDED)
    old = store.get(legacy.payment_id)
    assert old is not None
    numbers: list[int | None] = []
    workers = [
        threading.Thread(target=lambda: numbers.append(store.ensure_receipt_number(old).receipt_number))
        for _ in range(4)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert numbers == [1] * 4 and store.last_receipt_number(billing) == 1


def test_no_number_for_a_payment_without_receipt(payments: Payments) -> None:
    store = payments.store
    billing = new_id("ba")
    waiting = store.create_pending(pending(billing))
    assert store.ensure_receipt_number(waiting) == waiting
    failed = store.finish(waiting.payment_id, PaymentStatus.FAILED, NOW, gateway_reference=None)
    assert store.ensure_receipt_number(failed) == failed and failed.receipt_number is None
    # The caller says succeeded, the table says pending: nothing is numbered.
    other = store.create_pending(pending(billing))
    assert store.ensure_receipt_number(replace(other, status=PaymentStatus.SUCCEEDED)) == store.get(other.payment_id)
    assert store.last_receipt_number(billing) == 0


def test_a_receipt_is_claimed_once_until_released(payments: Payments) -> None:
    store = payments.store
    payment = store.create_pending(pending(new_id("ba")))
    assert store.claim_receipt(payment.payment_id, NOW) is True
    assert store.claim_receipt(payment.payment_id, NOW + timedelta(seconds=1)) is False
    store.release_receipt(payment.payment_id)
    assert store.claim_receipt(payment.payment_id, NOW + timedelta(seconds=2)) is True
    assert store.claim_receipt(new_id("pay_t"), NOW) is False  # never recorded: nothing to claim
    assert store.get(payment.payment_id) == payment  # the claim is not part of the payment


# -- payments: reading orders -------------------------------------------------------------------------


def test_payment_history_is_newest_first_in_pages_within_the_period(payments: Payments) -> None:
    store = payments.store
    billing = new_id("ba")
    made = [store.create_pending(pending(billing, NOW + timedelta(hours=i))) for i in range(7)]
    store.create_pending(pending(new_id("ba"), NOW + timedelta(hours=2)))  # another balance's
    newest_first = list(reversed(made))

    first = store.page(billing, None, None, 3, None)
    assert first.payments == newest_first[:3]
    last_on_page = first.payments[-1]
    assert first.last_key == {
        "payment_id": {"S": last_on_page.payment_id},
        "billing_account_id": {"S": billing},
        "created_key": {"S": f"{format_instant(last_on_page.created_at)}#{last_on_page.payment_id}"},
    }
    second = store.page(billing, None, None, 3, first.last_key)
    assert second.payments == newest_first[3:6] and second.last_key is not None
    third = store.page(billing, None, None, 3, second.last_key)
    assert third.payments == newest_first[6:] and third.last_key is None

    # Exactly a page left: no key (nothing more to read).
    assert store.page(billing, None, None, 7, None).last_key is None

    # [start, end): a payment at `start` is in, one at `end` is out.
    window = store.page(billing, NOW + timedelta(hours=2), NOW + timedelta(hours=5), 10, None)
    assert window.payments == [made[4], made[3], made[2]] and window.last_key is None
    assert store.page(billing, NOW + timedelta(hours=5), None, 10, None).payments == [made[6], made[5]]
    assert store.page(billing, None, NOW + timedelta(hours=1), 10, None).payments == [made[0]]
    paged = store.page(billing, NOW + timedelta(hours=1), NOW + timedelta(hours=6), 2, None)
    assert paged.payments == [made[5], made[4]]
    rest = store.page(billing, NOW + timedelta(hours=1), NOW + timedelta(hours=6), 2, paged.last_key)
    assert rest.payments == [made[3], made[2]]
    assert store.page(billing, NOW + timedelta(hours=1), NOW + timedelta(hours=6), 2, rest.last_key).payments == [
        made[1]
    ]
    assert store.page(new_id("ba"), None, None, 5, None) == PaymentPage([], None)


def test_every_payment_of_a_balance_and_of_an_agency_newest_first(payments: Payments) -> None:
    store = payments.store
    billing, agency = new_id("ba"), new_id("ag")
    own = [store.create_pending(pending(billing, NOW + timedelta(hours=i), agency_id=agency)) for i in range(3)]
    other_client = store.create_pending(pending(new_id("ba"), NOW + timedelta(minutes=90), agency_id=agency))
    finished = store.finish(own[0].payment_id, PaymentStatus.SUCCEEDED, NOW, gateway_reference="pi")

    assert list(store.of_billing(billing)) == [own[2], own[1], finished]
    assert list(store.of_billing(new_id("ba"))) == []
    assert store.of_agency(agency, NOW, NOW + timedelta(hours=3)) == [own[2], other_client, own[1], finished]
    assert store.of_agency(agency, NOW + timedelta(hours=1), NOW + timedelta(hours=2)) == [other_client, own[1]]
    assert store.of_agency(new_id("ag"), NOW, NOW + timedelta(days=1)) == []

    everything = {p.payment_id: p for p in store.all_payments()}
    # The receipt counter lives in the same table; it is no payment.
    assert not any(pid.startswith("receipts#") for pid in everything)
    mine = {p.payment_id for p in [*own, other_client]}
    assert {pid: everything[pid] for pid in mine} == {
        p.payment_id: store.get(p.payment_id) for p in [*own, other_client]
    }


# -- idempotency keys ----------------------------------------------------------------------------------


def test_a_key_is_claimed_once_and_a_repeat_gets_what_is_stored(idempotency: IdempotencyStore) -> None:
    key = new_id("acct#")
    assert idempotency.get(key) is None
    assert idempotency.claim(key, "digest-1", "pay_1", NOW, 60) is None
    held = StoredRequest("digest-1", "pay_1", None, None, int(NOW.timestamp()) + 60)
    assert idempotency.get(key) == held
    assert idempotency.claim(key, "digest-2", "pay_2", NOW + timedelta(seconds=5), 60) == held
    assert held.answered is False and held.lease_left(NOW.timestamp() + 20) == 40

    idempotency.answer(key, 201, '{"id": "pay_1"}')
    answered = StoredRequest("digest-1", "pay_1", 201, '{"id": "pay_1"}', int(NOW.timestamp()) + 60)
    assert idempotency.get(key) == answered and answered.answered
    assert idempotency.claim(key, "digest-1", "pay_1", NOW + timedelta(hours=1), 60) == answered


def test_a_lease_is_taken_over_only_once_run_out_and_only_unanswered(idempotency: IdempotencyStore) -> None:
    key = new_id("acct#")
    start = NOW.timestamp()
    idempotency.claim(key, "d", "pay_1", NOW, 60)
    assert idempotency.take_over(key, start + 59.5, 60) is False  # still held
    assert idempotency.take_over(key, start + 60, 60) is True  # ran out (the lease's last second counts as out)
    taken = idempotency.get(key)
    assert taken is not None and taken.lease_until == int(start) + 120
    assert idempotency.take_over(key, start + 61, 60) is False  # the new holder's now
    assert idempotency.take_over(key, start + 120.9, 30) is True
    again = idempotency.get(key)
    assert again is not None and again.lease_until == int(start) + 150

    idempotency.answer(key, 422, "{}")
    assert idempotency.take_over(key, start + 10_000, 60) is False  # answered: nothing to take over
    assert idempotency.take_over(new_id("acct#"), start, 60) is False  # never claimed
    assert idempotency.get(new_id("acct#")) is None


def test_a_released_key_may_be_taken_over_at_once_but_an_answered_one_is_never_released(
    idempotency: IdempotencyStore,
) -> None:
    key = new_id("acct#")
    start = NOW.timestamp()
    idempotency.claim(key, "d", "pay_1", NOW, 60)
    idempotency.release(key)
    released = idempotency.get(key)
    assert released is not None and released.lease_until == 0 and released.lease_left(start) == 0
    assert idempotency.take_over(key, start + 1, 60) is True

    idempotency.answer(key, 201, '{"ok": true}')
    idempotency.release(key)
    answered = idempotency.get(key)
    assert answered is not None and answered.lease_until == int(start) + 61 and answered.answered

    unknown = new_id("acct#")
    idempotency.release(unknown)  # nothing there: nothing happens, nothing is created
    assert idempotency.get(unknown) is None


def test_a_forgotten_key_is_unused_again_but_an_answered_one_is_kept(idempotency: IdempotencyStore) -> None:
    key = new_id("acct#")
    idempotency.claim(key, "d1", "pay_1", NOW, 60)
    idempotency.forget(key)
    assert idempotency.get(key) is None
    assert idempotency.claim(key, "d2", "pay_2", NOW + timedelta(seconds=1), 60) is None
    claimed = idempotency.get(key)
    assert claimed is not None and claimed.request_digest == "d2"

    idempotency.answer(key, 201, "{}")
    idempotency.forget(key)
    kept = idempotency.get(key)
    assert kept is not None and kept.answered and kept.request_digest == "d2"

    idempotency.forget(new_id("acct#"))  # nothing there: no error


def test_a_key_claimed_by_many_at_once_is_held_by_one(idempotency: IdempotencyStore) -> None:
    key = new_id("acct#")
    results: list[StoredRequest | None] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def claim(n: int) -> None:
        barrier.wait()
        outcome = idempotency.claim(key, f"d{n}", f"pay_{n}", NOW, 60)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    holders = [r for r in results if r is None]
    assert len(holders) == 1
    stored = idempotency.get(key)
    assert stored is not None and all(r == stored for r in results if r is not None)
