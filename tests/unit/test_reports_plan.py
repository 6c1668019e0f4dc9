from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.reports import BucketRange, GroupBy, bucket_ranges, period_of
from chalicelib.domain.rollups import DAY, MONTH


def covered_days(ranges: list[BucketRange]) -> list[date]:
    days = []
    for r in ranges:
        if r.period == DAY:
            d, end = date.fromisoformat(r.first), date.fromisoformat(r.last)
        else:
            d = date.fromisoformat(r.first + "-01")
            y, m = map(int, r.last.split("-"))
            end = (date(y + (m == 12), m % 12 + 1, 1)) - timedelta(days=1)
        while d <= end:
            days.append(d)
            d += timedelta(days=1)
    return days


def test_a_year_reads_twelve_months_and_no_days():
    assert bucket_ranges(date(2026, 1, 1), date(2026, 12, 31), GroupBy.MONTH) == [
        BucketRange(MONTH, "2026-01", "2026-12")
    ]


def test_edges_are_read_as_days():
    assert bucket_ranges(date(2026, 1, 15), date(2026, 4, 10), GroupBy.TOTAL) == [
        BucketRange(DAY, "2026-01-15", "2026-01-31"),
        BucketRange(MONTH, "2026-02", "2026-03"),
        BucketRange(DAY, "2026-04-01", "2026-04-10"),
    ]


def test_inside_one_month():
    assert bucket_ranges(date(2026, 2, 3), date(2026, 2, 9), GroupBy.MONTH) == [
        BucketRange(DAY, "2026-02-03", "2026-02-09")
    ]


@given(st.dates(date(2020, 1, 1), date(2030, 1, 1)), st.integers(0, 800), st.sampled_from(list(GroupBy)))
def test_ranges_cover_every_day_exactly_once(first, length, group_by):
    last = first + timedelta(days=length)
    days = covered_days(bucket_ranges(first, last, group_by))
    assert days == [first + timedelta(days=i) for i in range(length + 1)]


def test_weeks_start_on_monday_and_are_clipped_to_the_range():
    p = period_of(date(2026, 11, 26), GroupBy.WEEK, date(2026, 11, 25), date(2026, 12, 31))  # a Thursday
    assert (p.key, p.start, p.end) == ("2026-11-23", date(2026, 11, 25), date(2026, 11, 29))
