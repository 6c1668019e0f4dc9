"""Local dates of an account to exact UTC instants (half-open, DST-safe)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_SPAN_DAYS = 5 * 366
# Dates outside these years overflow datetime once shifted to UTC (0001-01-01 in
# Asia/Tokyo), or format with fewer than 4 year digits and sort wrongly as text.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(9998, 12, 31)


class PeriodError(ValueError):
    pass


@dataclass(frozen=True)
class LocalRange:
    """[start, end) in UTC covering local dates `first`..`last` inclusive, in `zone`."""

    first: date | None
    last: date | None
    zone: str
    start: datetime | None
    end: datetime | None


def local_midnight_utc(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant the local day begins (the first instant that is that date)."""
    # Where midnight falls in a DST gap, fold=0 reads it with the offset before the
    # change, which is exactly the instant the day starts (01:00 on the new offset).
    utc = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    return utc


def parse_local_date(value: str | None, field: str) -> date | None:
    if value is None or value == "":
        return None
    try:
        if len(value) != 10:
            raise ValueError
        parsed = date.fromisoformat(value)
    except ValueError:
        raise PeriodError(f"{field} must be a date YYYY-MM-DD, got {value!r}") from None
    if not EARLIEST_DATE <= parsed <= LATEST_DATE:
        raise PeriodError(f"{field} must be between {EARLIEST_DATE} and {LATEST_DATE}, got {value!r}")
    return parsed


def local_range(from_text: str | None, to_text: str | None, zone_name: str) -> LocalRange:
    """`from`/`to` query parameters (local dates, `to` inclusive) as UTC instants."""
    first = parse_local_date(from_text, "from")
    last = parse_local_date(to_text, "to")
    if first and last:
        if last < first:
            raise PeriodError("to must not be before from")
        if (last - first).days > MAX_SPAN_DAYS:
            raise PeriodError("a range may span at most 5 years")
    zone = ZoneInfo(zone_name)
    start = local_midnight_utc(first, zone) if first else None
    end = local_midnight_utc(last + timedelta(days=1), zone) if last else None
    return LocalRange(first, last, zone_name, start, end)


def format_instant(instant: datetime) -> str:
    """RFC 3339 UTC with microseconds: sorts as text in time order."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_instant(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
