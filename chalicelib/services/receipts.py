"""Receipts of card payments: the printable page and the PDF.

A receipt belongs to the billing account whose card was charged, and exists only
for money taken (a succeeded or refunded payment): a failed payment has none (its
decline was emailed). A payment recorded before receipts were numbered is given its
number the first time its receipt is read.
"""

from __future__ import annotations

from typing import Any

from ..domain.access import Action, Principal
from ..domain.accounts import Account
from ..domain.payments import Payment
from .access import require
from .errors import NotFound
from .stores import stores


def receipt_path(payment: Payment) -> str | None:
    """Where a payment's receipt is (HTML; `/pdf` after it for the PDF), or None: it has none."""
    if not payment.has_receipt:
        return None
    return f"/accounts/{payment.billing_account_id}/payments/{payment.payment_id}/receipt"


def _receipt_context(principal: Principal, account_id: str, payment_id: str) -> dict[str, Any]:
    from ..receipt_render import receipt_context

    account = require(principal, Action.READ, account_id)
    payments = stores().payments
    payment = payments.get(payment_id) if payment_id.startswith("pay_") else None
    if payment is None or payment.billing_account_id != account.account_id:
        raise NotFound(f"payment {payment_id!r} not found")
    if not payment.has_receipt:
        raise NotFound(f"payment {payment_id!r} {payment.status.value}: there is no receipt for it")
    return receipt_context(payments.ensure_receipt_number(payment), account, _name_of(account))


def _name_of(account: Account) -> str | None:
    if account.billing_account_id == account.account_id:
        return None
    payer = stores().accounts.get(account.billing_account_id)
    return payer.name if payer else None


def receipt_html(principal: Principal, account_id: str, payment_id: str) -> str:
    from ..receipt_render import render_html

    return render_html(_receipt_context(principal, account_id, payment_id))


def receipt_pdf(principal: Principal, account_id: str, payment_id: str) -> tuple[bytes, str]:
    from ..receipt_render import pdf_filename, render_pdf

    context = _receipt_context(principal, account_id, payment_id)
    return render_pdf(context), pdf_filename(context["payment"])
