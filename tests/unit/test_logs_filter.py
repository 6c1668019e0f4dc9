"""Logs filters (domain/logs.py) and the bounded read of a filtered page (ledger_repo._merge_newest)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.adapters import ledger_repo
from chalicelib.domain.categories import Category
from chalicelib.domain.ledger import LedgerEntry
from chalicelib.domain.logs import LogFilter, SearchError, local_time, parse_search

T0 = datetime(2026, 1, 15, 14, 3, tzinfo=UTC)


def entry(
    description: str = "Inbound call", category: Category = Category.CALL_MINUTES, **metadata: object
) -> LedgerEntry:
    return LedgerEntry(
        entry_id="le_1",
        event_id="e1",
        billing_account_id="b",
        account_id="a",
        agency_id=None,
        seq=1,
        category=category,
        description=description,
        quantity=Decimal(1),
        unit="minute",
        unit_price_micros=12_500,
        amount_micros=-12_500,
        balance_after_micros=0,
        occurred_at=T0,
        posted_at=T0,
        metadata=metadata,  # type: ignore[arg-type]
    )


CALL = entry("Inbound call to the Plumbing line", tracking_number="+1 (555) 010-7788", call_id="CA-8812", duration=195)


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("ca-8812", True),
        ("PLUMBING", True),
        ("Ä", False),
        ("195", True),
        ("010-77", True),
        ("tracking", False),  # keys are not searched
        ("8813", False),
    ],
)
def test_a_search_matches_the_description_and_metadata_values_ignoring_case(q: str, found: bool) -> None:
    needle = parse_search(q)
    assert needle is not None
    assert LogFilter(search=needle).matches(CALL) is found


def test_flags_read_as_json_spells_them_and_german_sharp_s_folds() -> None:
    assert LogFilter(search=parse_search("TRUE")).matches(entry(delivered=True))
    assert not LogFilter(search=parse_search("true")).matches(entry(delivered=False))
    assert LogFilter(search=parse_search("STRASSE")).matches(entry("Hauptstraße 1"))


def test_category_and_search_together() -> None:
    both = LogFilter(Category.TEXT_MESSAGES, parse_search("plumbing"))
    assert not both.matches(CALL)
    assert LogFilter(Category.CALL_MINUTES, parse_search("plumbing")).matches(CALL)
    assert LogFilter().active is False and both.active is True
    assert both.expected_share < LogFilter(Category.TEXT_MESSAGES).expected_share < 1.0


@pytest.mark.parametrize(("raw", "parsed"), [(None, None), ("", None), ("   ", None), ("  Ab c ", "ab c")])
def test_parse_search(raw: str | None, parsed: str | None) -> None:
    assert parse_search(raw) == parsed


@pytest.mark.parametrize(
    ("raw", "message"), [("x" * 101, "at most 100"), ("a\nb", "line|control"), ("a\x00", "control")]
)
def test_a_bad_search_is_refused(raw: str, message: str) -> None:
    with pytest.raises(SearchError, match=message):
        parse_search(raw)


def test_local_time_states_the_offset() -> None:
    assert local_time(T0, ZoneInfo("America/New_York")) == "2026-01-15T09:03:00-05:00"
    assert local_time(T0 + timedelta(days=180), ZoneInfo("America/New_York")) == "2026-07-14T10:03:00-04:00"


# -- a filtered read is bounded, and continues where it stopped ------------------------------------
class _Page:
    def __init__(self, key: str, count: int) -> None:
        self.row_key = key
        self.first_seq = int(key[key.rindex("#") + 1 :])
        self.last_seq = self.first_seq + count - 1


def _rows_of(page: _Page) -> list[str]:
    prefix = page.row_key[: page.row_key.rindex("#")]
    return [f"{prefix}#{seq:012d}" for seq in range(page.first_seq, page.last_seq + 1)]


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 20), st.integers(1, 8), st.integers(5, 40), st.floats(0.0, 0.3))
def test_a_bounded_search_finds_every_match_once_in_order(seed, limit, shards, budget, rate) -> None:
    rng = random.Random(seed)
    pages: list[tuple[str, int, int]] = []
    seqs: dict[str, int] = {}
    for tx in range(rng.randint(0, 40)):
        billing = rng.choice(["b1", "b2"])
        first = seqs.get(billing, 0) + 1
        count = rng.randint(1, 6)
        seqs[billing] = first + count - 1
        pages.append((ledger_repo.row_key(T0 + timedelta(seconds=tx), billing, first), count, rng.randrange(shards)))
    all_rows = sorted((row for k, c, _ in pages for row in _rows_of(_Page(k, c))), reverse=True)
    matching = {row for row in all_rows if rng.random() < rate}
    largest_page = max((c for _, c, _ in pages), default=0)

    def streams(before: str | None) -> list[ledger_repo._ShardStream]:
        def fetcher(shard: int):
            mine = sorted(
                (_Page(k, c) for k, c, s in pages if s == shard and (before is None or k <= before)),
                key=lambda p: p.row_key,
                reverse=True,
            )

            def fetch(count, after):
                start = after or 0
                chunk = mine[start : start + count]
                return chunk, (start + count if start + count < len(mine) else None)

            return fetch

        return [ledger_repo._ShardStream(fetcher(s)) for s in range(shards)]

    original = ledger_repo.page_entries
    ledger_repo.page_entries = _rows_of  # type: ignore[assignment]
    try:
        found: list[str] = []
        before: str | None = None
        for _ in range(len(all_rows) + 2):
            examined: list[str] = []

            def below(row: Any, before: str | None = before, examined: list[str] = examined) -> bool:
                if before is None or row < before:
                    examined.append(row)
                    return True
                return False

            def keep(row: Any, before: str | None = before) -> bool:
                return (before is None or row < before) and row in matching

            got, resume = ledger_repo._merge_newest(
                streams(before), limit, keep, share=0.05, budget=budget, counts=below
            )
            rows = cast(list[str], got)
            assert len(rows) <= limit
            # Each request examines its budget, plus the rest of the page it stopped on.
            assert len(set(examined)) <= budget + largest_page
            found += rows
            if resume is None:
                break
            before = cast(str, resume)
        else:
            pytest.fail("the search never ended")
    finally:
        ledger_repo.page_entries = original
    assert found == [row for row in all_rows if row in matching]
