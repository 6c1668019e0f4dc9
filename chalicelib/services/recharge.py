"""The billing worker: auto-recharges and low-balance alerts, from the billing-tasks queue.

A recharge is charged exactly once whatever happens to the worker: the payment id
comes from the recharge id, the gateway deduplicates on it, the payment record
moves out of `pending` once, and the ledger credit is keyed by the payment.
A worker that times out is simply run again with the same task.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from ..adapters.gateway.base import PaymentGateway
from ..domain.auto_recharge import BillingTask, TaskKind, after_decline, after_success, payment_id_for_recharge
from ..domain.payments import Payment, PaymentKind, PaymentStatus
from .payments import charge_card, credit_payment
from .stores import stores


class RechargeOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    STALE = "stale"  # not the recharge in flight any more (done already, or superseded)
    NOT_POSSIBLE = "not_possible"  # auto-recharge was switched off or the cards removed meanwhile
    ALERTED = "alerted"


def run_task(
    task: BillingTask,
    gateway: PaymentGateway | None = None,
    clock: Callable[[], datetime] = lambda: stores().clock(),
) -> RechargeOutcome:
    if task.kind is TaskKind.LOW_BALANCE_ALERT:
        from .notifications import send_low_balance_alert

        send_low_balance_alert(task)
        return RechargeOutcome.ALERTED
    if task.kind is TaskKind.PAST_DUE:
        from .notifications import send_past_due

        send_past_due(task)
        return RechargeOutcome.ALERTED
    if gateway is None:
        gateway = stores().gateway
    return run_recharge(task.billing_account_id, task.key, gateway, clock)


def run_recharge(
    billing_account_id: str, recharge_id: str, gateway: PaymentGateway, clock: Callable[[], datetime]
) -> RechargeOutcome:
    from .notifications import send_card_declined, send_receipt

    head = stores().ledger.balance(billing_account_id).billing
    if head.recharge.in_flight_id != recharge_id:
        return _finish_stale(billing_account_id, recharge_id)
    billing = stores().billing
    settings = head.settings
    if not settings.auto_recharge_enabled or not settings.cards:
        billing.finish_recharge(billing_account_id, recharge_id, after_success(head.recharge), clock())
        return RechargeOutcome.NOT_POSSIBLE
    account = stores().accounts.get(billing_account_id)
    currency = account.currency if account else "USD"
    payments = stores().payments

    failed: list[Payment] = []
    for attempt, card in enumerate(settings.cards):
        now = clock()
        payment = charge_card(
            gateway,
            Payment(
                payment_id=payment_id_for_recharge(recharge_id, attempt),
                billing_account_id=billing_account_id,
                account_id=billing_account_id,
                kind=PaymentKind.AUTO_RECHARGE,
                amount_micros=settings.amount_micros,
                currency=currency,
                status=PaymentStatus.PENDING,
                card_brand=card.brand,
                card_last4=card.last4,
                created_at=now,
                gateway=gateway.name,
                recharge_id=recharge_id,
                description="Auto recharge" + (" (backup card)" if attempt else ""),
                agency_id=account.agency_id if account else None,
            ),
            card,
            payments,
            now,
        )
        if payment.status is PaymentStatus.SUCCEEDED:
            credit_payment(payment, clock)
            billing.finish_recharge(billing_account_id, recharge_id, after_success(head.recharge), clock())
            send_receipt(payment)
            return RechargeOutcome.SUCCEEDED
        failed.append(payment)

    state = after_decline(head.recharge, clock())
    if billing.finish_recharge(billing_account_id, recharge_id, state, clock()):
        send_card_declined(billing_account_id, failed, state)
    return RechargeOutcome.DECLINED


def _finish_stale(billing_account_id: str, recharge_id: str) -> RechargeOutcome:
    """A redelivered task whose recharge ended: make sure a success was credited, then stop."""
    payments = stores().payments
    for attempt in (0, 1):
        payment = payments.get(payment_id_for_recharge(recharge_id, attempt))
        if payment is not None and payment.status is PaymentStatus.SUCCEEDED:
            credit_payment(payment)  # a no-op when it was credited already
    return RechargeOutcome.STALE
