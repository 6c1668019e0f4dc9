"""services/csv_export.py: CSV that a spreadsheet opens without running anything."""

from __future__ import annotations

import csv
import io
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.services.csv_export import csv_safe, to_csv


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("=SUM(A1:A9)", "'=SUM(A1:A9)"),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@HYPERLINK(x)", "'@HYPERLINK(x)"),
        ("\tlead", "'\tlead"),
        ("\rlead", "'\rlead"),
        ("-12.50", "-12.50"),  # a negative amount stays a number
        ("-7", "-7"),
        ("Acme = best", "Acme = best"),
        ("", ""),
        (12, 12),
        (None, None),
    ],
)
def test_formula_text_is_quoted_and_numbers_are_not(value: object, safe: object) -> None:
    assert csv_safe(value) == safe


def test_rows_in_the_columns_order_extra_keys_dropped_missing_ones_empty() -> None:
    text = to_csv(
        [
            {"name": "Acme", "cost": "-1.50", "secret": "x"},
            {"cost": "2.00", "name": "=cmd()"},
            {"name": "Solo"},
        ],
        ["name", "cost"],
    )
    assert text == "name,cost\r\nAcme,-1.50\r\n'=cmd(),2.00\r\nSolo,\r\n"


def test_no_rows_is_just_the_header() -> None:
    assert to_csv([], ["a", "b"]) == "a,b\r\n"


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(), min_size=1, max_size=5))
def test_every_cell_reads_back_as_written_or_with_one_leading_quote(cells: list[str]) -> None:
    columns = [f"c{i}" for i in range(len(cells))]
    text = to_csv([dict(zip(columns, cells, strict=True))], columns)
    header, row = list(csv.reader(io.StringIO(text, newline="")))
    assert header == columns
    for written, read in zip(cells, row, strict=True):
        assert read in (written, "'" + written)
        # What a spreadsheet reads never starts a formula; a leading minus only in a number.
        assert read[:1] not in ("=", "+", "@", "\t", "\r")
        assert not read.startswith("-") or re.fullmatch(r"-\d+(\.\d+)?", read)
