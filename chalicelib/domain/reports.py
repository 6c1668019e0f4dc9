"""Usage reports from rollups: which buckets to read, and how to group them.

A range of local dates is read as whole months (monthly rollups) plus the days
at its edges (daily rollups), so the cost of a report grows with the number of
months, not of events. Grouping by day or week needs the days themselves.
"""

from __future__ import annotations

import calendar
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import TypeVar

from .categories import USAGE_CATEGORIES, Category
from .rollups import DAY, MONTH, RollupKey, RollupTotals, day_bucket, month_bucket

T = TypeVar("T")


class GroupBy(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    TOTAL = "total"


@dataclass(frozen=True)
class BucketRange:
    """One Query: rollups of `period` with buckets from `first` to `last` inclusive."""

    period: str
    first: str
    last: str


def month_end(day: date) -> date:
    return day.replace(day=_days_in_month(day.year, day.month))


@functools.cache
def _days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def bucket_ranges(first: date, last: date, group_by: GroupBy) -> list[BucketRange]:
    """The fewest reads that cover [first, last]: whole months monthly, edges daily."""
    if group_by in (GroupBy.DAY, GroupBy.WEEK):
        return [BucketRange(DAY, day_bucket(first), day_bucket(last))]
    ranges: list[BucketRange] = []
    start = first
    if start.day != 1 or month_end(start) > last:
        edge_end = min(month_end(start), last)
        ranges.append(BucketRange(DAY, day_bucket(start), day_bucket(edge_end)))
        start = edge_end + timedelta(days=1)
    if start > last:
        return ranges
    # Whole months from `start` (the 1st of a month) through the last complete one.
    last_whole = last if month_end(last) == last else last.replace(day=1) - timedelta(days=1)
    if last_whole >= start:
        ranges.append(BucketRange(MONTH, month_bucket(start), month_bucket(last_whole)))
    if last_whole < last:
        tail_start = max(start, last.replace(day=1))
        ranges.append(BucketRange(DAY, day_bucket(tail_start), day_bucket(last)))
    return ranges


@dataclass(frozen=True)
class Period:
    key: str
    start: date
    end: date  # inclusive


def period_of(day: date, group_by: GroupBy, first: date, last: date) -> Period:
    """The report period a local day belongs to, clipped to the report's range."""
    if group_by is GroupBy.DAY:
        return Period(day.isoformat(), day, day)
    if group_by is GroupBy.WEEK:
        monday = day - timedelta(days=day.weekday())
        return Period(monday.isoformat(), max(monday, first), min(monday + timedelta(days=6), last))
    if group_by is GroupBy.MONTH:
        start = day.replace(day=1)
        return Period(month_bucket(day), max(start, first), min(month_end(day), last))
    return Period("total", first, last)


def bucket_start(key: RollupKey) -> date:
    """The first local day of a rollup's bucket."""
    if key.period == MONTH:
        return date.fromisoformat(key.bucket + "-01")
    return date.fromisoformat(key.bucket)


@dataclass
class UsageRow:
    period: Period
    category: Category
    totals: RollupTotals = field(default_factory=RollupTotals)


def group_rollups(
    rollups: Iterable[tuple[RollupKey, RollupTotals]],
    first: date,
    last: date,
    group_by: GroupBy,
    categories: frozenset[Category] = USAGE_CATEGORIES,
) -> list[UsageRow]:
    """Rows per (period, category), oldest period first, categories in a fixed order."""
    rows: dict[tuple[str, Category], UsageRow] = {}
    for key, totals in rollups:
        if key.category not in categories:
            continue
        period = period_of(bucket_start(key), group_by, first, last)
        row = rows.setdefault((period.key, key.category), UsageRow(period, key.category))
        row.totals.add(totals)
    return sorted(rows.values(), key=lambda r: (r.period.start, r.category.value))


def totals_by_category(rows: Iterable[UsageRow]) -> dict[Category, RollupTotals]:
    result: dict[Category, RollupTotals] = {}
    for row in rows:
        result.setdefault(row.category, RollupTotals()).add(row.totals)
    return dict(sorted(result.items(), key=lambda kv: kv[0].value))


def cost_micros(totals: RollupTotals) -> int:
    """What usage cost, as a positive amount (the ledger stores charges negative)."""
    return -totals.amount_micros


def sum_totals(parts: Iterable[Mapping[Category, RollupTotals]]) -> dict[Category, RollupTotals]:
    result: dict[Category, RollupTotals] = {}
    for part in parts:
        for category, totals in part.items():
            result.setdefault(category, RollupTotals()).add(totals)
    return dict(sorted(result.items(), key=lambda kv: kv[0].value))


# -- the period a dashboard compares with ---------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    first: date
    last: date
    label: str  # "previous month", "previous 3 months", "previous week", "previous 17 days"


def _months_between(first: date, last: date) -> int | None:
    """How many whole calendar months first..last is (None unless it starts on a 1st and ends on a month's end)."""
    if first.day != 1 or month_end(last) != last:
        return None
    return (last.year - first.year) * 12 + last.month - first.month + 1


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def comparison_period(first: date, last: date) -> Comparison:
    """What a range is compared with: the previous calendar period for whole months (a month,
    a quarter, a year, any run of months) and for a week from Monday; the same days of the
    previous month for a month to date; otherwise the days of the same length just before."""
    months = _months_between(first, last)
    if months is not None:
        prev_first = _add_months(first, -months)
        label = {1: "previous month", 3: "previous quarter", 12: "previous year"}.get(
            months, f"previous {months} months"
        )
        return Comparison(prev_first, first - timedelta(days=1), label)
    if first.day == 1 and (first.year, first.month) == (last.year, last.month):
        # Month to date: the same days of the previous month (the 1st to the 10th, say).
        prev_first = _add_months(first, -1)
        days = min(last.day, _days_in_month(prev_first.year, prev_first.month))
        return Comparison(
            prev_first,
            prev_first.replace(day=days),
            "same days of the previous month",
        )
    length = (last - first).days + 1
    label = "previous week" if length == 7 and first.weekday() == 0 else f"previous {length} days"
    if length == 1:
        label = "previous day"
    return Comparison(first - timedelta(days=length), first - timedelta(days=1), label)


# -- paging through an agency's accounts -------------------------------------------------------

SortKey = tuple[int | str, ...]


def matches_search(q: str, *texts: str) -> bool:
    """`q` found, ignoring case, in any of the texts (an account's name or id)."""
    needle = q.casefold()
    return any(needle in text.casefold() for text in texts)


def page_after(
    items: Sequence[T], key: Callable[[T], SortKey], after: SortKey | None, limit: int
) -> tuple[list[T], SortKey | None]:
    """The `limit` items that sort after `after` (all, without it), and the key to continue from
    (None when none are left). Keyset paging: an item added or moved meanwhile is neither
    skipped twice nor shown twice within one walk."""
    ordered = sorted(items, key=key)
    remaining = [i for i in ordered if after is None or key(i) > after]
    page = remaining[:limit]
    return page, (key(page[-1]) if len(remaining) > limit else None)
