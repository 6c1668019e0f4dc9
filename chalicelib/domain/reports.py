"""Usage reports from rollups: which buckets to read, and how to group them.

A range of local dates is read as whole months (monthly rollups) plus the days
at its edges (daily rollups), so the cost of a report grows with the number of
months, not of events. Grouping by day or week needs the days themselves.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from .categories import USAGE_CATEGORIES, Category
from .rollups import DAY, MONTH, RollupKey, RollupTotals, day_bucket, month_bucket


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
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


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
