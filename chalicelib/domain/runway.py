"""Runway that knows what is coming: recurring charges ahead, and the day the balance runs out.

Number renewals and subscription fees come back every month: what an account was
charged for them in the month before today is expected again on the same day of
the next month (the last day of a shorter month when that day does not exist).
Those are `upcoming` (the next 30 days). The balance then runs down by the
average daily cost of the rest of the usage (calls, texts) over the last 30 complete
days, and by the recurring charges on their days, repeated monthly; `covered_until`
is the first local date on which it would be below zero, or None when that is more
than 90 days away (or nothing draws on it).

Figures come from the daily usage rollups (one row per account, day and category):
reading them costs the same whatever the number of events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from .categories import USAGE_CATEGORIES, Category
from .reports import month_end

RECURRING = frozenset({Category.NUMBER_RENEWALS, Category.SUBSCRIPTION_FEES})
UPCOMING_DAYS = 30
HORIZON_DAYS = 90
AVERAGE_DAYS = 30


@dataclass(frozen=True)
class DayUsage:
    """One account's usage of one category on one of its local days (from a daily rollup)."""

    account_id: str
    day: date
    category: Category
    count: int
    cost_micros: int  # positive: what it cost


@dataclass(frozen=True)
class UpcomingCharge:
    due_on: date
    account_id: str
    category: Category
    count: int
    amount_micros: int  # positive


@dataclass(frozen=True)
class Runway:
    upcoming: tuple[UpcomingCharge, ...]
    average_daily_usage_micros: int  # calls, texts ...: everything but the recurring charges
    covered_until: date | None


def add_months(day: date, months: int) -> date:
    """The same day `months` later; the month's last day when it has no such day."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    first = date(year, month + 1, 1)
    return first.replace(day=min(day.day, month_end(first).day))


def recurring_window(today: date) -> tuple[date, date]:
    """The days whose recurring charges come back in the month from today: a month before, to yesterday."""
    return add_months(today, -1), today - timedelta(days=1)


def average_window(today: date) -> tuple[date, date]:
    """The last AVERAGE_DAYS complete local days."""
    return today - timedelta(days=AVERAGE_DAYS), today - timedelta(days=1)


def read_window(today: date) -> tuple[date, date]:
    """Every day either figure needs."""
    first = min(recurring_window(today)[0], average_window(today)[0])
    return first, today - timedelta(days=1)


def runway(
    balance_micros: int,
    today: date,
    usage: Iterable[DayUsage],
    today_of: Mapping[str, date] | None = None,
) -> Runway:
    """The runway of a balance on `today` (the payer's local date).

    `today_of` gives each account its own local date (accounts of an agency live in
    other zones); an account missing from it uses `today`.
    """
    rows = list(usage)
    upcoming: list[UpcomingCharge] = []
    recurring: list[DayUsage] = []
    non_recurring_total = 0
    for row in rows:
        own_today = (today_of or {}).get(row.account_id, today)
        if row.category in RECURRING:
            first, last = recurring_window(own_today)
            if first <= row.day <= last:
                recurring.append(row)
        elif row.category in USAGE_CATEGORIES:
            first, last = average_window(own_today)
            if first <= row.day <= last:
                non_recurring_total += row.cost_micros
    daily = (2 * non_recurring_total + AVERAGE_DAYS) // (2 * AVERAGE_DAYS)  # half-up

    horizon_end = today + timedelta(days=HORIZON_DAYS)
    due_by_day: dict[date, int] = {}
    for row in recurring:
        for months in (1, 2, 3, 4):
            due = add_months(row.day, months)
            if due < today or due >= horizon_end:
                continue
            due_by_day[due] = due_by_day.get(due, 0) + row.cost_micros
            if months == 1 and due < today + timedelta(days=UPCOMING_DAYS):
                upcoming.append(UpcomingCharge(due, row.account_id, row.category, row.count, row.cost_micros))
    upcoming.sort(key=lambda c: (c.due_on, c.category.value, c.account_id))
    return Runway(tuple(upcoming), daily, _covered_until(balance_micros, today, daily, due_by_day))


def _covered_until(balance: int, today: date, daily: int, due_by_day: Mapping[date, int]) -> date | None:
    if balance < 0:
        return today
    if daily <= 0 and not due_by_day:
        return None
    for offset in range(HORIZON_DAYS):
        day = today + timedelta(days=offset)
        balance -= daily + due_by_day.get(day, 0)
        if balance < 0:
            return day
    return None


@dataclass(frozen=True)
class UpcomingGroup:
    due_on: date
    category: Category
    count: int
    amount_micros: int


def by_day_and_category(charges: Iterable[UpcomingCharge]) -> list[UpcomingGroup]:
    """Upcoming charges summed per (due day, category): what a person reads (an agency's accounts merged)."""
    groups: dict[tuple[date, Category], list[int]] = {}
    for c in charges:
        slot = groups.setdefault((c.due_on, c.category), [0, 0])
        slot[0] += c.count
        slot[1] += c.amount_micros
    return [
        UpcomingGroup(d, cat, n, a)
        for (d, cat), (n, a) in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1].value))
    ]
