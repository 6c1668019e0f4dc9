"""Usage reports read from rollups agree with the ledger, in every zone and grouping."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.adapters.accounts_repo import AccountRepository
from chalicelib.adapters.ledger_repo import LedgerRepository
from chalicelib.domain.money import parse_micros
from chalicelib.domain.reports import GroupBy, period_of
from chalicelib.services.balances import balance_view
from chalicelib.services.reports import account_usage, agency_dashboard, agency_usage
from chalicelib.services.usage import record_usage

from .usage_helpers import SERVICE, event_body, message, new_id, provision

pytestmark = pytest.mark.usefixtures("aws")

ZONES = ["America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Adelaide", "Asia/Kathmandu", "UTC"]
# Instants around DST changes and local midnights, where UTC-cut days go wrong.
SPECIAL = [
    datetime(2026, 3, 8, 6, 59, tzinfo=UTC),  # New York springs forward at 07:00 UTC
    datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
    datetime(2026, 11, 1, 5, 30, tzinfo=UTC),  # New York's repeated hour
    datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
    datetime(2026, 3, 29, 0, 59, tzinfo=UTC),  # London springs forward at 01:00 UTC
    datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
    datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
    datetime(2026, 1, 31, 18, 29, tzinfo=UTC),  # Kolkata midnight is 18:30 UTC
    datetime(2026, 1, 31, 18, 30, tzinfo=UTC),
    datetime(2026, 6, 30, 23, 59, 59, tzinfo=UTC),
]
CATEGORIES = {"call_minutes": ("3", 37_500), "text_messages": ("2", 15_800), "number_renewals": ("1", 1_000_000)}


def never(*_: object) -> None:
    raise AssertionError("nothing should be dead-lettered")


def iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


instants = st.one_of(
    st.sampled_from(SPECIAL),
    st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2026, 11, 20), timezones=st.just(UTC)),
)


def expected_rows(
    account_id: str, zone: str, first: date, last: date, group_by: GroupBy
) -> dict[tuple[str, str], list[int]]:
    """The report computed straight from the ledger entries: [count, amount] per (period, category)."""
    rows: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for entry in LedgerRepository().entries_of_account(account_id):
        day = entry.occurred_at.astimezone(ZoneInfo(zone)).date()
        if entry.category.value in CATEGORIES and first <= day <= last:
            row = rows[(period_of(day, group_by, first, last).key, entry.category.value)]
            row[0] += 1
            row[1] -= entry.amount_micros
    return dict(rows)


def report_rows(report: dict[str, Any]) -> dict[tuple[str, str], list[int]]:
    return {(r["period"], r["category"]): [r["count"], parse_micros(r["amount"])] for r in report["rows"]}


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    zone=st.sampled_from(ZONES),
    events=st.lists(st.tuples(instants, st.sampled_from(sorted(CATEGORIES))), min_size=1, max_size=25),
    window=st.tuples(st.dates(date(2025, 12, 1), date(2026, 11, 20)), st.integers(0, 400)),
    group_by=st.sampled_from(list(GroupBy)),
)
def test_report_totals_equal_ledger_sums(zone, events, window, group_by):
    account = provision(new_id("acct"), time_zone=zone)
    record_usage(
        [
            message(event_body(new_id("e"), account, category, quantity=CATEGORIES[category][0], occurred_at=iso(at)))
            for at, category in events
        ],
        dead_letter=never,
    )
    first, last = window[0], window[0] + timedelta(days=window[1])
    report = account_usage(
        SERVICE, account, {"from": first.isoformat(), "to": last.isoformat(), "group_by": group_by.value}
    )
    assert report["time_zone"] == zone
    assert report_rows(report) == expected_rows(account, zone, first, last, group_by)
    # totals are the rows summed, whatever the grouping
    assert parse_micros(report["total_amount"]) == sum(parse_micros(r["amount"]) for r in report["rows"])


def test_a_dst_day_counts_its_23_and_25_hours_once():
    account = provision(new_id("acct"), time_zone="America/New_York")
    hourly = []
    for day_start, hours in ((datetime(2026, 3, 8, 5, tzinfo=UTC), 23), (datetime(2026, 11, 1, 4, tzinfo=UTC), 25)):
        hourly += [day_start + timedelta(hours=h, minutes=30) for h in range(hours)]
    record_usage([message(event_body(new_id("e"), account, occurred_at=iso(t))) for t in hourly], dead_letter=never)
    report = account_usage(SERVICE, account, {"from": "2026-03-07", "to": "2026-11-02", "group_by": "day"})
    counts = {r["period"]: r["count"] for r in report["rows"]}
    assert counts == {"2026-03-08": 23, "2026-11-01": 25}
    assert report["start"] == "2026-03-07T05:00:00.000000Z"


def test_late_events_land_on_the_day_they_happened():
    account = provision(new_id("acct"), time_zone="Europe/London")
    yesterday = datetime.now(UTC) - timedelta(days=1)
    record_usage([message(event_body(new_id("e"), account, occurred_at=iso(yesterday)))], dead_letter=never)
    day = yesterday.astimezone(ZoneInfo("Europe/London")).date().isoformat()
    report = account_usage(SERVICE, account, {"from": day, "to": day, "group_by": "day"})
    assert [(r["period"], r["count"]) for r in report["rows"]] == [(day, 1)]


def test_agency_totals_are_the_sum_of_its_accounts_and_the_dashboard_ranks_by_cost():
    agency = provision(new_id("ag"), kind="agency")
    shared = provision(new_id("sub"), agency_id=agency, billing="agency", time_zone="Asia/Kolkata")
    own = provision(new_id("sub"), agency_id=agency, time_zone="Europe/London")
    at = iso(datetime(2026, 11, 10, 12, tzinfo=UTC))
    record_usage(
        [message(event_body(new_id("e"), a, occurred_at=at)) for a in (agency, shared, shared, own, own, own)]
        + [message(event_body(new_id("e"), own, "text_messages", quantity="2", occurred_at=at))],
        dead_letter=never,
    )
    report = agency_usage(SERVICE, agency, {"from": "2026-11-01", "to": "2026-11-30"})
    by_account = {b["account_id"]: b for b in report["accounts"]}
    assert by_account[shared]["billing"] == "agency" and by_account[own]["billing"] == "own"
    assert by_account[own]["total_amount"] == "0.1283"  # 3 calls + 2 texts
    assert report["totals"]["total_amount"] == "0.2408"
    assert [t["count"] for t in report["totals"]["by_category"]] == [6, 1]

    dashboard = agency_dashboard(SERVICE, agency, {"from": "2026-11-01", "to": "2026-11-30"})
    assert [r["account_id"] for r in dashboard["accounts"]] == [own, shared, agency]
    assert dashboard["accounts"][0]["share_percent"] == "53.28"
    assert dashboard["accounts"][0]["calls"] == 3 and dashboard["accounts"][0]["texts"] == "2"
    assert dashboard["totals"]["cost"] == "0.2408"
    assert dashboard["accounts"][1]["balance"] == "-0.1125"  # the agency's balance pays for shared


def test_balance_runway_from_the_last_30_days_of_spend():
    agency = provision(new_id("ag"), kind="agency", time_zone="Asia/Kolkata")
    shared = provision(new_id("sub"), agency_id=agency, billing="agency", time_zone="Asia/Kolkata")
    zone = ZoneInfo("Asia/Kolkata")
    today = datetime.now(UTC).astimezone(zone).date()
    noon = [
        datetime.combine(today - timedelta(days=d), datetime.min.time(), zone) + timedelta(hours=12)
        for d in range(1, 31)
    ]
    record_usage(
        [message(event_body(new_id("r"), agency, "recharge", amount="90.00"))]
        + [message(event_body(new_id("n"), shared, "number_renewals", quantity="1", occurred_at=iso(t))) for t in noon]
        # outside the window: today (incomplete) and 31 days ago
        + [
            message(
                event_body(
                    new_id("n"), shared, "number_renewals", quantity="1", occurred_at=iso(noon[0] + timedelta(days=1))
                )
            )
        ]
        + [
            message(
                event_body(
                    new_id("n"), agency, "number_renewals", quantity="1", occurred_at=iso(noon[-1] - timedelta(days=1))
                )
            )
        ],
        dead_letter=never,
    )
    view = balance_view(stored(shared))
    assert view["balance"] == "58.00"  # 90 - 32 renewals
    assert view["average_daily_spend"] == "1.00"
    assert view["runway_days"] == "58.0"
    assert view["billing_account_id"] == agency


def test_no_spend_means_no_runway():
    account = provision(new_id("acct"))
    assert balance_view(stored(account))["runway_days"] is None


def stored(account_id: str) -> Any:
    account = AccountRepository().get(account_id)
    assert account is not None
    return account


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    subs=st.lists(st.tuples(st.sampled_from(ZONES), st.booleans()), min_size=1, max_size=4),
    events=st.lists(st.tuples(st.integers(0, 4), instants, st.sampled_from(sorted(CATEGORIES))), max_size=30),
    group_by=st.sampled_from(list(GroupBy)),
)
def test_agency_totals_equal_the_sum_of_its_accounts(subs, events, group_by):
    agency = provision(new_id("ag"), kind="agency", time_zone="America/New_York")
    accounts = [agency] + [
        provision(new_id("sub"), agency_id=agency, billing="agency" if shared else "own", time_zone=zone)
        for zone, shared in subs
    ]
    record_usage(
        [
            message(
                event_body(
                    new_id("e"),
                    accounts[i % len(accounts)],
                    category,
                    quantity=CATEGORIES[category][0],
                    occurred_at=iso(at),
                )
            )
            for i, at, category in events
        ],
        dead_letter=never,
    )
    report = agency_usage(SERVICE, agency, {"from": "2025-12-01", "to": "2026-11-20", "group_by": group_by.value})
    blocks = report["accounts"]
    assert {b["account_id"] for b in blocks} == set(accounts)
    assert parse_micros(report["totals"]["total_amount"]) == sum(parse_micros(b["total_amount"]) for b in blocks)
    summed: dict[tuple[str, str], int] = defaultdict(int)
    for block in blocks:
        for row in block["rows"]:
            summed[(row["period"], row["category"])] += parse_micros(row["amount"])
        # each block is its own account's ledger, in its own zone
        first, last = date(2025, 12, 1), date(2026, 11, 20)
        assert report_rows(block) == expected_rows(block["account_id"], block["time_zone"], first, last, group_by)
    assert {(r["period"], r["category"]): parse_micros(r["amount"]) for r in report["totals"]["rows"]} == dict(summed)
