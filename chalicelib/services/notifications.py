"""Emails about money: receipts, declined cards, low and past-due balances, usage alerts;
and the billing events that go to webhooks with them (services/webhooks.py).

Email is best effort next to the money itself: a failure is logged and never
undoes or blocks a charge or a credit. Receipts are claimed on the payment first,
so a retried worker does not send the same receipt twice.

A sub-account on its own billing is the agency's client: its declined card, paused
auto-recharge and past-due balance also reach the agency's contacts (the agency is
who calls the client), by email and on the agency's webhook.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..domain.accounts import Account, Billing
from ..domain.auto_recharge import MAX_CONSECUTIVE_DECLINES, BillingTask
from ..domain.money import format_micros
from ..domain.payments import Payment, RechargeState
from ..observability import get_logger
from .stores import stores

if TYPE_CHECKING:
    from ..adapters.statements_repo import StoredStatement


def _send(
    to: Sequence[str], subject: str, template: str, context: dict[str, Any], attachments: Sequence[Any] = ()
) -> bool:
    return _send_or_error(to, subject, template, context, attachments) is None


def _send_or_error(
    to: Sequence[str], subject: str, template: str, context: dict[str, Any], attachments: Sequence[Any] = ()
) -> str | None:
    """None when sent; otherwise why not."""
    from ..rendering import render_email

    if not to:
        get_logger().info("no recipients for email", extra={"template": template})
        return "no recipients"
    try:
        text, html = render_email(template, **context)
        stores().mailer.send(to=list(to), subject=subject, text=text, html=html, attachments=list(attachments))
    except Exception as exc:
        get_logger().exception("email not sent", extra={"template": template})
        return f"{type(exc).__name__}: {exc}"[:300]
    return None


def _agency_of(account: Account) -> Account | None:
    """The agency whose client this is, when the client pays its own way (None otherwise)."""
    if account.agency_id is None or account.billing is not Billing.OWN:
        return None
    return _account(account.agency_id)


def _payment_data(payment: Payment) -> dict[str, Any]:
    from ..domain.periods import format_instant

    return {
        "payment_id": payment.payment_id,
        "kind": payment.kind.value,
        "amount": format_micros(payment.amount_micros),
        "currency": payment.currency,
        "status": payment.status.value,
        "card_brand": payment.card_brand,
        "card_last4": payment.card_last4,
        "failure_code": payment.failure_code,
        "failure_reason": payment.failure_reason,
        "created_at": format_instant(payment.created_at),
    }


def _account(account_id: str) -> Account | None:
    return stores().accounts.get(account_id)


def send_receipt(payment: Payment) -> None:
    """The receipt of a succeeded payment, as text and HTML with the PDF attached (once per payment)."""
    from ..adapters.email import Attachment
    from ..domain.webhooks import EventType
    from ..receipt_render import pdf_filename, receipt_context, receipt_label, render_pdf
    from .webhooks import emit

    account = _account(payment.billing_account_id)
    if account is not None and payment.has_receipt:
        emit(account, EventType.PAYMENT_SUCCEEDED, payment.payment_id, _payment_data(payment))
    if account is None or not account.emails or not payment.has_receipt:
        return
    payments = stores().payments
    if not payments.claim_receipt(payment.payment_id, stores().clock()):
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
    from ..domain.webhooks import EventType
    from .webhooks import emit

    account = _account(billing_account_id)
    if account is None:
        return
    agency = _agency_of(account)
    for payment in failed:
        emit(account, EventType.PAYMENT_FAILED, payment.payment_id, _payment_data(payment), agency=agency)
    if state.paused:
        emit(
            account,
            EventType.AUTO_RECHARGE_PAUSED,
            failed[0].payment_id,
            {"consecutive_declines": state.consecutive_declines, "last_payment_id": failed[0].payment_id},
            agency=agency,
        )
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
        "settings_url": _console_url("billing"),
    }
    what = "auto-recharge paused" if state.paused else "auto-recharge failed"
    _send(account.emails, f"Card declined: {what} for {account.name}", "card_declined", context)
    if agency is not None and agency.emails:
        _send(agency.emails, f"Your client {account.name}: card declined, {what}", "card_declined", context)


def notify_payment_failed(payment: Payment) -> None:
    """A card declined when someone added funds by hand: they saw it; webhooks hear of it too."""
    from ..domain.webhooks import EventType
    from .webhooks import emit

    account = _account(payment.billing_account_id)
    if account is not None:
        emit(account, EventType.PAYMENT_FAILED, payment.payment_id, _payment_data(payment), agency=_agency_of(account))


def send_past_due(task: BillingTask) -> None:
    """The balance went below zero: its contacts (and a client's agency) are told once per crossing."""
    from ..domain.webhooks import EventType
    from .webhooks import emit

    account = _account(task.billing_account_id)
    if account is None:
        return
    agency = _agency_of(account)
    head = stores().billing.head(account.account_id)
    data = {"balance": format_micros(task.balance_micros), "currency": account.currency}
    emit(account, EventType.BALANCE_PAST_DUE, f"{account.account_id}:{task.key}", data, agency=agency)
    context = {
        "account_name": account.name,
        "billing_account_id": account.account_id,
        "time_zone": account.time_zone,
        "balance_micros": task.balance_micros,
        "currency": account.currency,
        "auto_recharge_enabled": head.settings.auto_recharge_enabled,
        "auto_recharge_paused": head.recharge.paused,
        "settings_url": _console_url("billing"),
    }
    subject = f"Past due: {account.name}'s balance is {format_micros(task.balance_micros)} {account.currency}"
    _send(head.settings.alert_recipients or account.emails, subject, "past_due", context)
    if agency is not None and agency.emails:
        _send(agency.emails, f"Your client {subject}", "past_due", {**context, "for_agency": True})


def _console_url(page: str) -> str | None:
    from ..config import get_settings

    base = get_settings().console_url
    return f"{base.rstrip('/')}#/{page}" if base else None


def send_usage_alert(recipients: Sequence[str], context: dict[str, Any]) -> str | None:
    """A usage alert's email; None when sent, otherwise why not. `context`: the alert, the firing's
    data, its owner and subject accounts (services/notices.py)."""
    from datetime import date

    from ..domain.alerts import AlertPeriod, AlertScope, UsageAlert, watch_in_words, window_of, with_unit

    alert: UsageAlert = context["alert"]
    data: dict[str, Any] = context["data"]
    owner: Account | None = context.get("owner")
    subject: Account | None = context.get("subject")
    window = window_of(AlertPeriod(str(data["period"])), date.fromisoformat(str(data["period_start"])))
    from ..domain.alerts import Measure
    from ..domain.money import parse_micros
    from ..rendering import money

    who = subject or owner
    currency = str(data.get("currency") or (who.currency if who else "USD"))

    def figure(text: object) -> str:  # money as people read it ("$512.37 USD"), counts and quantities as they are
        if alert.measure is Measure.COST:
            return money(parse_micros(str(text)), currency, code=True)
        return with_unit(str(text), alert.measure, alert.category, currency)

    threshold = figure(data["threshold"])
    values = {
        "alert_name": alert.name,
        "subject_name": subject.name if subject else str(data.get("subject_account_id")),
        "subject_id": subject.account_id if subject else str(data.get("subject_account_id")),
        "owner_name": owner.name if owner else alert.owner_id,
        "agency_wide": alert.scope is AlertScope.AGENCY,
        "what": watch_in_words(alert.category, alert.measure, alert.period),
        "threshold_text": threshold,
        "value_text": figure(data["value"]),
        "period_label": window.label,
        "period_word": window.kind.value,
        "period_start": window.start.isoformat(),
        "period_end": window.end.isoformat(),
        "time_zone": str(data.get("time_zone") or "UTC"),
        "usage_url": _console_url("usage"),
    }
    subject_line = f"Usage alert: {alert.name} reached {threshold} ({window.label})"
    return _send_or_error(recipients, subject_line, "usage_alert", values)


def send_low_balance_alert(task: BillingTask) -> None:
    from ..domain.webhooks import EventType
    from .webhooks import emit

    account = _account(task.billing_account_id)
    if account is None:
        return
    settings = stores().billing.head(account.account_id).settings
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
    data = {
        "balance": format_micros(task.balance_micros),
        "threshold": format_micros(threshold),
        "currency": account.currency,
    }
    emit(account, EventType.BALANCE_LOW, f"{account.account_id}:{task.key}", data)


def notify_statement_sent(statement: StoredStatement) -> None:
    """A statement went out: its account's webhook hears of it."""
    from ..domain.webhooks import EventType
    from .webhooks import emit

    account = _account(statement.account_id)
    if account is None:
        return
    data = {
        "statement_id": statement.statement_id,
        "from": statement.period_first,
        "to": statement.period_last,
        "origin": statement.origin,
        "recipients": len(statement.recipients),
    }
    emit(account, EventType.STATEMENT_SENT, statement.statement_id, data)
