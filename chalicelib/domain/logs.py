"""Logs: which rows a filter keeps (a category, a search), and times as the account reads them.

A search (`q`) matches the text people recognise a charge by: its description and
the values of the details producers sent in `metadata` (tracking number, caller,
call id, duration ...), case-insensitively, anywhere in the text. It never looks
outside the rows of the Logs it filters, so it cannot reveal another account's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from .categories import Category
from .events import MetadataValue
from .ledger import LedgerEntry
from .text import text_problem

MAX_SEARCH_LENGTH = 100
# What share of rows a filter is expected to keep: sizes the reads of a filtered page
# (adapters/ledger_repo.py), never what it returns.
CATEGORY_SHARE = 0.25
SEARCH_SHARE = 0.05


class SearchError(ValueError):
    pass


def parse_search(text: str | None) -> str | None:
    """`q` as given: None when absent or blank; the text to look for otherwise (casefolded)."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    if len(text) > MAX_SEARCH_LENGTH:
        raise SearchError(f"q: at most {MAX_SEARCH_LENGTH} characters")
    problem = text_problem(text)
    if problem is not None:
        raise SearchError(f"q: {problem}")
    return text.casefold()


def metadata_text(value: MetadataValue) -> str:
    """A metadata value as it reads (and is searched): JSON's spelling for true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class LogFilter:
    """The rows a Logs read keeps: of one category, and/or matching a search."""

    category: Category | None = None
    search: str | None = None  # casefolded (parse_search)

    @property
    def active(self) -> bool:
        return self.category is not None or self.search is not None

    @property
    def expected_share(self) -> float:
        share = 1.0
        if self.category is not None:
            share *= CATEGORY_SHARE
        if self.search is not None:
            share *= SEARCH_SHARE
        return share

    def matches(self, entry: LedgerEntry) -> bool:
        if self.category is not None and entry.category is not self.category:
            return False
        return self.search is None or search_matches(self.search, entry)


def search_matches(needle: str, entry: LedgerEntry) -> bool:
    if needle in entry.description.casefold():
        return True
    return any(needle in metadata_text(value).casefold() for value in entry.metadata.values())


def local_time(instant: datetime, zone: ZoneInfo) -> str:
    """RFC 3339 with the zone's offset, to the second: "2026-11-26T04:00:00-05:00"."""
    return instant.astimezone(zone).isoformat(timespec="seconds")
