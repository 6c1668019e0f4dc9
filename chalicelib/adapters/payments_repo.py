"""Payments and idempotency records in DynamoDB.

A payment that succeeds is given its receipt number in the same transaction that
records the success (see tables/payments.py): numbers are sequential per billing
account, with no gaps and no repeats however many workers finish payments at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from ..domain.payments import Payment, PaymentKind, PaymentStatus
from ..domain.periods import format_instant
from .paging import take_page
from .storage_errors import error_code
from .tables.base import bind
from .tables.idempotency import IdempotencyRecord
from .tables.payments import RECEIPT_COUNTER_PREFIX, PaymentRecord
from .time_keys import instant_range

IDEMPOTENCY_TTL = timedelta(days=1)
# Transactions that lose a race for the counter read it again; this many tries is far
# more than concurrent payments of one billing account ever need.
RECEIPT_NUMBER_TRIES = 50


def _to_domain(r: PaymentRecord) -> Payment:
    return Payment(
        payment_id=r.payment_id,
        billing_account_id=r.billing_account_id,
        account_id=r.account_id,
        kind=PaymentKind(r.kind),
        amount_micros=int(r.amount_micros),
        currency=r.currency,
        status=PaymentStatus(r.status),
        card_brand=r.card_brand,
        card_last4=r.card_last4,
        created_at=r.created_at,
        gateway=r.gateway,
        gateway_reference=r.gateway_reference,
        failure_code=r.failure_code,
        failure_reason=r.failure_reason,
        recharge_id=r.recharge_id,
        description=r.description or "",
        agency_id=r.agency_id,
        receipt_number=None if r.receipt_number is None else int(r.receipt_number),
    )


def _conditional_failed(exc: PutError | UpdateError) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"


@dataclass(frozen=True)
class PaymentPage:
    payments: list[Payment]
    last_key: dict[str, Any] | None


class PaymentRepository:
    def get(self, payment_id: str) -> Payment | None:
        bind()
        try:
            return _to_domain(PaymentRecord.get(payment_id, consistent_read=True))
        except DoesNotExist:
            return None

    def create_pending(self, payment: Payment) -> Payment:
        """Record a payment about to be charged; if it exists already, return the stored one."""
        bind()
        record = PaymentRecord(
            payment.payment_id,
            billing_account_id=payment.billing_account_id,
            account_id=payment.account_id,
            kind=payment.kind.value,
            amount_micros=payment.amount_micros,
            currency=payment.currency,
            status=PaymentStatus.PENDING.value,
            card_brand=payment.card_brand,
            card_last4=payment.card_last4,
            gateway=payment.gateway,
            recharge_id=payment.recharge_id,
            description=payment.description,
            agency_id=payment.agency_id,
            created_at=payment.created_at,
            created_key=f"{format_instant(payment.created_at)}#{payment.payment_id}",
            updated_at=payment.created_at,
        )
        try:
            record.save(condition=PaymentRecord.payment_id.does_not_exist())
        except PutError as exc:
            if not _conditional_failed(exc):
                raise
            stored = self.get(payment.payment_id)
            assert stored is not None
            return stored
        return payment

    def finish(
        self,
        payment_id: str,
        status: PaymentStatus,
        now: datetime,
        *,
        gateway_reference: str | None,
        failure_code: str | None = None,
        failure_reason: str | None = None,
    ) -> Payment:
        """Move a pending payment to its outcome (once); returns the stored payment.

        A success is given its receipt number in the same transaction."""
        bind()
        actions: list[Any] = [
            PaymentRecord.status.set(status.value),
            PaymentRecord.updated_at.set(now),
        ]
        for attribute, value in (
            (PaymentRecord.gateway_reference, gateway_reference),
            (PaymentRecord.failure_code, failure_code),
            (PaymentRecord.failure_reason, failure_reason),
        ):
            if value is not None:
                actions.append(attribute.set(value))
        pending = PaymentRecord.status == PaymentStatus.PENDING.value
        if status is PaymentStatus.SUCCEEDED:
            current = self.get(payment_id)
            assert current is not None, f"payment {payment_id} was never recorded"
            self._with_receipt_number(current.billing_account_id, payment_id, actions, pending)
        else:
            try:
                PaymentRecord(payment_id).update(actions=actions, condition=pending)
            except UpdateError as exc:
                if not _conditional_failed(exc):
                    raise
        stored = self.get(payment_id)
        assert stored is not None
        return stored

    def ensure_receipt_number(self, payment: Payment) -> Payment:
        """The payment with its receipt number: one is given now to a succeeded payment recorded
        before receipts were numbered (once: a concurrent caller's number wins)."""
        if payment.receipt_number is not None or not payment.has_receipt:
            return payment
        bind()
        condition = PaymentRecord.status.is_in(PaymentStatus.SUCCEEDED.value, PaymentStatus.REFUNDED.value)
        self._with_receipt_number(payment.billing_account_id, payment.payment_id, [], condition)
        stored = self.get(payment.payment_id)
        assert stored is not None
        return stored

    def last_receipt_number(self, billing_account_id: str) -> int:
        """The last receipt number given on a billing account (0: none yet)."""
        bind()
        try:
            counter = PaymentRecord.get(
                RECEIPT_COUNTER_PREFIX + billing_account_id,
                consistent_read=True,
                attributes_to_get=["last_receipt_number"],
            )
        except DoesNotExist:
            return 0
        return int(counter.last_receipt_number or 0)

    def _with_receipt_number(
        self, billing_account_id: str, payment_id: str, actions: list[Any], condition: Condition
    ) -> bool:
        """Apply `actions` to the payment under `condition`, and give it the next receipt number,
        in one transaction with the counter. False when the payment's condition does not hold
        (it moved on, or has a number already): nothing is written then."""
        counter_key = RECEIPT_COUNTER_PREFIX + billing_account_id
        for _ in range(RECEIPT_NUMBER_TRIES):
            last = self.last_receipt_number(billing_account_id)
            counter_unchanged = (
                PaymentRecord.last_receipt_number == last if last else PaymentRecord.payment_id.does_not_exist()
            )
            try:
                with TransactWrite(connection=self._connection()) as tx:
                    tx.update(
                        PaymentRecord(counter_key),
                        actions=[PaymentRecord.last_receipt_number.set(last + 1)],
                        condition=counter_unchanged,
                    )
                    tx.update(
                        PaymentRecord(payment_id),
                        actions=[*actions, PaymentRecord.receipt_number.set(last + 1)],
                        condition=condition & PaymentRecord.receipt_number.does_not_exist(),
                    )
            except TransactWriteError as exc:
                reasons = exc.cancellation_reasons if error_code(exc) == "TransactionCanceledException" else []
                if not reasons:
                    raise
                payment_reason = reasons[1] if len(reasons) > 1 else None
                if payment_reason is not None and payment_reason.code == "ConditionalCheckFailed":
                    return False
                continue  # the counter moved (another payment took the number), or a transaction conflict
            return True
        raise RuntimeError(f"no receipt number for payment {payment_id} after {RECEIPT_NUMBER_TRIES} tries")

    @staticmethod
    def _connection() -> Connection:
        return PaymentRecord._get_connection().connection

    def claim_receipt(self, payment_id: str, now: datetime) -> bool:
        """True once per payment: whoever claims it sends the receipt email."""
        bind()
        try:
            PaymentRecord(payment_id).update(
                actions=[PaymentRecord.receipt_sent_at.set(now)],
                condition=PaymentRecord.receipt_sent_at.does_not_exist() & PaymentRecord.payment_id.exists(),
            )
        except UpdateError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def release_receipt(self, payment_id: str) -> None:
        bind()
        PaymentRecord(payment_id).update(actions=[PaymentRecord.receipt_sent_at.remove()])

    def page(
        self,
        billing_account_id: str,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        after: dict[str, Any] | None,
    ) -> PaymentPage:
        """Newest first, created in [start, end)."""
        bind()
        condition = instant_range(PaymentRecord.created_key, start, end)
        index = PaymentRecord.by_billing_created
        results = index.query(
            billing_account_id,
            range_key_condition=condition,
            scan_index_forward=False,
            last_evaluated_key=after,
            page_size=limit + 1,
        )
        payments, last_key = take_page(
            results,
            limit,
            _to_domain,
            lambda r: {
                "payment_id": {"S": r.payment_id},
                "billing_account_id": {"S": r.billing_account_id},
                "created_key": {"S": r.created_key},
            },
        )
        return PaymentPage(payments, last_key)

    def all_payments(self) -> Iterator[Payment]:
        """Every payment (a scan: for the reconcile job, never for a request)."""
        bind()
        for record in PaymentRecord.scan(filter_condition=PaymentRecord.status.exists()):
            if not record.payment_id.startswith(RECEIPT_COUNTER_PREFIX):
                yield _to_domain(record)

    def of_billing(self, billing_account_id: str) -> Iterator[Payment]:
        """Every payment of a balance, newest first (the rolling reconcile)."""
        bind()
        for record in PaymentRecord.by_billing_created.query(billing_account_id, scan_index_forward=False):
            yield _to_domain(record)

    def of_agency(self, agency_id: str, start: datetime, end: datetime) -> list[Payment]:
        """Every payment of the agency's own-billing sub-accounts created in [start, end), newest first."""
        bind()
        condition = instant_range(PaymentRecord.created_key, start, end)
        return [
            _to_domain(r)
            for r in PaymentRecord.by_agency_created.query(
                agency_id, range_key_condition=condition, scan_index_forward=False
            )
        ]


@dataclass(frozen=True)
class StoredRequest:
    request_digest: str
    payment_id: str
    status_code: int | None
    response_json: str | None
    lease_until: int | None = None  # epoch seconds; None or past: nobody is working on it

    @property
    def answered(self) -> bool:
        return self.status_code is not None and self.response_json is not None

    def lease_left(self, now: float) -> float:
        """Seconds the request holding the key may still work on it (0: it may be taken over)."""
        return 0.0 if self.lease_until is None else max(0.0, self.lease_until - now)


def _stored(record: IdempotencyRecord) -> StoredRequest:
    return StoredRequest(
        record.request_digest,
        record.payment_id,
        None if record.status_code is None else int(record.status_code),
        record.response_json,
        None if record.lease_until is None else int(record.lease_until),
    )


class IdempotencyRepository:
    def claim(
        self, key: str, request_digest: str, payment_id: str, now: datetime, lease_seconds: int = 60
    ) -> StoredRequest | None:
        """Record a new request under `key`, holding its lease; or return what is stored under it already."""
        bind()
        record = IdempotencyRecord(
            key,
            request_digest=request_digest,
            payment_id=payment_id,
            created_at=now,
            expires_at=int((now + IDEMPOTENCY_TTL).timestamp()),
            lease_until=int(now.timestamp()) + lease_seconds,
        )
        try:
            record.save(condition=IdempotencyRecord.key.does_not_exist())
        except PutError as exc:
            if not _conditional_failed(exc):
                raise
            stored = self.get(key)
            if stored is None:  # forgotten in between: the caller claims again
                return self.claim(key, request_digest, payment_id, now, lease_seconds)
            return stored
        return None

    def get(self, key: str) -> StoredRequest | None:
        bind()
        try:
            return _stored(IdempotencyRecord.get(key, consistent_read=True))
        except DoesNotExist:
            return None

    def take_over(self, key: str, now: float, lease_seconds: int) -> bool:
        """Hold the lease of an unanswered request whose holder let go or ran out of time."""
        bind()
        try:
            IdempotencyRecord(key).update(
                actions=[IdempotencyRecord.lease_until.set(int(now) + lease_seconds)],
                condition=IdempotencyRecord.key.exists()
                & IdempotencyRecord.status_code.does_not_exist()
                & (IdempotencyRecord.lease_until.does_not_exist() | (IdempotencyRecord.lease_until <= int(now))),
            )
        except UpdateError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def release(self, key: str) -> None:
        """Let go of an unanswered request (it failed): a repeat may take over at once."""
        bind()
        try:
            IdempotencyRecord(key).update(
                actions=[IdempotencyRecord.lease_until.set(0)],
                condition=IdempotencyRecord.key.exists() & IdempotencyRecord.status_code.does_not_exist(),
            )
        except UpdateError as exc:
            if not _conditional_failed(exc):
                raise

    def forget(self, key: str) -> None:
        """Remove an unanswered claim that did nothing (refused by the rate limit): the key is unused again."""
        bind()
        try:
            IdempotencyRecord(key).delete(condition=IdempotencyRecord.status_code.does_not_exist())
        except DeleteError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    def answer(self, key: str, status_code: int, response_json: str) -> None:
        bind()
        IdempotencyRecord(key).update(
            actions=[IdempotencyRecord.status_code.set(status_code), IdempotencyRecord.response_json.set(response_json)]
        )
