"""Schedule math: runs at 06:00 local after a period ends, across DST, month ends and leap years."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.statement_schedule import (
    LAST_DAY,
    Cadence,
    Frequency,
    day_of_month_name,
    latest_run_at_or_before,
    next_run_after,
    parse_day_of_month,
    parse_weekday,
    period_end,
    period_for_run,
    plan_tick,
    run_instant,
)
from tests.conftest import budget

NY, LONDON, SYDNEY = ZoneInfo("America/New_York"), ZoneInfo("Europe/London"), ZoneInfo("Australia/Sydney")
DAILY = Cadence(Frequency.DAILY)
MONDAYS = Cadence(Frequency.WEEKLY, 0)
SUNDAYS = Cadence(Frequency.WEEKLY, 6)
MONTHLY = Cadence(Frequency.MONTHLY)
QUARTERLY = Cadence(Frequency.QUARTERLY)
YEARLY = Cadence(Frequency.YEARLY)
ON_THE_15TH = Cadence(Frequency.MONTHLY, day_of_month=15)
MONTH_END = Cadence(Frequency.MONTHLY, day_of_month=LAST_DAY)


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
hours = st.integers(0, 23)
cadences = st.one_of(
    st.builds(Cadence, st.sampled_from([Frequency.DAILY, Frequency.QUARTERLY, Frequency.YEARLY]), hour=hours),
    st.builds(Cadence, st.just(Frequency.WEEKLY), st.integers(0, 6), hour=hours),
    st.builds(Cadence, st.just(Frequency.MONTHLY), day_of_month=st.sampled_from([1, 2, 15, 28, LAST_DAY]), hour=hours),
)
instants = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))


@settings(max_examples=budget(quick=120, long=400), deadline=None)
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
        # At the chosen hour; an hour that does not exist that day (a DST gap) comes right after it.
        assert local.minute == 0 and local.hour in (cadence.hour, cadence.hour + 1)
    assert run.astimezone(zone).date() == last + timedelta(days=1)
    length = (last - first).days + 1
    assert length == {"daily": 1, "weekly": 7}.get(cadence.frequency.value, length)
    assert 1 <= length <= 366
    if cadence.frequency is Frequency.MONTHLY:
        assert 28 <= length <= 31


def test_cadence_and_weekday_validation() -> None:
    assert parse_weekday("Monday") == 0 and parse_weekday("sunday") == 6
    with pytest.raises(ValueError):
        parse_weekday("funday")
    with pytest.raises(ValueError):
        Cadence(Frequency.WEEKLY)
    with pytest.raises(ValueError):
        Cadence(Frequency.MONTHLY, 1)
    assert MONTHLY.day_of_month == 1 and Cadence(Frequency.MONTHLY, day_of_month=1) == MONTHLY
    assert parse_day_of_month("last") == LAST_DAY and parse_day_of_month(28) == 28
    assert day_of_month_name(LAST_DAY) == "last" and day_of_month_name(3) == 3
    for bad in (0, 29, 31, "1", 1.0, True, None, "first"):
        with pytest.raises(ValueError):
            parse_day_of_month(bad)
    for day in (0, 29, -2):
        with pytest.raises(ValueError):
            Cadence(Frequency.MONTHLY, day_of_month=day)
    with pytest.raises(ValueError):
        Cadence(Frequency.QUARTERLY, day_of_month=1)
    for hour in (-1, 24, True):
        with pytest.raises(ValueError):
            Cadence(Frequency.DAILY, hour=hour)


@pytest.mark.parametrize(
    ("cadence", "zone", "after", "run_local", "period"),
    [
        # On the 15th: the month before it, 15th to 14th (February's 28 or 29 days included).
        (ON_THE_15TH, NY, utc(2026, 11, 20), datetime(2026, 12, 15, 6), (date(2026, 11, 15), date(2026, 12, 14))),
        (ON_THE_15TH, NY, utc(2028, 3, 1), datetime(2028, 3, 15, 6), (date(2028, 2, 15), date(2028, 3, 14))),
        (ON_THE_15TH, SYDNEY, utc(2027, 1, 3), datetime(2027, 1, 15, 6), (date(2026, 12, 15), date(2027, 1, 14))),
        # On the last day: from the previous month's last day (the previous run) to the day before.
        (MONTH_END, LONDON, utc(2027, 2, 1), datetime(2027, 2, 28, 6), (date(2027, 1, 31), date(2027, 2, 27))),
        (MONTH_END, LONDON, utc(2028, 2, 1), datetime(2028, 2, 29, 6), (date(2028, 1, 31), date(2028, 2, 28))),
        (MONTH_END, NY, utc(2026, 4, 1), datetime(2026, 4, 30, 6), (date(2026, 3, 31), date(2026, 4, 29))),
        # At a chosen hour: 17:00 in New York across the fall-back (EDT -> EST).
        (
            Cadence(Frequency.MONTHLY, day_of_month=1, hour=17),
            NY,
            utc(2026, 10, 15),
            datetime(2026, 11, 1, 17),
            (date(2026, 10, 1), date(2026, 10, 31)),
        ),
        (
            Cadence(Frequency.DAILY, hour=0),
            SYDNEY,
            utc(2026, 4, 4, 12),
            datetime(2026, 4, 5, 0),
            (date(2026, 4, 4),) * 2,
        ),
        # Yearly: Jan 1 sends the previous calendar year (366 days in a leap year).
        (YEARLY, NY, utc(2026, 11, 26), datetime(2027, 1, 1, 6), (date(2026, 1, 1), date(2026, 12, 31))),
        (YEARLY, SYDNEY, utc(2028, 6, 1), datetime(2029, 1, 1, 6), (date(2028, 1, 1), date(2028, 12, 31))),
    ],
)
def test_a_chosen_day_of_month_hour_and_yearly(
    cadence: Cadence, zone: ZoneInfo, after: datetime, run_local: datetime, period: tuple[date, date]
) -> None:
    run = next_run_after(cadence, zone, after)
    assert run.astimezone(zone).replace(tzinfo=None) == run_local
    assert period_for_run(cadence, zone, run) == period
    assert period_end(cadence, zone, run) <= run


# -- a tick that pretends to be another time (make statements-now AT=...) --------------------


def test_a_real_tick_sends_the_latest_run_and_moves_past_the_tick() -> None:
    next_run = next_run_after(MONTHLY, NY, utc(2026, 9, 15))  # Oct 1
    tick = utc(2026, 11, 2, 12)  # missed Oct 1 and Nov 1: only Nov 1 (October) goes out
    plan = plan_tick(MONTHLY, NY, next_run, tick, now=tick + timedelta(seconds=3))
    assert plan.run_at == run_instant(date(2026, 11, 1), NY)
    assert plan.next_run_at == run_instant(date(2026, 12, 1), NY)
    assert not plan.held_back


def test_a_pretended_future_tick_neither_sends_an_unfinished_period_nor_moves_the_schedule() -> None:
    now = utc(2026, 11, 20, 12)
    next_run = next_run_after(MONTHLY, NY, now)  # Dec 1, 06:00 New York: November is still running
    plan = plan_tick(MONTHLY, NY, next_run, utc(2026, 12, 7, 12), now)
    assert plan.run_at is None and plan.held_back
    assert plan.next_run_at is None  # the real schedule still runs on Dec 1
    # Early on Dec 1 (November has ended in New York, the 06:00 run has not come): sent now,
    # and the schedule stays at the 06:00 run, whose send is then a no-op (claimed once per period).
    now = utc(2026, 12, 1, 7)  # 02:00 in New York
    plan = plan_tick(MONTHLY, NY, next_run, utc(2026, 12, 7, 12), now)
    assert plan.run_at == next_run and period_for_run(MONTHLY, NY, next_run) == (date(2026, 11, 1), date(2026, 11, 30))
    assert plan.next_run_at is None


@settings(max_examples=budget(quick=100, long=300), deadline=None)
@given(cadences, zones, instants, st.integers(0, 400 * 24), st.integers(0, 400 * 24))
def test_a_tick_never_sends_a_period_still_running_nor_moves_a_schedule_past_now(
    cadence: Cadence, zone: ZoneInfo, now: datetime, back_hours: int, ahead_hours: int
) -> None:
    next_run = next_run_after(cadence, zone, now - timedelta(hours=back_hours))
    tick = max(now + timedelta(hours=ahead_hours), next_run)  # due at the tick (a real tick or a pretended one)
    plan = plan_tick(cadence, zone, next_run, tick, now)
    if plan.run_at is not None:
        assert period_end(cadence, zone, plan.run_at) <= now
        assert plan.run_at <= tick
    moved = plan.next_run_at or next_run
    assert moved <= next_run_after(cadence, zone, now)  # never past the first run after now
    assert moved >= next_run  # and never backwards
    if tick <= now:  # a real tick: as before, the latest run, and on past the tick
        assert plan.run_at == latest_run_at_or_before(cadence, zone, tick)
        assert plan.next_run_at == next_run_after(cadence, zone, tick)
