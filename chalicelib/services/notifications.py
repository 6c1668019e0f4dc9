"""Emails about money: receipts, declined cards, low balances.

Email is best effort next to the money itself: a failure is logged and never
undoes or blocks a charge or a credit. Receipts are claimed on the payment first,
so a retried worker does not send the same receipt twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ..adapters.accounts_repo import AccountRepository
from ..adapters.payments_repo import PaymentRepository
from ..domain.accounts import Account
from ..domain.auto_recharge import MAX_CONSECUTIVE_DECLINES, BillingTask
from ..domain.money import format_micros
from ..domain.payments import Payment, RechargeState
from ..observability import get_logger


def _send(
    to: Sequence[str], subject: str, template: str, context: dict[str, Any], attachments: Sequence[Any] = ()
) -> bool:
    from ..adapters.email import send_email
    from ..rendering import render_email

    if not to:
        get_logger().info("no recipients for email", extra={"template": template})
        return False
    try:
        text, html = render_email(template, **context)
        send_email(to=list(to), subject=subject, text=text, html=html, attachments=list(attachments))
    except Exception:
        get_logger().exception("email not sent", extra={"template": template})
        return False
    return True


def _account(account_id: str) -> Account | None:
    return AccountRepository().get(account_id)


def send_receipt(payment: Payment) -> None:
    """The receipt of a succeeded payment, as text and HTML with the PDF attached (once per payment)."""
    from ..adapters.email import Attachment
    from ..receipt_render import pdf_filename, receipt_context, receipt_label, render_pdf

    account = _account(payment.billing_account_id)
    if account is None or not account.emails or not payment.has_receipt:
        return
    payments = PaymentRepository()
    if not payments.claim_receipt(payment.payment_id, datetime.now(UTC)):
        return
    payment = payments.ensure_receipt_number(payment)
    context = receipt_context(payment, account)
    number = receipt_label(payment.receipt_number)
    subject = (
        f"Receipt {number}: " if number else "Receipt: "
    ) + f"{format_micros(payment.amount_micros)} {payment.currency} added to {account.name}"
    try:
        pdf = Attachment(pdf_filename(payment), "application/pdf", render_pdf(context))
    except Exception:
        get_logger().exception("receipt PDF not made", extra={"payment_id": payment.payment_id})
        pdf = None
    if not _send(account.emails, subject, "receipt", context, attachments=[pdf] if pdf else []):
        payments.release_receipt(payment.payment_id)


def send_card_declined(billing_account_id: str, failed: Sequence[Payment], state: RechargeState) -> None:
    account = _account(billing_account_id)
    if account is None:
        return
    context = {
        "account_name": account.name,
        "billing_account_id": billing_account_id,
        "time_zone": account.time_zone,
        "payment": failed[0],
        "backup_payment": failed[1] if len(failed) > 1 else None,
        "consecutive_declines": state.consecutive_declines,
        "max_declines": MAX_CONSECUTIVE_DECLINES,
        "paused": state.paused,
        "cooldown_until": state.cooldown_until,
    }
    _send(account.emails, f"Card declined: auto-recharge for {account.name} failed", "card_declined", context)


def send_low_balance_alert(task: BillingTask) -> None:
    from ..adapters.billing_repo import BillingRepository

    account = _account(task.billing_account_id)
    if account is None:
        return
    settings = BillingRepository().head(account.account_id).settings
    recipients = settings.alert_recipients or account.emails
    threshold = settings.low_balance_alert_micros or 0
    context = {
        "account_name": account.name,
        "billing_account_id": account.account_id,
        "time_zone": account.time_zone,
        "balance_micros": task.balance_micros,
        "threshold_micros": threshold,
        "currency": account.currency,
        "auto_recharge_enabled": settings.auto_recharge_enabled,
    }
    subject = f"Low balance: {account.name} is below {format_micros(threshold)} {account.currency}"
    _send(recipients, subject, "low_balance", context)
