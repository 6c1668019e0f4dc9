from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.periods import PeriodError, format_instant, local_range, parse_instant


def span(frm: str, to: str, zone: str) -> tuple[datetime, datetime]:
    r = local_range(frm, to, zone)
    assert r.start is not None and r.end is not None
    return r.start, r.end


def test_local_dates_become_half_open_utc_instants():
    r = local_range("2026-11-01", "2026-11-30", "America/New_York")
    assert r.start == datetime(2026, 11, 1, 4, tzinfo=UTC)  # EDT until Nov 1 02:00
    assert r.end == datetime(2026, 12, 1, 5, tzinfo=UTC)  # EST


def test_spring_forward_day_has_23_hours_and_fall_back_25():
    spring_start, spring_end = span("2026-03-08", "2026-03-08", "America/New_York")
    fall_start, fall_end = span("2026-11-01", "2026-11-01", "America/New_York")
    assert spring_end - spring_start == timedelta(hours=23)
    assert fall_end - fall_start == timedelta(hours=25)


def test_midnight_in_a_dst_gap_starts_the_day_at_the_gap_end():
    start, _ = span("2022-09-11", "2022-09-11", "America/Santiago")
    assert start.astimezone(ZoneInfo("America/Santiago")).hour == 1


@pytest.mark.parametrize(
    ("frm", "to", "message"),
    [
        ("2026-11-30", "2026-11-01", "before"),
        ("2026-13-01", None, "YYYY-MM-DD"),
        ("20261101", None, "YYYY-MM-DD"),
        ("2020-01-01", "2026-01-01", "5 years"),
    ],
)
def test_bad_ranges(frm, to, message):
    with pytest.raises(PeriodError, match=message):
        local_range(frm, to, "UTC")


def test_open_ended_ranges():
    r = local_range(None, "2026-11-30", "Asia/Kolkata")
    assert r.start is None and r.end == datetime(2026, 11, 30, 18, 30, tzinfo=UTC)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_instant_text_sorts_in_time_order_and_round_trips(instant):
    assert parse_instant(format_instant(instant)) == instant
    later = instant + timedelta(microseconds=1)
    assert format_instant(instant) < format_instant(later)


@given(
    st.dates(min_value=datetime(2000, 1, 1).date(), max_value=datetime(2090, 1, 1).date()),
    st.sampled_from(["America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe", "America/Santiago"]),
)
def test_day_start_is_the_first_instant_of_that_local_date(day, zone_name):
    start, end = span(day.isoformat(), day.isoformat(), zone_name)
    zone = ZoneInfo(zone_name)
    assert start.astimezone(zone).date() == day
    assert (start - timedelta(microseconds=1)).astimezone(zone).date() < day
    assert end.astimezone(zone).date() > day
