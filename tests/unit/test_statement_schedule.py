"""Schedule math: runs at 06:00 local after a period ends, across DST, month ends and leap years."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.statement_schedule import (
    Cadence,
    Frequency,
    latest_run_at_or_before,
    next_run_after,
    parse_weekday,
    period_for_run,
    run_instant,
)

NY, LONDON, SYDNEY = ZoneInfo("America/New_York"), ZoneInfo("Europe/London"), ZoneInfo("Australia/Sydney")
DAILY = Cadence(Frequency.DAILY)
MONDAYS = Cadence(Frequency.WEEKLY, 0)
SUNDAYS = Cadence(Frequency.WEEKLY, 6)
MONTHLY = Cadence(Frequency.MONTHLY)
QUARTERLY = Cadence(Frequency.QUARTERLY)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "day", "expected_utc"),
    [
        # New York: EDT (UTC-4) until Nov 1 2026, EST (UTC-5) after; springs forward Mar 8 2026.
        (NY, date(2026, 10, 31), utc(2026, 10, 31, 10)),
        (NY, date(2026, 11, 1), utc(2026, 11, 1, 11)),  # the day clocks go back: 06:00 is after the change
        (NY, date(2026, 3, 8), utc(2026, 3, 8, 10)),  # the day clocks go forward
        (NY, date(2026, 3, 7), utc(2026, 3, 7, 11)),
        # London: BST from Mar 29 2026, GMT from Oct 25 2026.
        (LONDON, date(2026, 3, 29), utc(2026, 3, 29, 5)),
        (LONDON, date(2026, 3, 28), utc(2026, 3, 28, 6)),
        (LONDON, date(2026, 10, 25), utc(2026, 10, 25, 6)),
        # Sydney: AEDT (UTC+11) until Apr 5 2026, AEST (UTC+10) until Oct 4 2026.
        (SYDNEY, date(2026, 4, 5), utc(2026, 4, 4, 20)),
        (SYDNEY, date(2026, 4, 4), utc(2026, 4, 3, 19)),
        (SYDNEY, date(2026, 10, 4), utc(2026, 10, 3, 19)),
        (SYDNEY, date(2026, 10, 3), utc(2026, 10, 2, 20)),
    ],
)
def test_runs_are_at_six_local_whatever_the_offset(zone: ZoneInfo, day: date, expected_utc: datetime) -> None:
    at = run_instant(day, zone)
    assert at == expected_utc
    local = at.astimezone(zone)
    assert (local.date(), local.hour, local.minute) == (day, 6, 0)


@pytest.mark.parametrize(
    ("cadence", "zone", "after", "run_local", "period"),
    [
        # Monthly: Jan 31 -> Feb 1 sends January; Feb of a leap year has 29 days.
        (MONTHLY, NY, utc(2028, 1, 31, 12), datetime(2028, 2, 1, 6), (date(2028, 1, 1), date(2028, 1, 31))),
        (MONTHLY, NY, utc(2028, 2, 15), datetime(2028, 3, 1, 6), (date(2028, 2, 1), date(2028, 2, 29))),
        (MONTHLY, LONDON, utc(2027, 2, 15), datetime(2027, 3, 1, 6), (date(2027, 2, 1), date(2027, 2, 28))),
        (MONTHLY, SYDNEY, utc(2024, 2, 29, 18, 59), datetime(2024, 3, 1, 6), (date(2024, 2, 1), date(2024, 2, 29))),
        # Monthly across New York's fall-back (Nov 1 is the change day itself).
        (MONTHLY, NY, utc(2026, 10, 20), datetime(2026, 11, 1, 6), (date(2026, 10, 1), date(2026, 10, 31))),
        # Monthly across year end; Dec has 31 days.
        (MONTHLY, SYDNEY, utc(2026, 12, 20), datetime(2027, 1, 1, 6), (date(2026, 12, 1), date(2026, 12, 31))),
        # 06:00 on the 1st has passed in Sydney (19:00 UTC the day before): the next one is a month on.
        (
            MONTHLY,
            SYDNEY,
            utc(2026, 11, 30, 19, 0, 1),
            datetime(2027, 1, 1, 6),
            (date(2026, 12, 1), date(2026, 12, 31)),
        ),
        # Quarterly: Jan 1 sends Oct-Dec; Apr 1 sends Jan-Mar (with Feb 29 in a leap year).
        (QUARTERLY, NY, utc(2026, 11, 5), datetime(2027, 1, 1, 6), (date(2026, 10, 1), date(2026, 12, 31))),
        (QUARTERLY, LONDON, utc(2028, 2, 1), datetime(2028, 4, 1, 6), (date(2028, 1, 1), date(2028, 3, 31))),
        (QUARTERLY, SYDNEY, utc(2026, 4, 1), datetime(2026, 7, 1, 6), (date(2026, 4, 1), date(2026, 6, 30))),
        (QUARTERLY, SYDNEY, utc(2026, 8, 1), datetime(2026, 10, 1, 6), (date(2026, 7, 1), date(2026, 9, 30))),
        # Weekly on Mondays, across New York's spring-forward (Sun Mar 8 2026): 7 local days.
        (MONDAYS, NY, utc(2026, 3, 5), datetime(2026, 3, 9, 6), (date(2026, 3, 2), date(2026, 3, 8))),
        # Weekly on Sundays across London's fall-back (Sun Oct 25 2026) and Sydney's spring-forward (Oct 4).
        (SUNDAYS, LONDON, utc(2026, 10, 20), datetime(2026, 10, 25, 6), (date(2026, 10, 18), date(2026, 10, 24))),
        (SUNDAYS, SYDNEY, utc(2026, 9, 30), datetime(2026, 10, 4, 6), (date(2026, 9, 27), date(2026, 10, 3))),
        # Weekly over a leap day and a month end.
        (MONDAYS, LONDON, utc(2028, 2, 29), datetime(2028, 3, 6, 6), (date(2028, 2, 28), date(2028, 3, 5))),
        # Daily: yesterday, also on a DST day.
        (DAILY, NY, utc(2026, 3, 8, 9), datetime(2026, 3, 8, 6), (date(2026, 3, 7), date(2026, 3, 7))),
        (DAILY, SYDNEY, utc(2026, 4, 4, 20, 30), datetime(2026, 4, 6, 6), (date(2026, 4, 5), date(2026, 4, 5))),
    ],
)
def test_next_run_and_the_period_it_sends(
    cadence: Cadence, zone: ZoneInfo, after: datetime, run_local: datetime, period: tuple[date, date]
) -> None:
    run = next_run_after(cadence, zone, after)
    assert run.astimezone(zone).replace(tzinfo=None) == run_local
    assert run > after
    assert period_for_run(cadence, zone, run) == period
    # The period is complete when it runs: its last local day ended before the run.
    assert datetime.combine(period[1] + timedelta(days=1), datetime.min.time(), tzinfo=zone) <= run
    # A run delayed or retried hours later still sends the same period.
    assert period_for_run(cadence, zone, run + timedelta(hours=5)) == period


def test_a_schedule_off_for_a_while_sends_only_the_latest_missed_period() -> None:
    last_run = next_run_after(MONTHLY, NY, utc(2026, 1, 15))  # Feb 1
    # The scheduler was down until mid-May: only April goes out, not Feb, Mar, Apr.
    tick = utc(2026, 5, 14, 12)
    latest = latest_run_at_or_before(MONTHLY, NY, tick)
    assert latest > last_run
    assert period_for_run(MONTHLY, NY, latest) == (date(2026, 4, 1), date(2026, 4, 30))
    assert next_run_after(MONTHLY, NY, tick).astimezone(NY).date() == date(2026, 6, 1)


zones = st.sampled_from([NY, LONDON, SYDNEY])
cadences = st.one_of(
    st.sampled_from([DAILY, MONTHLY, QUARTERLY]), st.integers(0, 6).map(lambda d: Cadence(Frequency.WEEKLY, d))
)
instants = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))


@settings(max_examples=400, deadline=None)
@given(cadences, zones, instants)
def test_runs_follow_each_other_and_periods_tile_without_gaps(cadence: Cadence, zone: ZoneInfo, at: datetime) -> None:
    run = next_run_after(cadence, zone, at)
    following = next_run_after(cadence, zone, run)
    assert at < run < following
    assert latest_run_at_or_before(cadence, zone, run) == run
    assert latest_run_at_or_before(cadence, zone, following - timedelta(microseconds=1)) == run
    first, last = period_for_run(cadence, zone, run)
    next_first, _ = period_for_run(cadence, zone, following)
    assert next_first == last + timedelta(days=1)  # consecutive runs send consecutive periods
    for instant in (run, following):
        local = instant.astimezone(zone)
        assert (local.hour, local.minute) == (6, 0)
    assert run.astimezone(zone).date() == last + timedelta(days=1)
    length = (last - first).days + 1
    assert length == {"daily": 1, "weekly": 7}.get(cadence.frequency.value, length)
    assert 1 <= length <= 92


def test_cadence_and_weekday_validation() -> None:
    assert parse_weekday("Monday") == 0 and parse_weekday("sunday") == 6
    with pytest.raises(ValueError):
        parse_weekday("funday")
    with pytest.raises(ValueError):
        Cadence(Frequency.WEEKLY)
    with pytest.raises(ValueError):
        Cadence(Frequency.MONTHLY, 1)
