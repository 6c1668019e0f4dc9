"""Card payments: crediting the ledger, adding funds now, Payment History (receipts: receipts.py)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..adapters.gateway.base import ChargeStatus, GatewayError, GatewayTimeout, PaymentGateway
from ..adapters.payments_repo import StoredRequest
from ..domain.access import Action, Principal
from ..domain.accounts import Account, Billing
from ..domain.cards import InvalidCard
from ..domain.money import MoneyError, format_micros, parse_micros
from ..domain.payments import (
    CENT_MICROS,
    MAX_RECHARGE_MICROS,
    MIN_RECHARGE_MICROS,
    CardOnFile,
    Payment,
    PaymentKind,
    PaymentStatus,
    payment_id_for_request,
)
from ..domain.periods import PeriodError, format_instant, local_range
from .access import require
from .cursors import next_cursor, resume_after
from .errors import BadRequest, Conflict, ServiceError, Unavailable
from .ports import BillingStore, IdempotencyStore, PaymentStore
from .receipts import receipt_path
from .stores import stores
from .tasks import dispatch
from .usage import QueuedMessage, record_usage

KIND_LABELS = {
    PaymentKind.AUTO_RECHARGE: "Auto recharge",
    PaymentKind.MANUAL: "Manual payment",
    PaymentKind.SUBSCRIPTION: "Subscription",
}


class SharedBilling(ServiceError):
    """The account draws from its agency's balance: cards and payments are the agency's."""

    status = 422
    code = "shared_billing"


class CardDeclined(ServiceError):
    status = 422
    code = "card_declined"


def payment_view(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.payment_id,
        "created_at": format_instant(payment.created_at),
        "kind": payment.kind.value,
        "amount": format_micros(payment.amount_micros),
        "currency": payment.currency,
        "status": payment.status.value,
        "card_brand": payment.card_brand,
        "card_last4": payment.card_last4,
        "failure_code": payment.failure_code,
        "failure_reason": payment.failure_reason,
        "gateway_reference": payment.gateway_reference,
        "billing_account_id": payment.billing_account_id,
        "description": payment.description,
        # A receipt only for money taken: a failed or pending payment has no receipt (null).
        "receipt_number": payment.receipt_number,
        "receipt": receipt_path(payment),
    }


def credit_payment(payment: Payment, clock: Callable[[], datetime] = lambda: stores().clock()) -> None:
    """Credit a succeeded payment to its balance, exactly once (the entry is keyed by the payment),
    posted at `clock()` (the worker's clock)."""
    assert payment.status is PaymentStatus.SUCCEEDED
    body = {
        "event_id": payment.credit_event_id,
        "account_id": payment.billing_account_id,
        "category": "recharge",
        "amount": format_micros(payment.amount_micros),
        "occurred_at": payment.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "description": f"{KIND_LABELS[payment.kind]} ({payment.card_brand.title()} •••• {payment.card_last4})",
        "metadata": {"payment_id": payment.payment_id},
    }
    problems: list[str] = []
    outcome = record_usage(
        [QueuedMessage(payment.payment_id, json.dumps(body), payment.billing_account_id)],
        dead_letter=lambda _message, reason, _raw: problems.append(reason),
        clock=clock,
    )
    if outcome.failed_message_ids and not problems:
        # A transient failure (throttled, unreachable): the payment is recorded as
        # succeeded and its credit is keyed by it, so a retry credits it exactly once.
        raise Unavailable(f"could not credit payment {payment.payment_id} yet; retry with the same Idempotency-Key")
    if problems or outcome.failed_message_ids or outcome.charged + outcome.duplicates != 1:
        raise RuntimeError(f"could not credit payment {payment.payment_id}: {problems or outcome}")
    # A credit that still leaves the balance below its threshold sets off a recharge too.
    dispatch(outcome.tasks)


def charge_card(
    gateway: PaymentGateway, payment: Payment, card: CardOnFile, payments: PaymentStore, now: datetime
) -> Payment:
    """Charge a pending payment (idempotent: its id is the gateway's idempotency key)."""
    stored = payments.create_pending(payment)
    if stored.status is not PaymentStatus.PENDING:
        return stored
    try:
        result = gateway.charge(
            amount_cents=stored.amount_micros // CENT_MICROS,
            currency=stored.currency,
            card_token=card.token,
            idempotency_key=stored.payment_id,
            description=stored.description,
            metadata={"payment_id": stored.payment_id, "billing_account_id": stored.billing_account_id},
        )
    except InvalidCard as exc:
        return payments.finish(
            stored.payment_id, PaymentStatus.FAILED, now, gateway_reference=None,
            failure_code="invalid_card", failure_reason=str(exc),
        )  # fmt: skip
    if result.status is ChargeStatus.SUCCEEDED:
        return payments.finish(
            stored.payment_id, PaymentStatus.SUCCEEDED, now, gateway_reference=result.gateway_reference
        )
    return payments.finish(
        stored.payment_id,
        PaymentStatus.FAILED,
        now,
        gateway_reference=result.gateway_reference,
        failure_code=result.failure_code or "card_declined",
        failure_reason=result.failure_message or "The card was declined.",
    )


def own_billing(account: Account) -> None:
    if account.billing is Billing.AGENCY:
        raise SharedBilling(
            f"account {account.account_id!r} draws from agency {account.billing_account_id!r}'s balance: "
            "its cards, settings and payments are the agency's"
        )


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


# A request holds its Idempotency-Key this long at most (longer than the gateway and
# the API Gateway timeouts); a repeat takes over after that, or as soon as it is released.
IDEMPOTENCY_LEASE_SECONDS = 60
# A repeat that finds its key in flight waits this long for the answer, then says 409.
IN_FLIGHT_WAIT_SECONDS = 3.0
IN_FLIGHT_POLL_SECONDS = 0.1
IN_FLIGHT_RETRY_AFTER_MAX = 5


class RequestInProgress(ServiceError):
    """The same Idempotency-Key is being answered by another request right now."""

    status = 409
    code = "in_progress"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


def add_funds(
    principal: Principal,
    account_id: str,
    body: object,
    idempotency_key: str | None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> Answer:
    """POST /accounts/{id}/payments: charge the card now and credit the balance.

    The Idempotency-Key is settled before the rate limit: a replay (answered, or in
    flight) never uses up the allowance; only the request that claims a new key
    counts, and a claim the limit refuses is forgotten so the key stays unused.
    """
    from ..domain.rate_limit import ADD_FUNDS
    from .rate_limits import enforce as enforce_rate_limit

    account = require(principal, Action.ADMIN, account_id)
    own_billing(account)
    if not idempotency_key or not 1 <= len(idempotency_key) <= 255 or not idempotency_key.isprintable():
        raise BadRequest("an Idempotency-Key header (1-255 printable characters) is required")
    if not isinstance(body, dict) or not set(body) <= {"amount", "card"} or "amount" not in body:
        raise BadRequest('body must be {"amount": "50.00", "card": "primary"|"backup"}')
    try:
        amount = parse_micros(body["amount"], field="amount")
    except MoneyError as exc:
        raise BadRequest(str(exc)) from None
    if amount % CENT_MICROS or not MIN_RECHARGE_MICROS <= amount <= MAX_RECHARGE_MICROS:
        raise BadRequest("amount must be whole cents between 10.00 and 10000.00")
    which = body.get("card", "primary")
    if which not in ("primary", "backup"):
        raise BadRequest("card must be primary or backup")

    digest = hashlib.sha256(json.dumps({"amount": amount, "card": which}, sort_keys=True).encode()).hexdigest()
    payment_id = payment_id_for_request(account_id, idempotency_key)
    record_key = f"{account_id}#{idempotency_key}"
    idempotency = stores().idempotency
    now = stores().clock()
    stored = idempotency.claim(record_key, digest, payment_id, now, IDEMPOTENCY_LEASE_SECONDS)
    if stored is None:
        # A new key: this request is the one that counts against the per-account limit (429 + Retry-After).
        try:
            enforce_rate_limit(ADD_FUNDS, account.account_id)
        except BaseException:
            # Refused (429) or not counted (the table did not answer): nothing was done,
            # so the key is unused again rather than held by a request that gave up.
            with contextlib.suppress(Exception):
                idempotency.forget(record_key)
            raise
    else:
        if stored.request_digest != digest:
            raise Conflict("this Idempotency-Key was used with a different request")
        replay = _await_answer(idempotency, record_key, stored, sleep, monotonic)
        if replay is not None:
            return replay
        # The request that held the key failed or crashed: finish the same payment (its id is the key's).

    try:
        answer = _charge_now(principal, account, amount, which, payment_id, now, stores().billing)
    except BaseException:
        with contextlib.suppress(Exception):  # best effort: otherwise the lease runs out
            idempotency.release(record_key)
        raise
    idempotency.answer(record_key, answer.status, json.dumps(answer.body))
    return answer


def _await_answer(
    idempotency: IdempotencyStore,
    key: str,
    stored: StoredRequest,
    sleep: Callable[[float], None],
    monotonic: Callable[[], float],
) -> Answer | None:
    """The stored answer of a repeated key; None once this request holds the key to finish it.

    Waits up to IN_FLIGHT_WAIT_SECONDS for a request in flight, then answers 409
    in_progress with Retry-After.
    """
    deadline = monotonic() + IN_FLIGHT_WAIT_SECONDS
    current: StoredRequest | None = stored
    while True:
        if current is None:
            raise RequestInProgress("this Idempotency-Key was released by a refused request; retry it", 1)
        if current.answered:
            assert current.status_code is not None and current.response_json is not None
            return Answer(current.status_code, json.loads(current.response_json))
        # The clock the lease was given by (claim's `now`): the wall clock when deployed.
        now = stores().clock().timestamp()
        left = current.lease_left(now)
        if left <= 0 and idempotency.take_over(key, now, IDEMPOTENCY_LEASE_SECONDS):
            return None
        if monotonic() >= deadline:
            retry_after = max(1, min(IN_FLIGHT_RETRY_AFTER_MAX, math.ceil(left)))
            raise RequestInProgress(
                "a request with this Idempotency-Key is still being answered; retry it to get its answer",
                retry_after,
            )
        sleep(IN_FLIGHT_POLL_SECONDS)
        current = idempotency.get(key)


def _charge_now(
    principal: Principal,
    account: Account,
    amount: int,
    which: str,
    payment_id: str,
    now: datetime,
    billing: BillingStore,
) -> Answer:
    from .notifications import notify_payment_failed, send_receipt

    settings = billing.head(account.account_id).settings
    card = settings.primary_card if which == "primary" else settings.backup_card
    if card is None:
        raise BadRequest(f"no {which} card on file: add one in billing settings")
    gateway = stores().gateway
    payments = stores().payments
    payment = Payment(
        payment_id=payment_id,
        billing_account_id=account.account_id,
        account_id=account.account_id,
        kind=PaymentKind.MANUAL,
        amount_micros=amount,
        currency=account.currency,
        status=PaymentStatus.PENDING,
        card_brand=card.brand,
        card_last4=card.last4,
        created_at=now,
        gateway=gateway.name,
        description=f"Added funds by {principal.subject}",
        agency_id=account.agency_id,
    )
    try:
        result = charge_card(gateway, payment, card, payments, now)
    except (GatewayTimeout, GatewayError) as exc:
        raise Unavailable(f"the card gateway did not answer; retry with the same Idempotency-Key ({exc})") from None
    if result.status is PaymentStatus.SUCCEEDED:
        credit_payment(result)
        send_receipt(result)
        return Answer(201, payment_view(result))
    notify_payment_failed(result)
    error = CardDeclined(result.failure_reason or "The card was declined.", [payment_view(result)])
    return Answer(422, {"error": {"code": error.code, "message": error.message, "details": error.details}})


def list_payments(principal: Principal, account_id: str, params: Mapping[str, str], limit: int) -> dict[str, Any]:
    account = require(principal, Action.READ, account_id)
    header = {
        "account_id": account.account_id,
        "billing": account.billing.value,
        "billing_account_id": account.billing_account_id,
        "time_zone": account.time_zone,
    }
    if account.billing is Billing.AGENCY:
        payer = stores().accounts.get(account.billing_account_id)
        return {
            **header,
            "paid_by": {"account_id": account.billing_account_id, "name": payer.name if payer else None},
            "items": [],
            "next_cursor": None,
        }
    try:
        period = local_range(params.get("from"), params.get("to"), account.time_zone)
    except PeriodError as exc:
        raise BadRequest(str(exc)) from None
    scope = f"payments:{account.account_id}"
    query = {"from": period.first, "to": period.last}
    after = resume_after(scope, query, params.get("cursor"))
    page = stores().payments.page(account.account_id, period.start, period.end, limit, after)
    return {
        **header,
        "items": [payment_view(p) for p in page.payments],
        "next_cursor": next_cursor(scope, query, page.last_key),
    }
