"""Recurring statements: which period a run sends, and when the next run is.

A schedule runs at a chosen local hour (the account's zone; 06:00 unless chosen) on
the first day after a period ends, and sends that period, the last *complete* one:

- daily: every day, yesterday;
- weekly (weekday W): every W, the seven days before it (W a week ago .. yesterday);
- monthly (day D of the month, 1-28 or the last day; the 1st unless chosen): on day D,
  the month before it, from day D of the previous month to the day before. On the 1st
  that is the previous calendar month; on the last day it runs from the last day of the
  previous month (the previous run) to the day before (as a billing cycle anchored on
  the 31st does). Days 29-31 are not offered: they do not exist in every month;
- quarterly: on Jan 1, Apr 1, Jul 1 and Oct 1, the previous calendar quarter;
- yearly: on Jan 1, the previous calendar year.

Everything is computed on local dates and turned into an instant only at the end
(`run_instant`), so DST changes move the UTC time of the run, never its local day or
the dates of the period. The period is always derived from the scheduled run time,
never from the clock, so a run that is retried or delayed sends the same period.

`plan_tick` is what one scheduler tick does to a due schedule, including a tick that
pretends to be another time (`make statements-now AT=...`): a pretended time never
sends a period that has not ended yet, and never moves a schedule past the real now.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

DEFAULT_HOUR = 6
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
QUARTER_STARTS = (1, 4, 7, 10)
LAST_DAY = -1  # day_of_month: the last day of each month
MAX_DAY_OF_MONTH = 28  # every month has it
# Runs are at most a year apart: searching a little more than that always finds one.
_SEARCH_DAYS = 370


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


def _last_day_of(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _previous_month(day: date) -> tuple[int, int]:
    return (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)


@dataclass(frozen=True)
class Cadence:
    frequency: Frequency
    weekday: int | None = None  # 0 = Monday .. 6 = Sunday; weekly only
    day_of_month: int | None = None  # monthly only: 1..28 or LAST_DAY (None on a monthly one reads 1)
    hour: int = DEFAULT_HOUR  # local hour of the run, 0..23

    def __post_init__(self) -> None:
        if (self.frequency is Frequency.WEEKLY) != (self.weekday is not None):
            raise ValueError("a weekly schedule needs a weekday, and only a weekly one")
        if self.weekday is not None and not 0 <= self.weekday <= 6:
            raise ValueError("weekday must be 0 (Monday) to 6 (Sunday)")
        if self.frequency is Frequency.MONTHLY:
            if self.day_of_month is None:
                object.__setattr__(self, "day_of_month", 1)  # the 1st: the previous calendar month
            elif self.day_of_month != LAST_DAY and not 1 <= self.day_of_month <= MAX_DAY_OF_MONTH:
                raise ValueError(f"day_of_month must be 1 to {MAX_DAY_OF_MONTH}, or the last day")
        elif self.day_of_month is not None:
            raise ValueError("a day of the month is only for a monthly schedule")
        if isinstance(self.hour, bool) or not isinstance(self.hour, int) or not 0 <= self.hour <= 23:
            raise ValueError("hour must be 0 to 23")

    @property
    def weekday_name(self) -> str | None:
        return None if self.weekday is None else WEEKDAYS[self.weekday]

    def monthly_run_day(self, year: int, month: int) -> date:
        """The day of `month` a monthly schedule runs on."""
        assert self.day_of_month is not None
        if self.day_of_month == LAST_DAY:
            return _last_day_of(year, month)
        return date(year, month, self.day_of_month)

    def is_run_day(self, day: date) -> bool:
        if self.frequency is Frequency.DAILY:
            return True
        if self.frequency is Frequency.WEEKLY:
            return day.weekday() == self.weekday
        if self.frequency is Frequency.MONTHLY:
            return day == self.monthly_run_day(day.year, day.month)
        if self.frequency is Frequency.QUARTERLY:
            return day.day == 1 and day.month in QUARTER_STARTS
        return day.day == 1 and day.month == 1

    def period_sent_on(self, run_day: date) -> tuple[date, date]:
        """The period (first, last local dates) a run on `run_day` sends."""
        last = run_day - timedelta(days=1)
        if self.frequency is Frequency.DAILY:
            return last, last
        if self.frequency is Frequency.WEEKLY:
            return run_day - timedelta(days=7), last
        if self.frequency is Frequency.MONTHLY:
            return self.monthly_run_day(*_previous_month(run_day)), last
        if self.frequency is Frequency.QUARTERLY:
            quarter_month = QUARTER_STARTS[(last.month - 1) // 3]
            return date(last.year, quarter_month, 1), last
        return date(last.year, 1, 1), last


def run_instant(day: date, zone: ZoneInfo, hour: int = DEFAULT_HOUR) -> datetime:
    """`hour`:00 local on `day`, in UTC.

    zoneinfo resolves a wall time in a DST gap with the offset before the change
    (fold=0), which moves it later by the gap, and an ambiguous one to its first
    occurrence: either way one instant per local day, in order.
    """
    return datetime.combine(day, time(hour, 0), tzinfo=zone).astimezone(UTC)


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """Local midnight at the start of `day`, in UTC (when the day before has ended)."""
    return datetime.combine(day, time(0, 0), tzinfo=zone).astimezone(UTC)


def next_run_after(cadence: Cadence, zone: ZoneInfo, instant: datetime) -> datetime:
    """The first run strictly after `instant`."""
    day = instant.astimezone(zone).date()
    for offset in range(_SEARCH_DAYS):
        candidate = day + timedelta(days=offset)
        if cadence.is_run_day(candidate):
            at = run_instant(candidate, zone, cadence.hour)
            if at > instant:
                return at
    raise AssertionError("no run within a year")  # pragma: no cover - runs are at most 366 days apart


def latest_run_at_or_before(cadence: Cadence, zone: ZoneInfo, instant: datetime) -> datetime:
    """The last run at or before `instant` (the one to send when runs were missed)."""
    day = instant.astimezone(zone).date()
    for offset in range(_SEARCH_DAYS):
        candidate = day - timedelta(days=offset)
        if cadence.is_run_day(candidate):
            at = run_instant(candidate, zone, cadence.hour)
            if at <= instant:
                return at
    raise AssertionError("no run within a year")  # pragma: no cover


def period_for_run(cadence: Cadence, zone: ZoneInfo, scheduled_at: datetime) -> tuple[date, date]:
    """The period the run scheduled at `scheduled_at` sends: derived from that time, not the clock."""
    run = latest_run_at_or_before(cadence, zone, scheduled_at)
    return cadence.period_sent_on(run.astimezone(zone).date())


def period_end(cadence: Cadence, zone: ZoneInfo, scheduled_at: datetime) -> datetime:
    """The instant the period of that run ends (local midnight after its last day)."""
    _, last = period_for_run(cadence, zone, scheduled_at)
    return day_start(last + timedelta(days=1), zone)


@dataclass(frozen=True)
class TickPlan:
    """What one scheduler tick does to a due schedule."""

    run_at: datetime | None  # the run to hand to the sender; None: nothing to send now
    next_run_at: datetime | None  # where the schedule moves on to; None: leave it as it is
    held_back: bool = False  # a pretended tick found only a period that has not ended


def plan_tick(cadence: Cadence, zone: ZoneInfo, next_run_at: datetime, tick: datetime, now: datetime) -> TickPlan:
    """A tick at `tick` for a schedule whose next run is `next_run_at` (<= tick), the clock being `now`.

    A real tick (tick <= now) sends the latest run at or before the tick (a schedule
    whose runs were missed sends only the latest period) and moves the schedule to the
    first run after the tick. A tick that pretends to be a later time sends the latest
    run whose period has ended by `now` (and only one the schedule has not passed yet),
    and moves the schedule at most to the first run after `now`, as a real tick now
    would: the real schedule never skips a period because of a pretended time, and a
    period sent early is not sent again (its statement is claimed once per period).
    """
    run: datetime | None = latest_run_at_or_before(cadence, zone, tick)
    held_back = False
    if run is not None and period_end(cadence, zone, run) > now:
        # Pretending: the latest run whose period has ended is the last one on a local day up to today.
        today = now.astimezone(zone).date()
        ended = latest_run_at_or_before(
            cadence, zone, day_start(today + timedelta(days=1), zone) - timedelta(microseconds=1)
        )
        run = ended if ended >= next_run_at else None
        held_back = run is None
    following = next_run_after(cadence, zone, min(tick, now))
    return TickPlan(run, None if following == next_run_at else following, held_back)


def parse_weekday(value: object) -> int:
    if isinstance(value, str) and value.strip().lower() in WEEKDAYS:
        return WEEKDAYS.index(value.strip().lower())
    raise ValueError(f"weekday must be one of {', '.join(WEEKDAYS)}")


def parse_day_of_month(value: object) -> int:
    """1..28, or "last" (the last day of each month)."""
    if isinstance(value, str) and value.strip().lower() == "last":
        return LAST_DAY
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_DAY_OF_MONTH:
        return value
    raise ValueError(f'day_of_month must be 1 to {MAX_DAY_OF_MONTH}, or "last"')


def day_of_month_name(value: int | None) -> int | str | None:
    """How the API writes a day of the month: 1..28 or "last"."""
    return "last" if value == LAST_DAY else value
