"""A stored statement as people read it: HTML (page and email), plain text and PDF.

Everything is rendered from the stored numbers (`domain/statements.py` builds them),
through one view model of display strings, so the three formats cannot disagree and
a copy fetched later shows what was sent. Money is printed from the allocated
cents (`*_cents`), so every printed group adds up to its printed total.

jinja2, css_inline and the PDF library are imported inside functions only: the
ingest Lambda never loads them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from .domain.money import format_quantity_micros
from .domain.periods import format_instant
from .domain.statement import BalanceLine, Statement, UsageRow
from .domain.statements import MICROS_PER_CENT, check_statement_arithmetic
from .rendering import (
    card_label,
    date_local,
    datetime_local,
    failure_text,
    humanize,
    money,
    payment_kind,
    quantity_text,
)

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
ROLE_LABELS = {"agency": "Agency", "shared": "Shared billing", "account": "Account"}


def _cents(cents: int, currency: str) -> str:
    return money(cents * MICROS_PER_CENT, currency)


def _day(d: date) -> str:
    return f"{_MONTHS[d.month - 1]} {d.day}, {d.year}"


def _usage_rows(rows: Sequence[UsageRow], currency: str) -> list[dict[str, Any]]:
    return [
        {
            "label": r.label,
            "category": r.category,
            "count": f"{r.count:,}",
            "quantity": format_quantity_micros(r.quantity_micros),
            "unit": r.unit,
            "quantity_text": quantity_text(r.quantity_micros, r.unit),  # "1,328 minutes"
            "amount": _cents(r.amount_cents, currency),
        }
        for r in rows
    ]


def _balance_lines(lines: Sequence[BalanceLine], currency: str) -> list[dict[str, Any]]:
    return [{"label": line.label, "amount": _cents(line.amount_cents, currency), "note": line.note} for line in lines]


# A chart's axis labels a day each up to this many days; a longer period is labelled by month.
AXIS_DAYS = 35
AXIS_LABELS = 16


def chart_axis(days: list[str]) -> list[dict[str, Any]]:
    """Labels under the daily chart, as cells that span days (their spans add up to the days).

    Up to AXIS_DAYS days: the day of the month, every day or every few days (at most
    AXIS_LABELS labels); longer: one cell per month, named "Oct" (with the year in
    January and on the first), so the labels never run together however long the period.
    """
    if not days:
        return []
    dates = [date.fromisoformat(d) for d in days]
    if len(dates) <= AXIS_DAYS:
        step = -(-len(dates) // AXIS_LABELS)
        return [{"label": str(d.day) if i % step == 0 else "", "span": 1} for i, d in enumerate(dates)]
    cells: list[dict[str, Any]] = []
    for i, d in enumerate(dates):
        if i and (d.year, d.month) == (dates[i - 1].year, dates[i - 1].month):
            cells[-1]["span"] += 1
            continue
        name = _MONTHS[d.month - 1]
        cells.append({"label": f"{name} {d.year}" if i == 0 or d.month == 1 else name, "span": 1})
    for cell in cells:
        if cell["span"] < 8:  # too narrow to hold a name (a period starting or ending mid-month)
            cell["label"] = ""
    return cells


def view_model(statement: Statement) -> dict[str, Any]:
    """Display strings for every part of a statement (templates and the PDF read this)."""
    s = statement
    account, period = s.account, s.period
    currency, zone = account.currency, account.time_zone
    peak = max((d.cost_micros for d in s.daily), default=0)
    agency = account.kind == "agency"
    return {
        "statement_id": s.statement_id,
        "account_id": account.account_id,
        "account_name": account.name,
        "is_agency": agency,
        "heading": "Agency statement" if agency else "Account statement",
        "currency": currency,
        "time_zone": zone,
        "from": period.first.isoformat(),
        "to": period.last.isoformat(),
        "period_label": f"{_day(period.first)} to {_day(period.last)}",
        "in_progress": period.in_progress,
        "closing_as_of": datetime_local(period.closing_at, zone),
        "built": datetime_local(s.built_at, zone),
        "origin": s.origin,
        "frequency": s.frequency,
        "opening": _cents(s.opening_balance_cents, currency),
        "closing": _cents(s.closing_balance_cents, currency),
        "credits": _balance_lines(s.credits, currency),
        "debits": _balance_lines(s.debits, currency),
        "total_credits": _cents(s.total_credits_cents, currency),
        "total_debits": _cents(s.total_debits_cents, currency),
        "usage": _usage_rows(s.usage, currency),
        "usage_total": _cents(s.usage_total_cents, currency),
        "accounts": [
            {
                "account_id": a.account_id,
                "name": a.name,
                "role": ROLE_LABELS.get(a.role, humanize(a.role)),
                "time_zone": a.time_zone,
                "usage": _usage_rows(a.usage, currency),
                "total": _cents(a.usage_total_cents, currency),
            }
            for a in s.accounts
        ]
        if agency
        else [],
        # Each in its own balance's currency (a statement built before rows named it: the owner's);
        # listed, never added to this statement's figures.
        "own_accounts": [
            {
                "account_id": o.account_id,
                "name": o.name,
                "currency": o.currency or currency,
                "usage": _cents(o.usage_total_cents, o.currency or currency),
                "card_charges": _cents(o.card_charges_cents, o.currency or currency),
                "closing": _cents(o.closing_balance_cents, o.currency or currency),
            }
            for o in s.own_billing_accounts
        ],
        "own_currencies_differ": any((o.currency or currency) != currency for o in s.own_billing_accounts),
        "charges": [
            {
                "date": date_local(c.created_at, zone),
                "when": datetime_local(c.created_at, zone),
                "kind": payment_kind(c.kind),
                "card": card_label(c.card_brand, c.card_last4),
                "status": humanize(c.status),
                "failed": c.status == "failed",
                "reason": (c.failure_reason or failure_text("card_declined")) if c.status == "failed" else None,
                "amount": _cents(c.amount_cents, currency),
                "payment_id": c.payment_id,
            }
            for c in s.card_charges
        ],
        "charges_total": _cents(s.card_charges_total_cents, currency),
        "daily": [
            {
                "date": d.day.isoformat(),
                "day": d.day.day,
                "label": _day(d.day),
                "amount": money(d.cost_micros, currency),
                "cost_micros": d.cost_micros,
                "share": 0.0 if peak <= 0 else max(d.cost_micros, 0) / peak,
            }
            for d in s.daily
        ],
        "daily_peak": money(peak, currency),
        "axis": chart_axis([d.day.isoformat() for d in s.daily]),
        "issuer": None if s.issuer is None else s.issuer.to_json(),  # absent on statements built before it was printed
        "has_posting_difference": s.posting_difference_micros != 0,
        "basis": s.basis,
        "entries_posted": s.chain.entries_posted,
    }


def subject(statement: Statement) -> str:
    vm = view_model(statement)
    return f"Statement for {vm['account_name']}: {vm['period_label']}"


def pdf_filename(statement: Statement) -> str:
    period = statement.period
    return f"statement-{statement.account.account_id}-{period.first.isoformat()}-to-{period.last.isoformat()}.pdf"


def render_html(statement: Statement) -> str:
    """The printable page (print CSS in a <style> block)."""
    from .rendering import render

    check_statement_arithmetic(statement)
    return render("statement.html", s=view_model(statement), time_zone=statement.time_zone)


def render_text(statement: Statement) -> str:
    from .rendering import render

    check_statement_arithmetic(statement)
    return render("statement.txt", s=view_model(statement), time_zone=statement.time_zone)


def render_pdf(statement: Statement) -> bytes:
    """The PDF: the same bytes every time for the same stored numbers."""
    from .statement_pdf import statement_pdf

    check_statement_arithmetic(statement)
    return statement_pdf(view_model(statement), format_instant(statement.built_at))


@dataclass(frozen=True)
class RenderedStatement:
    subject: str
    text: str
    html: str  # CSS inlined, for email
    pdf: bytes
    filename: str

    @property
    def pdf_sha256(self) -> str:
        return hashlib.sha256(self.pdf).hexdigest()


def render_email(statement: Statement) -> RenderedStatement:
    from .rendering import inline_css

    return RenderedStatement(
        subject=subject(statement),
        text=render_text(statement),
        html=inline_css(render_html(statement)),
        pdf=render_pdf(statement),
        filename=pdf_filename(statement),
    )
