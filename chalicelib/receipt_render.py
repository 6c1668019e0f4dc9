"""A payment receipt as people read it: HTML (page and email), plain text and PDF.

The three are rendered from one context (`receipt_context`); the PDF draws the
display strings of `view_model`, which uses the same filters as the templates, so
the formats agree. A receipt is numbered (sequential per billing account) and
carries the platform's company block (name, address, tax id) from configuration.

jinja2 and the PDF library are imported inside functions only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .domain.accounts import Account
from .domain.payments import Payment
from .rendering import card_label, company_block, datetime_local, humanize, money, payment_kind


def receipt_context(payment: Payment, account: Account, billing_account_name: str | None = None) -> dict[str, Any]:
    """What templates/receipt.{html,txt} and the PDF read."""
    return {
        "account_name": account.name,
        "billing_account_id": payment.billing_account_id,
        "billing_account_name": billing_account_name,
        "time_zone": account.time_zone,
        "payment": payment,
        "issuer": company_block(),
    }


def receipt_label(number: int | None) -> str | None:
    """How a receipt number is printed: "No. 12"."""
    return None if number is None else f"No. {number}"


def view_model(context: Mapping[str, Any]) -> dict[str, Any]:
    """Display strings of a receipt (the PDF reads these)."""
    payment: Payment = context["payment"]
    zone = context["time_zone"]
    payer = context.get("billing_account_name")
    billing = context["billing_account_id"]
    status = payment.status.value
    return {
        "issuer": context["issuer"],
        "title": {"refunded": "Payment refunded"}.get(status, "Payment receipt"),
        "number": receipt_label(payment.receipt_number),
        "amount": money(payment.amount_micros, payment.currency, code=True),
        "rows": [
            ("Receipt number", receipt_label(payment.receipt_number) or "-"),
            ("Account", context["account_name"]),
            ("Billing account", f"{payer} ({billing})" if payer else billing),
            ("Payment ID", payment.payment_id),
            ("Date", datetime_local(payment.created_at, zone)),
            ("Type", payment_kind(payment.kind.value)),
            ("Amount", money(payment.amount_micros, payment.currency)),
            ("Currency", payment.currency.upper()),
            ("Status", humanize(status)),
            ("Card", card_label(payment.card_brand, payment.card_last4)),
            *([("Gateway reference", payment.gateway_reference)] if payment.gateway_reference else []),
        ],
        "note": (
            "This payment was refunded to the card it was charged to."
            if status == "refunded"
            else "Keep this receipt for your records."
        ),
        "time_zone": zone,
    }


def pdf_filename(payment: Payment) -> str:
    number = f"-{payment.receipt_number}" if payment.receipt_number is not None else ""
    return f"receipt-{payment.billing_account_id}{number}-{payment.payment_id}.pdf"


def render_html(context: Mapping[str, Any]) -> str:
    from .rendering import render

    return render("receipt.html", **context)


def render_pdf(context: Mapping[str, Any]) -> bytes:
    """The PDF: the same bytes every time for the same payment and company block."""
    from .receipt_pdf import receipt_pdf

    payment: Payment = context["payment"]
    return receipt_pdf(view_model(context), payment.created_at)
