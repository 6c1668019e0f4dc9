"""The statement as a PDF (fpdf2: pure Python, its wheels run on Lambda).

Drawn from the same view model as the HTML (`statement_render.view_model`): a header
with the account, period and time zone, a summary box, tables that repeat their
heading on every page, a small daily-usage bar chart and "Page n of N" footers.

Reproducible: the document's creation date is the statement's build time and
nothing else varies, so the same stored numbers give the same bytes (with the same
fpdf2 version); `GET .../pdf` returns exactly what was emailed.

Text uses the PDF core fonts (Helvetica), which need no font file and render fast;
they cover Windows-1252 (Latin letters, the euro sign, dashes, bullets). Other characters are shown by
their closest Latin letter, or "?", in the PDF only: the HTML and text parts carry
every name exactly.

This module imports fpdf at the top: import it only where a PDF is made.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

ENCODING = "windows-1252"
NAVY = (31, 78, 121)
GREY = (87, 96, 106)
LIGHT = (238, 244, 250)
RULE = (208, 215, 222)
RED = (164, 14, 38)
LEFT_MARGIN = 14.0
ROW_H = 5.6


# Letters NFKD does not take apart, and dashes outside Windows-1252.
_LOOKALIKES = {
    "Ł": "L",
    "ł": "l",
    "Đ": "D",
    "đ": "d",
    "Ħ": "H",
    "ħ": "h",
    "\u0131": "i",  # dotless i
    "\u2212": "-",
    "\u2010": "-",
    "\u2011": "-",
}


def pdf_text(value: object) -> str:
    """Text the core fonts can show: Windows-1252 as is, other letters without accents, else '?'."""
    text = str(value)
    out = []
    for ch in text:
        try:
            ch.encode(ENCODING)
            out.append(ch)
            continue
        except UnicodeEncodeError:
            pass
        if ch in _LOOKALIKES:
            out.append(_LOOKALIKES[ch])
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        try:
            base.encode(ENCODING)
            out.append(base or "?")
        except UnicodeEncodeError:
            out.append("?")
    return "".join(out)


class StatementPDF(FPDF):
    def __init__(self, vm: Mapping[str, Any]) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.vm = vm
        self.core_fonts_encoding = ENCODING
        self.set_margins(LEFT_MARGIN, 14, LEFT_MARGIN)
        self.set_auto_page_break(True, margin=16)
        self.repeat: Sequence[tuple[str, float, str]] | None = None

    @property
    def width(self) -> float:
        return float(self.w - self.l_margin - self.r_margin)

    def header(self) -> None:
        vm = self.vm
        if self.page_no() == 1:
            return
        self.set_font("helvetica", "", 8)
        self.set_text_color(*GREY)
        self.cell(
            0, 5, pdf_text(f"{vm['heading']}: {vm['account_name']} · {vm['period_label']}"),
            new_x=XPos.LMARGIN, new_y=YPos.NEXT,
        )  # fmt: skip
        self.ln(2)
        if self.repeat:
            self.table_head(self.repeat)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("helvetica", "", 8)
        self.set_text_color(*GREY)
        self.cell(self.width / 2, 5, pdf_text(f"Statement {self.vm['statement_id']}"), align="L")
        self.cell(self.width / 2, 5, f"Page {self.page_no()} of {{nb}}", align="R")

    # -- pieces -------------------------------------------------------------------------
    def fit(self, text: str, width: float) -> str:
        text = pdf_text(text)
        if self.get_string_width(text) <= width - 1.5:
            return text
        while text and self.get_string_width(text + "...") > width - 1.5:
            text = text[:-1]
        return text + "..."

    def section(self, title: str) -> None:
        if self.will_page_break(18):
            self.add_page()
        self.ln(3)
        self.set_font("helvetica", "B", 11)
        self.set_text_color(*NAVY)
        self.cell(0, 7, pdf_text(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0, 0, 0)

    def note(self, text: str) -> None:
        self.set_font("helvetica", "", 8)
        self.set_text_color(*GREY)
        self.multi_cell(0, 4, pdf_text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0, 0, 0)

    def table_head(self, columns: Sequence[tuple[str, float, str]]) -> None:
        self.set_font("helvetica", "B", 8)
        self.set_text_color(*GREY)
        for title, width, align in columns:
            self.cell(width, ROW_H, pdf_text(title), border="B", align=align)
        self.ln(ROW_H)
        self.set_text_color(0, 0, 0)

    def rows_table(
        self,
        columns: Sequence[tuple[str, float, str]],
        rows: Sequence[Sequence[str]],
        footer: Sequence[str] | None = None,
        red_rows: frozenset[int] = frozenset(),
    ) -> None:
        """Rows of text cells; the heading repeats after a page break."""
        scale = self.width / sum(w for _, w, _ in columns)
        cols = [(t, w * scale, a) for t, w, a in columns]
        self.table_head(cols)
        self.repeat = cols
        self.set_font("helvetica", "", 8.5)
        for index, row in enumerate(rows):
            if index in red_rows:
                self.set_text_color(*RED)
            for (_, width, align), value in zip(cols, row, strict=True):
                self.cell(width, ROW_H, self.fit(value, width), align=align)
            self.ln(ROW_H)
            self.set_text_color(0, 0, 0)
        self.repeat = None
        if footer is not None:
            self.set_draw_color(*RULE)
            self.line(self.l_margin, self.get_y(), self.l_margin + self.width, self.get_y())
            self.set_font("helvetica", "B", 8.5)
            for (_, width, align), value in zip(cols, footer, strict=True):
                self.cell(width, ROW_H, self.fit(value, width), align=align)
            self.ln(ROW_H)

    def title_block(self) -> None:
        vm = self.vm
        issuer = vm.get("issuer")
        self.set_font("helvetica", "B", 8)
        self.set_text_color(*NAVY)
        self.cell(
            0,
            4,
            pdf_text((issuer["name"] if issuer else "Charges & Usage").upper()),
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        if issuer:
            self.set_font("helvetica", "", 7.5)
            self.set_text_color(*GREY)
            lines = [*issuer["address"], *([f"Tax ID: {issuer['tax_id']}"] if issuer.get("tax_id") else [])]
            if lines:
                self.cell(0, 3.6, pdf_text(" · ".join(lines)), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.ln(1)
        self.set_font("helvetica", "B", 17)
        self.set_text_color(0, 0, 0)
        self.multi_cell(0, 8, pdf_text(f"{vm['heading']}: {vm['account_name']}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font("helvetica", "", 9)
        self.set_text_color(*GREY)
        period = vm["period_label"] + (f" (to date: as of {vm['closing_as_of']})" if vm["in_progress"] else "")
        for line in (
            f"Period: {period}",
            f"Time zone: {vm['time_zone']}    Currency: {vm['currency']}",
            f"Account: {vm['account_id']}    Statement: {vm['statement_id']}    Issued: {vm['built']}",
        ):
            self.cell(0, 4.6, pdf_text(line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_draw_color(*NAVY)
        self.set_line_width(0.8)
        self.line(self.l_margin, self.get_y() + 2, self.l_margin + self.width, self.get_y() + 2)
        self.set_line_width(0.2)
        self.ln(5)
        self.set_text_color(0, 0, 0)

    def summary_box(self) -> None:
        vm = self.vm
        rows: list[tuple[str, str, str]] = [("Opening balance", vm["opening"], "")]
        rows.append(("Credits", "", "group"))
        rows += [(f"   {line['label']}", line["amount"], "") for line in vm["credits"]]
        rows.append(("Total credits", vm["total_credits"], "total"))
        rows.append(("Debits", "", "group"))
        rows += [(f"   {line['label']}", line["amount"], "") for line in vm["debits"]]
        rows.append(("Total debits", vm["total_debits"], "total"))
        rows.append(("Closing balance", vm["closing"], "closing"))
        height = len(rows) * ROW_H + 4
        if self.will_page_break(height):
            self.add_page()
        x, y = self.l_margin, self.get_y()
        box_w = self.width * 0.62
        self.set_draw_color(*NAVY)
        self.set_line_width(0.4)
        self.rect(x, y, box_w, height)
        self.set_line_width(0.2)
        self.set_xy(x, y + 2)
        for label, amount, kind in rows:
            self.set_x(x + 3)
            if kind == "closing":
                self.set_fill_color(*LIGHT)
                self.set_font("helvetica", "B", 10.5)
                self.cell(box_w - 6, ROW_H, pdf_text(label), fill=True)
                self.set_x(x + 3)
                self.cell(box_w - 6, ROW_H, pdf_text(amount), align="R")
            else:
                self.set_font("helvetica", "B" if kind in ("group", "total") else "", 9.5)
                if kind == "group":
                    self.set_text_color(*NAVY)
                self.cell((box_w - 6) * 0.7, ROW_H, pdf_text(label))
                self.cell((box_w - 6) * 0.3, ROW_H, pdf_text(amount), align="R")
                self.set_text_color(0, 0, 0)
            self.ln(ROW_H)
        self.set_xy(x + box_w + 4, y)
        self.set_font("helvetica", "", 7.5)
        self.set_text_color(*GREY)
        side = "Opening balance + total credits - total debits = closing balance."
        if vm["has_posting_difference"]:
            side += (
                " The posting-date difference is activity posted in this period that occurred in another "
                "(or the reverse): balances follow posting, usage follows the day it happened."
            )
        self.multi_cell(self.width - box_w - 4, 3.6, pdf_text(side))
        self.set_text_color(0, 0, 0)
        self.set_xy(x, y + height + 2)

    def bar_chart(self) -> None:
        daily = self.vm["daily"]
        if not daily:
            return
        self.section("Daily usage")
        height = 32.0
        if self.will_page_break(height + 12):
            self.add_page()
        x0, y0 = self.l_margin, self.get_y() + 2
        width = self.width
        slot = width / len(daily)
        bar = min(max(slot * 0.7, 0.3), 8.0)
        self.set_draw_color(*RULE)
        self.line(x0, y0 + height, x0 + width, y0 + height)
        self.set_fill_color(*NAVY)
        for i, d in enumerate(daily):
            h = round(height * float(d["share"]), 2)
            if h > 0:
                self.rect(x0 + i * slot + (slot - bar) / 2, y0 + height - h, bar, h, style="F")
        self.set_font("helvetica", "", 6)
        self.set_text_color(*GREY)
        start = 0
        for tick in self.vm["axis"]:  # day numbers, or one label per month over a long period
            if tick["label"]:
                span = tick["span"] * slot
                self.set_xy(x0 + start * slot + span / 2 - 6, y0 + height + 0.5)
                self.cell(12, 3, pdf_text(tick["label"]), align="C")
            start += tick["span"]
        self.set_xy(x0, y0 + height + 4)
        self.note(f"Usage cost per day; highest day {self.vm['daily_peak']}.")


def statement_pdf(vm: Mapping[str, Any], built_at: str) -> bytes:
    pdf = StatementPDF(vm)
    created = datetime.strptime(built_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(microsecond=0, tzinfo=UTC)
    pdf.set_creation_date(created)
    pdf.set_title(pdf_text(f"{vm['heading']} {vm['period_label']} - {vm['account_name']}"))
    pdf.set_author("Charges & Usage")
    pdf.set_creator("Charges & Usage")
    pdf.add_page()
    pdf.title_block()
    pdf.section("Summary")
    pdf.summary_box()

    pdf.section("Card charges")
    if vm["charges"]:
        charges = vm["charges"]
        pdf.rows_table(
            [("Date", 30, "L"), ("Type", 26, "L"), ("Card", 38, "L"), ("Status", 20, "L"), ("Amount", 22, "R")],
            [[c["date"], c["kind"], c["card"], c["status"], c["amount"]] for c in charges],
            footer=["Charged to the card (succeeded)", "", "", "", vm["charges_total"]],
            red_rows=frozenset(i for i, c in enumerate(charges) if c["failed"]),
        )
    else:
        pdf.note("No card charges in this period.")

    usage_columns = [("Category", 40, "L"), ("Items", 18, "R"), ("Quantity", 40, "R"), ("Amount", 24, "R")]
    pdf.section("Usage by category")
    if vm["usage"]:
        pdf.rows_table(
            usage_columns,
            [[r["label"], r["count"], r["quantity_text"], r["amount"]] for r in vm["usage"]],
            footer=["Total usage", "", "", vm["usage_total"]],
        )
    else:
        pdf.note("No usage in this period.")
    pdf.bar_chart()

    if vm["accounts"]:
        pdf.section("By account (drawing from this balance)")
        rows = []
        for a in vm["accounts"]:
            label = f"{a['name']} ({a['role']})"
            if not a["usage"]:
                rows.append([label, "", "", "", a["total"]])
            for r in a["usage"]:
                rows.append([label, r["label"], r["count"], r["quantity_text"], r["amount"]])
                label = ""
        pdf.rows_table(
            [
                ("Account", 44, "L"),
                ("Category", 34, "L"),
                ("Items", 16, "R"),
                ("Quantity", 28, "R"),
                ("Amount", 22, "R"),
            ],
            rows,
            footer=["Total usage", "", "", "", vm["usage_total"]],
        )
    if vm["own_accounts"]:
        pdf.section("Sub-accounts with their own balance")
        pdf.rows_table(
            [
                ("Account", 56, "L"),
                ("Currency", 18, "L"),
                ("Usage", 24, "R"),
                ("Card charges", 26, "R"),
                ("Closing balance", 28, "R"),
            ],
            [
                [f"{o['name']} ({o['account_id']})", o["currency"], o["usage"], o["card_charges"], o["closing"]]
                for o in vm["own_accounts"]
            ],
        )
        pdf.note(
            "These accounts pay from their own balance, each in its own currency, and receive statements of "
            "their own: their amounts are not part of this statement's totals."
        )
    pdf.ln(3)
    pdf.note(vm["basis"])
    return bytes(pdf.output())
