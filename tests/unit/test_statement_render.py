"""Statement HTML, text and PDF from stored numbers: escaped, parseable, reproducible."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pypdf

from chalicelib.domain.categories import Category
from chalicelib.domain.periods import local_range
from chalicelib.domain.rollups import RollupTotals
from chalicelib.domain.statement import DailyCost, Issuer, Statement
from chalicelib.domain.statements import (
    AccountActivity,
    Boundary,
    CardCharge,
    Head,
    Owner,
    StatementInputs,
    build_statement,
)
from chalicelib.statement_pdf import pdf_text
from chalicelib.statement_render import chart_axis, render_html, render_pdf, render_text, view_model

AGENCY_NAME = '<script>alert("x")</script> & Sons — Zürich'
SUB_NAME = "<img src=x onerror=alert(1)> Büro 東京"


def agency_doc(rows: int = 2) -> Statement:
    period = local_range("2026-10-01", "2026-10-31", "America/New_York")
    assert period.start is not None and period.end is not None
    opening = Boundary(date(2026, 10, 1), 100_000_000, 2)
    usage = {
        Category.CALL_MINUTES: RollupTotals(40, 120_000_000, -1_500_000),
        Category.TEXT_MESSAGES: RollupTotals(12, 12_000_000, -94_800),
        Category.RECHARGE: RollupTotals(1, 1_000_000, 25_000_000),
    }
    shared = {Category.NUMBER_RENEWALS: RollupTotals(2, 2_000_000, -2_000_000)}
    closing_balance = 100_000_000 + 25_000_000 - 1_500_000 - 94_800 - 2_000_000
    closing = Boundary(date(2026, 11, 1), closing_balance, 9)
    charges = [
        CardCharge(
            f"pay_{i:04d}",
            period.start + timedelta(minutes=i),
            "auto_recharge",
            "succeeded",
            25_000_000,
            "visa",
            "4242",
        )
        for i in range(rows)
    ]
    charges.append(
        CardCharge(
            "pay_failed",
            period.start + timedelta(days=2),
            "manual",
            "failed",
            10_000_000,
            "visa",
            "0002",
            failure_reason="Declined",
        )
    )
    inputs = StatementInputs(
        statement_id="st_0123456789abcdef01234567",
        owner=Owner("agency_1", AGENCY_NAME, "agency", "own", "agency_1", "America/New_York", "USD"),
        first=date(2026, 10, 1),
        last=date(2026, 10, 31),
        start=period.start,
        end=period.end,
        closing_at=period.end,
        built_at=datetime(2026, 11, 1, 10, 0, 12, 345678, tzinfo=UTC),
        opening=opening,
        closing=closing,
        head=Head(9, closing_balance),
        activity=[
            AccountActivity(
                "agency_1", AGENCY_NAME, "agency", "America/New_York", usage, {date(2026, 10, 5): 1_594_800}
            ),
            AccountActivity("sub_1", SUB_NAME, "shared", "America/Chicago", shared, {date(2026, 10, 9): 2_000_000}),
        ],
        card_charges=charges,
    )
    return build_statement(inputs)


def test_names_with_html_are_escaped_in_the_html() -> None:
    html = render_html(agency_doc())
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Sons — Zürich" in html
    assert "&lt;img src=x onerror=alert(1)&gt; Büro 東京" in html
    assert "$121.41" in html  # the closing balance, to the cent
    assert "@media print" in html


def test_the_text_part_carries_names_as_they_are() -> None:
    text = render_text(agency_doc())
    assert AGENCY_NAME in text and SUB_NAME in text
    assert "Closing balance: $121.41" in text


def test_the_pdf_opens_has_page_numbers_and_shows_the_closing_balance() -> None:
    pdf = render_pdf(agency_doc(rows=120))
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 2
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Closing balance" in text and "$121.41" in text
    assert f"Page 1 of {len(reader.pages)}" in text
    assert "America/New_York" in text and "Oct 1, 2026 to Oct 31, 2026" in text
    assert "Zürich" in text  # Windows-1252 covers it; 東京 becomes "??"
    assert reader.metadata is not None and "Agency statement" in str(reader.metadata.title)


def test_the_pdf_is_the_same_bytes_every_time() -> None:
    doc = agency_doc(rows=30)
    assert render_pdf(doc) == render_pdf(doc)


def test_pdf_text_keeps_what_core_fonts_show_and_replaces_the_rest() -> None:
    assert pdf_text("Café \u2013 €5 • ok") == "Café \u2013 €5 • ok"  # an en dash is in Windows-1252
    assert pdf_text("Łódź 東京 \u22123") == "Lódz ?? -3"  # a minus sign is not


def test_every_printed_group_adds_up() -> None:
    vm = view_model(agency_doc())
    assert vm["closing"] == "$121.41" and vm["opening"] == "$100.00"
    assert [line["label"] for line in vm["debits"]] == ["Usage charges"]
    assert vm["usage_total"] == "$3.59"
    assert [a["total"] for a in vm["accounts"]] == ["$1.59", "$2.00"]
    assert len(vm["daily"]) == 31


# -- the company block, quantities with their units, the chart's labels --------------------------

ISSUER = Issuer("Example Telecom Ltd", ("1 Main St", "Springfield, IL 62701"), "EIN 12-345")


def test_the_company_block_is_printed_when_the_statement_carries_it() -> None:
    doc = replace(agency_doc(), issuer=ISSUER)
    html, text = render_html(doc), render_text(doc)
    for part in (html, text):
        assert "Example Telecom Ltd" in part and "Springfield, IL 62701" in part and "Tax ID: EIN 12-345" in part
    pdf = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(render_pdf(doc))).pages)
    assert "EXAMPLE TELECOM LTD" in pdf and "Tax ID: EIN 12-345" in pdf
    # A statement built before the block was printed renders as it always did.
    assert "Tax ID" not in render_html(agency_doc()) and "Charges &amp; Usage" in render_html(agency_doc())


def test_usage_quantities_carry_their_unit_in_the_plural() -> None:
    doc = agency_doc()
    units = {"call_minutes": "minute", "number_renewals": "number", "text_messages": "message"}
    usage = [replace(row, unit=units[row.category]) for row in doc.usage]
    usage[0] = replace(usage[0], quantity_micros=1_328_000_000)
    doc = replace(doc, usage=tuple(usage))
    vm = view_model(doc)
    assert [r["quantity_text"] for r in vm["usage"]] == ["1,328 minutes", "2 numbers", "12 messages"]
    html = render_html(doc)
    assert "1,328 minutes" in html and "<th>Unit</th>" not in html
    assert "Call minutes: 40 items, 1,328 minutes, $1.50" in render_text(doc)


def _axis_labels(html: str) -> list[str]:
    row = html.split('<tr class="axis">', 1)[1].split("</tr>", 1)[0]
    return [cell.split(">", 1)[1].split("<", 1)[0] for cell in row.split("<td")[1:]]


def test_the_daily_chart_labels_stay_apart_over_long_periods() -> None:
    month = chart_axis([(date(2026, 10, 1) + timedelta(days=i)).isoformat() for i in range(31)])
    assert sum(t["span"] for t in month) == 31
    assert [t["label"] for t in month if t["label"]] == [str(d) for d in range(1, 32, 2)]
    year = [(date(2026, 1, 1) + timedelta(days=i)).isoformat() for i in range(365)]
    cells = chart_axis(year)
    assert sum(t["span"] for t in cells) == 365
    months = ["Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    assert [t["label"] for t in cells] == ["Jan 2026", *months]
    quarter = chart_axis([(date(2026, 9, 25) + timedelta(days=i)).isoformat() for i in range(92)])
    assert [t["label"] for t in quarter] == ["", "Oct", "Nov", "Dec"]  # 6 days of September: too few to name

    # In the email: at most 16 labels (here, a quarter: one per month), however many days.
    doc = replace(
        agency_doc(), daily=tuple(DailyCost(date(2026, 7, 1) + timedelta(days=i), 1_000 * i) for i in range(92))
    )
    labels = [label for label in _axis_labels(render_html(doc)) if label]
    assert labels == ["Jul 2026", "Aug", "Sep"]
    assert render_pdf(doc)  # the PDF draws the same labels
