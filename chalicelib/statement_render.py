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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from .domain.money import format_quantity_micros
from .domain.statements import MICROS_PER_CENT, check_reconciles
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


def _day(text: str) -> str:
    d = date.fromisoformat(text)
    return f"{_MONTHS[d.month - 1]} {d.day}, {d.year}"


def _usage_rows(rows: list[dict[str, Any]], currency: str) -> list[dict[str, Any]]:
    return [
        {
            "label": r["label"],
            "category": r["category"],
            "count": f"{r['count']:,}",
            "quantity": format_quantity_micros(r["quantity_micros"]),
            "unit": r["unit"],
            "quantity_text": quantity_text(r["quantity_micros"], r["unit"]),  # "1,328 minutes"
            "amount": _cents(r["amount_cents"], currency),
        }
        for r in rows
    ]


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


def view_model(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Display strings for every part of a statement (templates and the PDF read this)."""
    account, period = doc["account"], doc["period"]
    currency, zone = account["currency"], account["time_zone"]
    lines = [
        {"label": line["label"], "amount": _cents(line["amount_cents"], currency), "note": line.get("note")}
        for line in doc["credits"]
    ]
    debit_lines = [
        {"label": line["label"], "amount": _cents(line["amount_cents"], currency), "note": line.get("note")}
        for line in doc["debits"]
    ]
    daily = doc.get("daily") or []
    peak = max((d["cost_micros"] for d in daily), default=0)
    agency = account["kind"] == "agency"
    return {
        "statement_id": doc["statement_id"],
        "account_id": account["account_id"],
        "account_name": account["name"],
        "is_agency": agency,
        "heading": "Agency statement" if agency else "Account statement",
        "currency": currency,
        "time_zone": zone,
        "from": period["from"],
        "to": period["to"],
        "period_label": f"{_day(period['from'])} to {_day(period['to'])}",
        "in_progress": bool(period.get("in_progress")),
        "closing_as_of": datetime_local(period["closing_at"], zone),
        "built": datetime_local(doc["built_at"], zone),
        "origin": doc.get("origin", "on_demand"),
        "frequency": doc.get("frequency"),
        "opening": _cents(doc["opening_balance_cents"], currency),
        "closing": _cents(doc["closing_balance_cents"], currency),
        "credits": lines,
        "debits": debit_lines,
        "total_credits": _cents(doc["total_credits_cents"], currency),
        "total_debits": _cents(doc["total_debits_cents"], currency),
        "usage": _usage_rows(doc["usage"], currency),
        "usage_total": _cents(doc["usage_total_cents"], currency),
        "accounts": [
            {
                "account_id": a["account_id"],
                "name": a["name"],
                "role": ROLE_LABELS.get(a["role"], humanize(a["role"])),
                "time_zone": a["time_zone"],
                "usage": _usage_rows(a["usage"], currency),
                "total": _cents(a["usage_total_cents"], currency),
            }
            for a in doc["accounts"]
        ]
        if agency
        else [],
        # Each in its own balance's currency (a statement built before rows named it: the owner's);
        # listed, never added to this statement's figures.
        "own_accounts": [
            {
                "account_id": o["account_id"],
                "name": o["name"],
                "currency": o.get("currency", currency),
                "usage": _cents(o["usage_total_cents"], o.get("currency", currency)),
                "card_charges": _cents(o["card_charges_cents"], o.get("currency", currency)),
                "closing": _cents(o["closing_balance_cents"], o.get("currency", currency)),
            }
            for o in doc["own_billing_accounts"]
        ],
        "own_currencies_differ": any(o.get("currency", currency) != currency for o in doc["own_billing_accounts"]),
        "charges": [
            {
                "date": date_local(c["created_at"], zone),
                "when": datetime_local(c["created_at"], zone),
                "kind": payment_kind(c["kind"]),
                "card": card_label(c["card_brand"], c["card_last4"]),
                "status": humanize(c["status"]),
                "failed": c["status"] == "failed",
                "reason": (c.get("failure_reason") or failure_text("card_declined"))
                if c["status"] == "failed"
                else None,
                "amount": _cents(c["amount_cents"], currency),
                "payment_id": c["payment_id"],
            }
            for c in doc["card_charges"]
        ],
        "charges_total": _cents(doc["card_charges_total_cents"], currency),
        "daily": [
            {
                "date": d["date"],
                "day": date.fromisoformat(d["date"]).day,
                "label": _day(d["date"]),
                "amount": money(d["cost_micros"], currency),
                "cost_micros": d["cost_micros"],
                "share": 0.0 if peak <= 0 else max(d["cost_micros"], 0) / peak,
            }
            for d in daily
        ],
        "daily_peak": money(peak, currency),
        "axis": chart_axis([d["date"] for d in daily]),
        "issuer": doc.get("issuer"),  # absent on statements built before it was printed
        "has_posting_difference": doc.get("posting_difference_micros", 0) != 0,
        "basis": doc["basis"],
        "entries_posted": doc["chain"]["entries_posted"],
    }


def subject(doc: Mapping[str, Any]) -> str:
    vm = view_model(doc)
    return f"Statement for {vm['account_name']}: {vm['period_label']}"


def pdf_filename(doc: Mapping[str, Any]) -> str:
    period = doc["period"]
    return f"statement-{doc['account']['account_id']}-{period['from']}-to-{period['to']}.pdf"


def render_html(doc: Mapping[str, Any]) -> str:
    """The printable page (print CSS in a <style> block)."""
    from .rendering import render

    check_reconciles(doc)
    return render("statement.html", s=view_model(doc), time_zone=doc["account"]["time_zone"])


def render_text(doc: Mapping[str, Any]) -> str:
    from .rendering import render

    check_reconciles(doc)
    return render("statement.txt", s=view_model(doc), time_zone=doc["account"]["time_zone"])


def render_pdf(doc: Mapping[str, Any]) -> bytes:
    """The PDF: the same bytes every time for the same stored numbers."""
    from .statement_pdf import statement_pdf

    check_reconciles(doc)
    return statement_pdf(view_model(doc), doc["built_at"])


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


def render_email(doc: Mapping[str, Any]) -> RenderedStatement:
    from .rendering import inline_css

    return RenderedStatement(
        subject=subject(doc),
        text=render_text(doc),
        html=inline_css(render_html(doc)),
        pdf=render_pdf(doc),
        filename=pdf_filename(doc),
    )
