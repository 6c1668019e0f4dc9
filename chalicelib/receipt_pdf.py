"""A payment receipt as a PDF (fpdf2, as the statements): one A4 page.

The company block (name, address, tax id) at the top left, the receipt number and
amount at the top right, then the payment's details. Reproducible: the creation date
is the payment's time, so the same payment gives the same bytes.

This module imports fpdf at the top: import it only where a PDF is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from .statement_pdf import ENCODING, GREY, LEFT_MARGIN, NAVY, RULE, pdf_text


def receipt_pdf(vm: Mapping[str, Any], created_at: datetime) -> bytes:
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.core_fonts_encoding = ENCODING
    pdf.set_margins(LEFT_MARGIN, 14, LEFT_MARGIN)
    pdf.set_auto_page_break(True, margin=16)
    pdf.set_creation_date(created_at.astimezone(UTC).replace(microsecond=0))
    issuer = vm["issuer"]
    title = f"{vm['title']} {vm['number'] or ''}".strip()
    pdf.set_title(pdf_text(f"{title} - {issuer['name']}"))
    pdf.set_author(pdf_text(issuer["name"]))
    pdf.set_creator("Charges & Usage")
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    top = pdf.get_y()

    # The company block, left.
    pdf.set_font("helvetica", "B", 12)
    pdf.set_text_color(*NAVY)
    pdf.cell(width * 0.6, 6, pdf_text(issuer["name"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("helvetica", "", 9)
    pdf.set_text_color(*GREY)
    for line in issuer["address"]:
        pdf.cell(width * 0.6, 4.6, pdf_text(line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if issuer.get("tax_id"):
        pdf.cell(width * 0.6, 4.6, pdf_text(f"Tax ID: {issuer['tax_id']}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    bottom = pdf.get_y()

    # Title, number and amount, right.
    pdf.set_xy(pdf.l_margin + width * 0.55, top)
    pdf.set_font("helvetica", "B", 16)
    pdf.set_text_color(0, 0, 0)
    pdf.cell(width * 0.45, 8, pdf_text(vm["title"]), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if vm["number"]:
        pdf.set_x(pdf.l_margin + width * 0.55)
        pdf.set_font("helvetica", "", 10)
        pdf.set_text_color(*GREY)
        pdf.cell(width * 0.45, 5, pdf_text(vm["number"]), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_x(pdf.l_margin + width * 0.55)
    pdf.set_font("helvetica", "B", 18)
    pdf.set_text_color(0, 0, 0)
    pdf.cell(width * 0.45, 10, pdf_text(vm["amount"]), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    pdf.set_y(max(bottom, pdf.get_y()) + 3)
    pdf.set_draw_color(*NAVY)
    pdf.set_line_width(0.8)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())
    pdf.set_line_width(0.2)
    pdf.ln(5)

    # The details.
    pdf.set_draw_color(*RULE)
    for label, value in vm["rows"]:
        pdf.set_font("helvetica", "", 10)
        pdf.set_text_color(*GREY)
        pdf.cell(width * 0.35, 7.5, pdf_text(label))
        pdf.set_font("helvetica", "B", 10)
        pdf.set_text_color(0, 0, 0)
        pdf.cell(width * 0.65, 7.5, pdf_text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())
    pdf.ln(5)
    pdf.set_font("helvetica", "", 9)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(
        width,
        4.6,
        pdf_text(f"{vm['note']} Times are shown in {vm['time_zone']}."),
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    return bytes(pdf.output())
