"""Recurring statements: which period a run sends, and when the next run is.

A schedule runs at 06:00 local time (the account's zone) on the first day after a
period ends, and sends that period, the last *complete* one:

- daily: every day, yesterday;
- weekly (weekday W): every W, the seven days before it (W a week ago .. yesterday);
- monthly: on the 1st, the previous calendar month (28, 29, 30 or 31 days);
- quarterly: on Jan 1, Apr 1, Jul 1 and Oct 1, the previous calendar quarter.

Everything is computed on local dates and turned into an instant only at the end
(`run_instant`), so DST changes move the UTC time of the run, never its local time
or the dates of the period. The period is always derived from the scheduled run
time, never from the clock, so a run that is retried or delayed sends the same
period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

RUN_AT = time(6, 0)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
QUARTER_STARTS = (1, 4, 7, 10)
# Runs are at most a quarter apart: searching a little more than that always finds one.
_SEARCH_DAYS = 100


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"


@dataclass(frozen=True)
class Cadence:
    frequency: Frequency
    weekday: int | None = None  # 0 = Monday .. 6 = Sunday; weekly only

    def __post_init__(self) -> None:
        if (self.frequency is Frequency.WEEKLY) != (self.weekday is not None):
            raise ValueError("a weekly schedule needs a weekday, and only a weekly one")
        if self.weekday is not None and not 0 <= self.weekday <= 6:
            raise ValueError("weekday must be 0 (Monday) to 6 (Sunday)")

    @property
    def weekday_name(self) -> str | None:
        return None if self.weekday is None else WEEKDAYS[self.weekday]

    def is_run_day(self, day: date) -> bool:
        if self.frequency is Frequency.DAILY:
            return True
        if self.frequency is Frequency.WEEKLY:
            return day.weekday() == self.weekday
        if self.frequency is Frequency.MONTHLY:
            return day.day == 1
        return day.day == 1 and day.month in QUARTER_STARTS

    def period_sent_on(self, run_day: date) -> tuple[date, date]:
        """The period (first, last local dates) a run on `run_day` sends."""
        last = run_day - timedelta(days=1)
        if self.frequency is Frequency.DAILY:
            return last, last
        if self.frequency is Frequency.WEEKLY:
            return run_day - timedelta(days=7), last
        if self.frequency is Frequency.MONTHLY:
            return last.replace(day=1), last
        quarter_month = QUARTER_STARTS[(last.month - 1) // 3]
        return date(last.year, quarter_month, 1), last


def run_instant(day: date, zone: ZoneInfo) -> datetime:
    """06:00 local on `day`, in UTC.

    zoneinfo resolves a wall time in a DST gap with the offset before the change
    (fold=0), which moves it later by the gap, and an ambiguous one to its first
    occurrence: either way one instant per local day, in order.
    """
    return datetime.combine(day, RUN_AT, tzinfo=zone).astimezone(UTC)


def next_run_after(cadence: Cadence, zone: ZoneInfo, instant: datetime) -> datetime:
    """The first run strictly after `instant`."""
    day = instant.astimezone(zone).date()
    for offset in range(_SEARCH_DAYS):
        candidate = day + timedelta(days=offset)
        if cadence.is_run_day(candidate):
            at = run_instant(candidate, zone)
            if at > instant:
                return at
    raise AssertionError("no run within 100 days")  # pragma: no cover - runs are at most 92 days apart


def latest_run_at_or_before(cadence: Cadence, zone: ZoneInfo, instant: datetime) -> datetime:
    """The last run at or before `instant` (the one to send when runs were missed)."""
    day = instant.astimezone(zone).date()
    for offset in range(_SEARCH_DAYS):
        candidate = day - timedelta(days=offset)
        if cadence.is_run_day(candidate):
            at = run_instant(candidate, zone)
            if at <= instant:
                return at
    raise AssertionError("no run within 100 days")  # pragma: no cover


def period_for_run(cadence: Cadence, zone: ZoneInfo, scheduled_at: datetime) -> tuple[date, date]:
    """The period the run scheduled at `scheduled_at` sends: derived from that time, not the clock."""
    run = latest_run_at_or_before(cadence, zone, scheduled_at)
    return cadence.period_sent_on(run.astimezone(zone).date())


def parse_weekday(value: object) -> int:
    if isinstance(value, str) and value.strip().lower() in WEEKDAYS:
        return WEEKDAYS.index(value.strip().lower())
    raise ValueError(f"weekday must be one of {', '.join(WEEKDAYS)}")
