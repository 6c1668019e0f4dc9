"""Usage alerts' rules without AWS: periods in the local calendar, values, thresholds, the watch."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.alerts import (
    AlertError,
    AlertPeriod,
    AlertScope,
    Measure,
    PeriodCounters,
    Watch,
    check_combination,
    crossed,
    decode_watches,
    encode_watches,
    parse_category,
    parse_threshold,
    watch_in_words,
    window_of,
    windows_of_key,
    with_unit,
)
from chalicelib.domain.categories import Category
from chalicelib.domain.rollups import DAY, MONTH, RollupKey, RollupTotals


def test_periods_are_local_calendar_periods():
    day = date(2026, 11, 26)  # a Thursday
    assert window_of(AlertPeriod.DAY, day).key == "day:2026-11-26"
    week = window_of(AlertPeriod.WEEK, day)
    assert (week.start, week.end) == (date(2026, 11, 23), date(2026, 11, 29))  # Monday to Sunday
    month = window_of(AlertPeriod.MONTH, day)
    assert (month.start, month.end) == (date(2026, 11, 1), date(2026, 11, 30))
    assert window_of(AlertPeriod.MONTH, date(2028, 2, 10)).end == date(2028, 2, 29)
    year = window_of(AlertPeriod.YEAR, day)
    assert (year.start, year.end) == (date(2026, 1, 1), date(2026, 12, 31))
    assert [w.label for w in (window_of(AlertPeriod.DAY, day), week, month, year)] == [
        "Nov 26, 2026",
        "the week of Nov 23, 2026",
        "November 2026",
        "2026",
    ]


def test_a_week_across_a_year_reads_the_days_of_both_years():
    week = window_of(AlertPeriod.WEEK, date(2027, 1, 1))
    assert week.start == date(2026, 12, 28)
    assert week.buckets()[0] == (DAY, "2026-12-28") and week.buckets()[-1] == (DAY, "2027-01-03")
    assert window_of(AlertPeriod.YEAR, date(2026, 5, 1)).buckets()[0] == (MONTH, "2026-01")


def test_the_dst_day_is_one_local_date_of_25_hours():
    """New York on 2026-11-01: 04:00Z is its midnight, 05:00Z the next day's."""
    zone = ZoneInfo("America/New_York")

    def day_of(text: str) -> date:
        return datetime.fromisoformat(text).astimezone(zone).date()

    assert day_of("2026-11-01T03:59:00+00:00") == date(2026, 10, 31)
    assert day_of("2026-11-01T04:00:00+00:00") == day_of("2026-11-02T04:59:59+00:00") == date(2026, 11, 1)
    assert day_of("2026-11-02T05:00:00+00:00") == date(2026, 11, 2)
    # and in spring, a day of 23 hours (March 8, 2026: 05:00Z to 04:00Z the next day)
    assert day_of("2026-03-09T03:59:00+00:00") == date(2026, 3, 8)
    assert day_of("2026-03-09T04:00:00+00:00") == date(2026, 3, 9)


def test_counters_make_each_periods_value():
    counters = PeriodCounters()
    rollups = {
        RollupKey("a", DAY, "2026-11-26", Category.CALL_MINUTES): RollupTotals(2, 5_000_000, -62_500),
        RollupKey("a", DAY, "2026-11-27", Category.TEXT_MESSAGES): RollupTotals(3, 3_000_000, -23_700),
        RollupKey("a", MONTH, "2026-11", Category.CALL_MINUTES): RollupTotals(2, 5_000_000, -62_500),
        RollupKey("a", DAY, "2026-11-27", Category.RECHARGE): RollupTotals(1, 1_000_000, 10_000_000),
    }
    counters.add_all(rollups, list(AlertPeriod))
    week = window_of(AlertPeriod.WEEK, date(2026, 11, 26))
    assert counters.value(["a"], week, None, Measure.COUNT) == 5  # a recharge is not usage
    assert counters.value(["a"], week, None, Measure.COST) == 86_200
    assert counters.value(["a"], week, Category.CALL_MINUTES, Measure.QUANTITY) == 5_000_000
    month = window_of(AlertPeriod.MONTH, date(2026, 11, 1))
    assert counters.value(["a"], month, Category.CALL_MINUTES, Measure.COUNT) == 2
    assert counters.value(["b"], month, None, Measure.COUNT) == 0
    assert windows_of_key(AlertPeriod.MONTH, RollupKey("a", DAY, "2026-11-26", Category.CALL_MINUTES)) is None


@given(st.integers(0, 100), st.integers(0, 100), st.integers(1, 150))
def test_crossing_is_reaching_the_threshold_in_this_step(before: int, added: int, threshold: int):
    after = before + added
    assert crossed(before, after, threshold) == (before < threshold <= after)
    # Steps that add up fire exactly once when the sum reaches the threshold.
    steps = [before, added]
    total, fired = 0, 0
    for step in steps:
        fired += crossed(total, total + step, threshold)
        total += step
    assert fired == (1 if total >= threshold else 0)


def test_thresholds_are_exact_and_above_zero():
    assert parse_threshold("10", Measure.COUNT) == 10
    assert parse_threshold("25.50", Measure.COST) == 25_500_000
    assert parse_threshold(Decimal("1.000001"), Measure.QUANTITY) == 1_000_001
    for bad, measure in (("0", Measure.COUNT), ("-1", Measure.COST), ("2.5", Measure.COUNT), ("1e3", Measure.COST)):
        with pytest.raises(AlertError, match="threshold"):
            parse_threshold(bad, measure)
    with pytest.raises(AlertError, match="threshold"):
        parse_threshold(1.5, Measure.COST)  # a binary float is never money
    with pytest.raises(AlertError, match="quantity"):
        check_combination(None, Measure.QUANTITY)
    with pytest.raises(AlertError, match="category"):
        parse_category("recharge")  # not usage
    assert parse_category("total") is None


def test_the_watch_is_compact_and_round_trips():
    watches = [
        Watch("ua_1", 3, AlertScope.ACCOUNT, Category.CALL_MINUTES, Measure.QUANTITY, AlertPeriod.DAY, 600_000_000),
        Watch("ug_2", 1, AlertScope.EACH_ACCOUNT, None, Measure.COST, AlertPeriod.MONTH, 50_000_000, enabled=False),
    ]
    text = encode_watches(watches)
    assert decode_watches(text) == tuple(watches)
    assert len(text) < 80 * len(watches) and decode_watches(None) == ()


def test_values_in_words():
    assert with_unit("120.50", Measure.COST, None, "USD") == "120.50 USD"
    assert with_unit("600", Measure.QUANTITY, Category.CALL_MINUTES, "USD") == "600 minutes"
    assert with_unit("40", Measure.COUNT, Category.CALL_MINUTES, "USD") == "40 calls"
    assert with_unit("1", Measure.COUNT, Category.CALL_MINUTES, "USD") == "1 call"
    assert with_unit("1", Measure.COUNT, None, "USD") == "1 usage entry"
    assert watch_in_words(None, Measure.COST, AlertPeriod.MONTH) == "cost of all usage per month"
    assert watch_in_words(Category.CALL_MINUTES, Measure.QUANTITY, AlertPeriod.DAY) == "call minutes per day"


def test_firing_ids_sort_newest_revision_then_period_and_event_ids_are_stable():
    from chalicelib.domain.alerts import Firing

    watch = Watch("ua_1", 2, AlertScope.ACCOUNT, None, Measure.COUNT, AlertPeriod.DAY, 5)
    one = Firing("acct", watch, "acct", window_of(AlertPeriod.DAY, date(2026, 11, 2)), 5)
    two = Firing("acct", watch, "acct", window_of(AlertPeriod.DAY, date(2026, 11, 10)), 7)
    assert one.firing_id < two.firing_id and one.event_id != two.event_id
    assert one.event_id == Firing("acct", watch, "acct", one.window, 9).event_id  # the value is not the key
    assert datetime.now(UTC)  # (a period is keyed by its start, not by when it fired)
