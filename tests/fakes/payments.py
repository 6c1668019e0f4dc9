"""In-memory `PaymentStore` and `IdempotencyStore` (services/ports.py).

They copy adapters/payments_repo.py condition by condition:

- a payment is recorded once (`create_pending` returns the stored one for a known id, as it is);
- `finish` moves a payment out of `pending` once; a later `finish` changes nothing;
- a success is given the next receipt number of its billing account in the same step, and
  `ensure_receipt_number` numbers a succeeded or refunded payment recorded without one, once;
- `claim_receipt` is true once per recorded payment until `release_receipt`;
- pages are newest first by "<created_at>#<payment id>", resumed after a key of the same
  shape the DynamoDB index gives (`{"payment_id": {"S": ...}, ...}`);
- an idempotency key is claimed once; `take_over` only of an unanswered key whose lease ran
  out or was released; `release` and `forget` leave an answered key alone.

Where the table would write an item the services never read back (updating a key that does
not exist), the fakes refuse with an AssertionError instead: a service that does that has a bug.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters.payments_repo import IDEMPOTENCY_TTL, PaymentPage, StoredRequest
from chalicelib.domain.payments import Payment, PaymentStatus
from chalicelib.domain.periods import format_instant


def _utc(instant: datetime) -> datetime:
    """What UTCDateTimeAttribute gives back: the same instant in UTC (naive means UTC)."""
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


def _created_key(payment: Payment) -> str:
    return f"{format_instant(payment.created_at)}#{payment.payment_id}"


def _in_range(key: str, start: datetime | None, end: datetime | None) -> bool:
    """[start, end) on "<instant>#...", as adapters/time_keys.instant_range asks DynamoDB."""
    if start is not None and key < format_instant(start):
        return False
    return end is None or key < format_instant(end)


@dataclass
class _StoredPayment:
    payment: Payment
    created_key: str
    receipt_sent_at: datetime | None = None


class FakePayments:
    """The `payments` table: payments by id, and the receipt counter of each billing account."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._items: dict[str, _StoredPayment] = {}
        self._last_receipt: dict[str, int] = {}

    # -- test helpers ----------------------------------------------------------------

    def seed(self, payment: Payment) -> None:
        """Store `payment` as it is (any status, with or without a receipt number), as a record
        written before today's rules (e.g. before receipts were numbered) would be."""
        with self._lock:
            stored = replace(payment, created_at=_utc(payment.created_at))
            self._items[payment.payment_id] = _StoredPayment(stored, _created_key(stored))

    def receipt_sent_at(self, payment_id: str) -> datetime | None:
        with self._lock:
            return self._items[payment_id].receipt_sent_at

    # -- PaymentStore ----------------------------------------------------------------

    def get(self, payment_id: str) -> Payment | None:
        with self._lock:
            stored = self._items.get(payment_id)
            return None if stored is None else stored.payment

    def create_pending(self, payment: Payment) -> Payment:
        with self._lock:
            existing = self._items.get(payment.payment_id)
            if existing is not None:
                return existing.payment
            # What the adapter writes: the payment as pending, without outcome or receipt fields.
            record = replace(
                payment,
                status=PaymentStatus.PENDING,
                created_at=_utc(payment.created_at),
                gateway_reference=None,
                failure_code=None,
                failure_reason=None,
                receipt_number=None,
            )
            self._items[payment.payment_id] = _StoredPayment(record, _created_key(record))
        return payment  # the adapter returns what it was given

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
        with self._lock:
            stored = self._items.get(payment_id)
            if status is PaymentStatus.SUCCEEDED:
                assert stored is not None, f"payment {payment_id} was never recorded"
            if stored is not None and stored.payment.status is PaymentStatus.PENDING:
                current = stored.payment
                # Only the outcome fields given are written (a None leaves the stored value).
                moved = replace(
                    current,
                    status=status,
                    gateway_reference=current.gateway_reference if gateway_reference is None else gateway_reference,
                    failure_code=current.failure_code if failure_code is None else failure_code,
                    failure_reason=current.failure_reason if failure_reason is None else failure_reason,
                )
                if status is not PaymentStatus.SUCCEEDED:
                    stored.payment = moved
                elif current.receipt_number is None:  # the success and its number, or neither
                    number = self._next_receipt_number(current.billing_account_id)
                    stored.payment = replace(moved, receipt_number=number)
            final = self._items.get(payment_id)
            assert final is not None
            return final.payment

    def ensure_receipt_number(self, payment: Payment) -> Payment:
        if payment.receipt_number is not None or not payment.has_receipt:
            return payment
        with self._lock:
            stored = self._items.get(payment.payment_id)
            if (
                stored is not None
                and stored.payment.status in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED)
                and stored.payment.receipt_number is None
            ):
                # The counter of the billing account the caller names, as the adapter's transaction.
                number = self._next_receipt_number(payment.billing_account_id)
                stored.payment = replace(stored.payment, receipt_number=number)
            assert stored is not None
            return stored.payment

    def last_receipt_number(self, billing_account_id: str) -> int:
        with self._lock:
            return self._last_receipt.get(billing_account_id, 0)

    def _next_receipt_number(self, billing_account_id: str) -> int:
        number = self._last_receipt.get(billing_account_id, 0) + 1
        self._last_receipt[billing_account_id] = number
        return number

    def claim_receipt(self, payment_id: str, now: datetime) -> bool:
        with self._lock:
            stored = self._items.get(payment_id)
            if stored is None or stored.receipt_sent_at is not None:
                return False
            stored.receipt_sent_at = _utc(now)
            return True

    def release_receipt(self, payment_id: str) -> None:
        with self._lock:
            stored = self._items.get(payment_id)
            # DynamoDB would create a bare item for an unknown id; no service releases one.
            assert stored is not None, f"release_receipt of payment {payment_id}, which was never recorded"
            stored.receipt_sent_at = None

    def page(
        self,
        billing_account_id: str,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        after: dict[str, Any] | None,
    ) -> PaymentPage:
        with self._lock:
            rows = [
                s
                for s in self._newest_first(lambda p: p.billing_account_id == billing_account_id)
                if _in_range(s.created_key, start, end)
            ]
        if after is not None:
            resume = str(after["created_key"]["S"])
            rows = [s for s in rows if s.created_key < resume]
        if len(rows) <= limit:
            return PaymentPage([s.payment for s in rows], None)
        last = rows[limit - 1]
        last_key = {
            "payment_id": {"S": last.payment.payment_id},
            "billing_account_id": {"S": last.payment.billing_account_id},
            "created_key": {"S": last.created_key},
        }
        return PaymentPage([s.payment for s in rows[:limit]], last_key)

    def all_payments(self) -> Iterator[Payment]:
        with self._lock:
            payments = [s.payment for s in self._items.values()]
        yield from payments

    def of_billing(self, billing_account_id: str) -> Iterator[Payment]:
        with self._lock:
            rows = self._newest_first(lambda p: p.billing_account_id == billing_account_id)
        for stored in rows:
            yield stored.payment

    def of_agency(self, agency_id: str, start: datetime, end: datetime) -> list[Payment]:
        with self._lock:
            rows = self._newest_first(lambda p: p.agency_id == agency_id)
        return [s.payment for s in rows if _in_range(s.created_key, start, end)]

    def _newest_first(self, keep: Any) -> list[_StoredPayment]:
        return sorted(
            (s for s in self._items.values() if keep(s.payment)),
            key=lambda s: s.created_key,
            reverse=True,
        )


@dataclass
class _Claim:
    request_digest: str
    payment_id: str
    created_at: datetime
    expires_at: int
    lease_until: int | None
    status_code: int | None = None
    response_json: str | None = None

    def stored(self) -> StoredRequest:
        return StoredRequest(
            self.request_digest, self.payment_id, self.status_code, self.response_json, self.lease_until
        )


class FakeIdempotency:
    """The `idempotency_keys` table (records never expire here: the TTL is a day)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._items: dict[str, _Claim] = {}

    def claim(
        self, key: str, request_digest: str, payment_id: str, now: datetime, lease_seconds: int = 60
    ) -> StoredRequest | None:
        with self._lock:
            existing = self._items.get(key)
            if existing is not None:
                return existing.stored()
            self._items[key] = _Claim(
                request_digest=request_digest,
                payment_id=payment_id,
                created_at=_utc(now),
                expires_at=int((now + IDEMPOTENCY_TTL).timestamp()),
                lease_until=int(now.timestamp()) + lease_seconds,
            )
            return None

    def get(self, key: str) -> StoredRequest | None:
        with self._lock:
            existing = self._items.get(key)
            return None if existing is None else existing.stored()

    def take_over(self, key: str, now: float, lease_seconds: int) -> bool:
        with self._lock:
            existing = self._items.get(key)
            if existing is None or existing.status_code is not None:
                return False
            if existing.lease_until is not None and existing.lease_until > int(now):
                return False
            existing.lease_until = int(now) + lease_seconds
            return True

    def release(self, key: str) -> None:
        with self._lock:
            existing = self._items.get(key)
            if existing is not None and existing.status_code is None:
                existing.lease_until = 0

    def forget(self, key: str) -> None:
        with self._lock:
            existing = self._items.get(key)
            if existing is not None and existing.status_code is None:
                del self._items[key]

    def answer(self, key: str, status_code: int, response_json: str) -> None:
        with self._lock:
            existing = self._items.get(key)
            # DynamoDB would create a record without digest or payment id; no service answers an unclaimed key.
            assert existing is not None, f"answer to idempotency key {key!r}, which was never claimed"
            existing.status_code = status_code
            existing.response_json = response_json
