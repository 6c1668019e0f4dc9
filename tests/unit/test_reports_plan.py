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


# -- the period a dashboard compares with ---------------------------------------------------------


def test_whole_calendar_periods_compare_with_the_previous_one() -> None:
    from chalicelib.domain.reports import comparison_period

    cases = {
        (date(2026, 11, 1), date(2026, 11, 30)): (date(2026, 10, 1), date(2026, 10, 31), "previous month"),
        (date(2026, 3, 1), date(2026, 3, 31)): (date(2026, 2, 1), date(2026, 2, 28), "previous month"),
        (date(2026, 10, 1), date(2026, 12, 31)): (date(2026, 7, 1), date(2026, 9, 30), "previous quarter"),
        (date(2026, 1, 1), date(2026, 12, 31)): (date(2025, 1, 1), date(2025, 12, 31), "previous year"),
        (date(2026, 1, 1), date(2026, 2, 28)): (date(2025, 11, 1), date(2025, 12, 31), "previous 2 months"),
        (date(2026, 11, 23), date(2026, 11, 29)): (date(2026, 11, 16), date(2026, 11, 22), "previous week"),
        (date(2026, 11, 24), date(2026, 11, 30)): (date(2026, 11, 17), date(2026, 11, 23), "previous 7 days"),
        (date(2026, 3, 17), date(2026, 11, 23)): (date(2025, 7, 8), date(2026, 3, 16), "previous 252 days"),
        (date(2026, 11, 5), date(2026, 11, 5)): (date(2026, 11, 4), date(2026, 11, 4), "previous day"),
        (date(2026, 12, 1), date(2026, 12, 10)): (
            date(2026, 11, 1),
            date(2026, 11, 10),
            "same days of the previous month",
        ),
        (date(2026, 3, 1), date(2026, 3, 30)): (date(2026, 2, 1), date(2026, 2, 28), "same days of the previous month"),
        (date(2026, 12, 1), date(2026, 12, 1)): (
            date(2026, 11, 1),
            date(2026, 11, 1),
            "same days of the previous month",
        ),
    }
    for (first, last), (prev_first, prev_last, label) in cases.items():
        compared = comparison_period(first, last)
        assert (compared.first, compared.last, compared.label) == (prev_first, prev_last, label), (first, last)


@given(st.dates(date(2001, 1, 1), date(2090, 1, 1)), st.integers(0, 800))
def test_the_compared_period_ends_the_day_before_and_never_overlaps(first, length):
    from chalicelib.domain.reports import comparison_period

    last = first + timedelta(days=length)
    compared = comparison_period(first, last)
    assert compared.first <= compared.last < first
    if compared.label != "same days of the previous month":
        assert compared.last == first - timedelta(days=1)


# -- paging through an agency's accounts ----------------------------------------------------------


@given(
    st.lists(st.tuples(st.integers(-5, 5), st.text("abc", max_size=3)), max_size=40, unique=True),
    st.integers(1, 12),
)
def test_keyset_paging_lists_every_item_once_in_order(items, limit):
    from chalicelib.domain.reports import page_after

    def key(item: tuple[int, str]) -> tuple[int, str]:
        return item

    seen: list[tuple[int, str]] = []
    after = None
    for _ in range(len(items) + 2):
        page, after = page_after(items, key, after, limit)
        assert len(page) <= limit
        seen += page
        if after is None:
            break
    assert seen == sorted(items)


def test_search_ignores_case_and_looks_in_name_and_id():
    from chalicelib.domain.reports import matches_search

    assert matches_search("dental", "Client 0007 DENTAL", "acct_7")
    assert matches_search("ACCT_7", "Client", "acct_7")
    assert not matches_search("roof", "Client 0007 Dental", "acct_7")
