"""services/reports.py on the fakes: account and agency usage, the dashboard, the account list,
the CSV and the spend over the last days, over ledger data written by the real writer."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain.categories import USAGE_CATEGORIES, Category
from chalicelib.domain.money import format_micros, parse_micros
from chalicelib.domain.pricing import Rate
from chalicelib.domain.reports import GroupBy, period_of
from chalicelib.services.cursors import next_cursor
from chalicelib.services.errors import BadRequest, NotFound
from chalicelib.services.reports import (
    account_usage,
    agency_account_list,
    agency_dashboard,
    agency_usage,
    spend_over_last_days,
    usage_csv,
)
from tests.fakes.world import SERVICE, admin, viewer
from tests.unit.services.reports.conftest import World, recharge, usage

# Default prices (domain/pricing.py): a call minute 0.0125, a text 0.0079, a number renewal 1.00.
CALL_3 = 37_500  # 3 minutes
TEXT_2 = 15_800  # 2 texts
RENEWAL = 1_000_000


def at(day: str, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC) + timedelta(hours=hour, minutes=minute)


def rows_of(report: dict[str, Any]) -> dict[tuple[str, str], tuple[int, int]]:
    return {(r["period"], r["category"]): (r["count"], parse_micros(r["amount"])) for r in report["rows"]}


def ledger_rows(world: World, account_id: str, zone: str, first: date, last: date, group_by: GroupBy):
    """The report computed straight from the fake ledger's entries: (count, cost) per (period, category)."""
    rows: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for entry in world.ledger.entries_of_account(account_id):
        day = entry.occurred_at.astimezone(ZoneInfo(zone)).date()
        if entry.category.is_usage and first <= day <= last:
            row = rows[(period_of(day, group_by, first, last).key, entry.category.value)]
            row[0] += 1
            row[1] -= entry.amount_micros
    return {k: (c, a) for k, (c, a) in rows.items()}


# -- account usage -------------------------------------------------------------------------------------------


@pytest.fixture
def kolkata(world: World) -> str:
    """An account in Asia/Kolkata (UTC+5:30) with usage across three months, at local midnights."""
    world.provision("kol", time_zone="Asia/Kolkata")
    world.record(
        recharge("kol", at("2026-01-02")),
        usage("kol", at("2026-01-10")),
        usage("kol", at("2026-01-31", 18, 29)),  # 23:59 on Jan 31 in Kolkata
        usage("kol", at("2026-01-31", 18, 30)),  # 00:00 on Feb 1 in Kolkata
        usage("kol", at("2026-02-14"), "text_messages", "2"),
        usage("kol", at("2026-02-28", 20)),  # Mar 1 in Kolkata
        usage("kol", at("2026-03-09"), "number_renewals", "1"),
    )
    return "kol"


def test_an_aligned_month_is_read_whole_in_the_accounts_zone(world: World, kolkata: str) -> None:
    report = account_usage(SERVICE, kolkata, {"from": "2026-02-01", "to": "2026-02-28", "group_by": "month"})
    assert rows_of(report) == {("2026-02", "call_minutes"): (1, CALL_3), ("2026-02", "text_messages"): (1, TEXT_2)}
    assert report["time_zone"] == "Asia/Kolkata" and report["currency"] == "USD"
    assert (report["start"], report["end"]) == ("2026-01-31T18:30:00.000000Z", "2026-02-28T18:30:00.000000Z")
    assert report["total_amount"] == "0.0533"
    assert [(t["category"], t["count"], t["quantity"], t["unit"]) for t in report["totals"]] == [
        ("call_minutes", 1, "3", "minute"),
        ("text_messages", 1, "2", "message"),
    ]
    assert report["amounts"] == "cost of usage, positive"


@pytest.mark.parametrize("group_by", list(GroupBy))
def test_an_unaligned_range_agrees_with_the_ledger_in_every_grouping(
    world: World, kolkata: str, group_by: GroupBy
) -> None:
    first, last = date(2026, 1, 20), date(2026, 3, 10)
    params = {"from": first.isoformat(), "to": last.isoformat(), "group_by": group_by.value}
    report = account_usage(SERVICE, kolkata, params)
    expected = ledger_rows(world, kolkata, "Asia/Kolkata", first, last, group_by)
    assert rows_of(report) == expected
    assert parse_micros(report["total_amount"]) == 3 * CALL_3 + TEXT_2 + RENEWAL  # Jan 10 is outside


def test_days_are_local_days(world: World, kolkata: str) -> None:
    report = account_usage(SERVICE, kolkata, {"from": "2026-01-31", "to": "2026-02-01", "group_by": "day"})
    assert rows_of(report) == {
        ("2026-01-31", "call_minutes"): (1, CALL_3),
        ("2026-02-01", "call_minutes"): (1, CALL_3),
    }


def test_a_category_narrows_the_report(world: World, kolkata: str) -> None:
    report = account_usage(
        SERVICE, kolkata, {"from": "2026-01-01", "to": "2026-03-31", "group_by": "total", "category": "text_messages"}
    )
    assert [(r["category"], r["count"]) for r in report["rows"]] == [("text_messages", 1)]
    assert report["total_amount"] == "0.0158"


def test_without_dates_the_report_is_this_month_to_date(world: World, kolkata: str) -> None:
    # The clock says 2026-03-15 12:00 UTC.
    report = account_usage(SERVICE, kolkata, {})
    assert (report["from"], report["to"], report["group_by"]) == ("2026-03-01", "2026-03-15", "total")
    assert rows_of(report) == {
        ("total", "call_minutes"): (1, CALL_3),  # Feb 28 20:00 UTC is Mar 1 in Kolkata
        ("total", "number_renewals"): (1, RENEWAL),
    }


@pytest.mark.parametrize(
    ("params", "mentions"),
    [
        ({"from": "2026-03-10", "to": "2026-03-01"}, "before"),
        ({"from": "10/03/2026"}, "date"),
        ({"group_by": "year"}, "group_by must be one of day, week, month, total"),
        ({"category": "recharge"}, "category must be one of"),
        ({"category": "nonsense"}, "category must be one of"),
    ],
)
def test_a_bad_query_is_a_400(world: World, kolkata: str, params: dict[str, str], mentions: str) -> None:
    with pytest.raises(BadRequest) as refused:
        account_usage(SERVICE, kolkata, params)
    assert mentions in refused.value.message


def test_another_accounts_users_cannot_read_it(world: World, kolkata: str) -> None:
    world.provision("stranger")
    with pytest.raises(NotFound):
        account_usage(viewer("stranger"), kolkata, {})
    assert account_usage(viewer(kolkata), kolkata, {})["account_id"] == kolkata


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    zone=st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata", "Australia/Adelaide"]),
    events=st.lists(
        st.tuples(
            st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 3, 15, 11), timezones=st.just(UTC)),
            st.sampled_from([("call_minutes", "3"), ("text_messages", "2"), ("number_renewals", "1")]),
        ),
        min_size=1,
        max_size=12,
    ),
    window=st.tuples(st.integers(0, 70), st.integers(0, 70)),
    group_by=st.sampled_from(list(GroupBy)),
)
def test_report_totals_are_the_sum_of_the_ledgers_entries(zone, events, window, group_by) -> None:
    world = World()
    with world.bound():
        world.provision("acct", time_zone=zone)
        world.record(*(usage("acct", when, category, quantity) for when, (category, quantity) in events))
        first = date(2026, 1, 1) + timedelta(days=min(window))
        last = date(2026, 1, 1) + timedelta(days=max(window))
        params = {"from": first.isoformat(), "to": last.isoformat(), "group_by": group_by.value}
        report = account_usage(SERVICE, "acct", params)
    assert rows_of(report) == ledger_rows(world, "acct", zone, first, last, group_by)
    in_range = [
        e
        for e in world.ledger.entries_of_account("acct")
        if first <= e.occurred_at.astimezone(ZoneInfo(zone)).date() <= last
    ]
    assert parse_micros(report["total_amount"]) == -sum(e.amount_micros for e in in_range)
    assert sum(t["count"] for t in report["totals"]) == len(in_range)


# -- an agency -----------------------------------------------------------------------------------------------


@pytest.fixture
def agency(world: World) -> str:
    """An agency (USD, New York) with shared and own-billing clients, one of them in EUR."""
    world.provision("ag", kind="agency", time_zone="America/New_York")
    world.provision("sub-zed", name="Zed Dental", agency_id="ag", billing="agency")
    world.provision("sub-acme", name="Acme Plumbing", agency_id="ag", time_zone="Europe/London")
    world.provision("sub-bolt", name="bolt cafe", agency_id="ag", billing="agency", time_zone="Asia/Kolkata")
    euro = world.provision("sub-euro", name="Euro Bistro", agency_id="ag", currency="EUR", time_zone="Europe/Paris")
    # No default EUR card: the client's own EUR prices (3 minutes: 0.033; a renewal: 0.90).
    world.accounts.save_rates(
        replace(
            euro,
            rate_overrides={
                "EUR": {
                    Category.CALL_MINUTES: Rate(Category.CALL_MINUTES, "minute", 11_000),
                    Category.NUMBER_RENEWALS: Rate(Category.NUMBER_RENEWALS, "number", 900_000),
                }
            },
        )
    )
    day = at("2026-02-10")
    world.record(
        recharge("ag", at("2026-02-01"), "50"),
        usage("ag", day),
        *(usage("sub-zed", day) for _ in range(3)),
        *(usage("sub-acme", day) for _ in range(2)),
        usage("sub-acme", day, "text_messages", "2"),
        usage("sub-bolt", day, "number_renewals", "1"),
        usage("sub-euro", day, "number_renewals", "1"),
        usage("sub-euro", day),
        # the month before, for the dashboard's comparison
        usage("sub-zed", at("2026-01-12")),
        usage("sub-acme", at("2026-01-12"), "number_renewals", "1"),
    )
    return "ag"


FEB = {"from": "2026-02-01", "to": "2026-02-28"}


def test_agency_usage_lists_the_agency_first_then_its_clients_by_name(world: World, agency: str) -> None:
    report = agency_usage(SERVICE, agency, FEB)
    assert [b["account_id"] for b in report["accounts"]] == ["ag", "sub-acme", "sub-bolt", "sub-euro", "sub-zed"]
    blocks = {b["account_id"]: b for b in report["accounts"]}
    assert blocks["sub-acme"]["total_amount"] == "0.0908"  # 2 calls + 2 texts
    assert blocks["sub-bolt"]["billing"] == "agency" and blocks["sub-acme"]["billing"] == "own"
    assert blocks["sub-euro"]["currency"] == "EUR"
    assert (report["matched"], report["next_cursor"], report["sort"], report["q"]) == (5, None, "name", None)


def test_agency_totals_are_per_currency_and_never_add_two_currencies(world: World, agency: str) -> None:
    report = agency_usage(SERVICE, agency, FEB)
    usd, eur = report["totals_by_currency"]
    assert report["totals"] == usd
    assert (usd["currency"], usd["accounts"], eur["currency"], eur["accounts"]) == ("USD", 4, "EUR", 1)
    assert usd["total_amount"] == "1.2408"  # 6 calls, 2 texts, 1 renewal
    assert eur["total_amount"] == "0.933" == format_eur(world)
    blocks = {b["account_id"]: b for b in report["accounts"]}
    assert parse_micros(usd["total_amount"]) == sum(
        parse_micros(b["total_amount"]) for b in blocks.values() if b["currency"] == "USD"
    )
    assert [(c["category"], c["count"]) for c in usd["by_category"]] == [
        ("call_minutes", 6),
        ("number_renewals", 1),
        ("text_messages", 1),
    ]


def format_eur(world: World) -> str:
    """What the EUR client's February cost, from its own ledger entries."""
    return format_micros(-sum(e.amount_micros for e in world.ledger.entries_of_account("sub-euro")))


def test_agency_usage_pages_by_name_with_a_cursor(world: World, agency: str) -> None:
    seen: list[str] = []
    params: dict[str, str] = {**FEB, "limit": "2"}
    pages = 0
    while True:
        report = agency_usage(SERVICE, agency, params)
        pages += 1
        assert len(report["accounts"]) <= 2 and report["matched"] == 5 and report["limit"] == 2
        seen += [b["account_id"] for b in report["accounts"]]
        # Totals always cover every account, whatever the page.
        assert report["totals"]["total_amount"] == "1.2408"
        if report["next_cursor"] is None:
            break
        params = {**params, "cursor": report["next_cursor"]}
    assert pages == 3
    assert seen == ["ag", "sub-acme", "sub-bolt", "sub-euro", "sub-zed"]


def test_agency_usage_sorted_by_cost_puts_the_agencys_currency_first(world: World, agency: str) -> None:
    report = agency_usage(SERVICE, agency, {**FEB, "sort": "cost"})
    # USD by cost, highest first (bolt's renewal, then zed's 3 calls, acme, the agency), then EUR.
    assert [b["account_id"] for b in report["accounts"]] == ["sub-bolt", "sub-zed", "sub-acme", "ag", "sub-euro"]


def test_q_finds_accounts_by_name_or_id_ignoring_case(world: World, agency: str) -> None:
    by_name = agency_usage(SERVICE, agency, {**FEB, "q": "  BOLT "})
    assert [b["account_id"] for b in by_name["accounts"]] == ["sub-bolt"]
    assert (by_name["q"], by_name["matched"]) == ("BOLT", 1)
    assert by_name["totals"]["total_amount"] == "1.2408"  # the totals are not narrowed
    by_id = agency_usage(SERVICE, agency, {**FEB, "q": "sub-"})
    assert by_id["matched"] == 4
    assert agency_usage(SERVICE, agency, {**FEB, "q": "nobody"})["accounts"] == []


def test_every_account_gives_all_blocks_on_one_page(world: World, agency: str) -> None:
    report = agency_usage(SERVICE, agency, {**FEB, "limit": "1"}, every_account=True)
    assert len(report["accounts"]) == 5 and report["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "mentions"),
    [
        ({"limit": "0"}, "limit must be a whole number from 1 to 500"),
        ({"limit": "501"}, "limit must be a whole number from 1 to 500"),
        ({"limit": "²"}, "limit must be a whole number from 1 to 500"),
        ({"sort": "size"}, "sort must be cost or name"),
        ({"q": "x" * 101}, "q must be printable text of at most 100 characters"),
        ({"q": "a\x00b"}, "q must be printable text"),
        ({"cursor": "garbage"}, "cursor is not valid"),
    ],
)
def test_a_bad_list_query_is_a_400(world: World, agency: str, params: dict[str, str], mentions: str) -> None:
    with pytest.raises(BadRequest) as refused:
        agency_usage(SERVICE, agency, {**FEB, **params})
    assert mentions in refused.value.message


def test_a_cursor_of_another_listing_is_a_400(world: World, agency: str) -> None:
    first = agency_usage(SERVICE, agency, {**FEB, "limit": "2"})
    with pytest.raises(BadRequest, match="another query"):
        agency_usage(SERVICE, agency, {**FEB, "limit": "2", "q": "sub", "cursor": first["next_cursor"]})
    with pytest.raises(BadRequest, match="another query"):  # another range
        agency_usage(SERVICE, agency, {"from": "2026-01-01", "to": "2026-01-31", "cursor": first["next_cursor"]})
    with pytest.raises(BadRequest, match="another query"):  # the dashboard's cursor
        dashboard = agency_dashboard(SERVICE, agency, {**FEB, "limit": "2"})
        agency_usage(SERVICE, agency, {**FEB, "sort": "cost", "cursor": dashboard["next_cursor"]})


def test_a_signed_cursor_without_a_position_is_a_400(world: World, agency: str) -> None:
    key = {"from": date(2026, 2, 1), "to": date(2026, 2, 28), "group_by": GroupBy.TOTAL}
    cursor = next_cursor(
        "agency-usage:ag", {**key, "categories": sorted(USAGE_CATEGORIES), "sort": "name", "q": ""}, {"before": "x"}
    )
    assert cursor is not None
    with pytest.raises(BadRequest, match="cursor: not a cursor of this list"):
        agency_usage(SERVICE, agency, {**FEB, "cursor": cursor})


def test_only_the_agencys_own_users_read_agency_reports(world: World, agency: str) -> None:
    assert agency_usage(viewer("ag"), agency, FEB)["agency_id"] == "ag"
    with pytest.raises(NotFound):
        agency_usage(viewer("sub-zed"), agency, FEB)
    with pytest.raises(NotFound):
        agency_dashboard(SERVICE, "sub-zed", FEB)  # not an agency
    with pytest.raises(NotFound):
        agency_account_list(admin("sub-acme"), agency, {})


def test_the_dashboard_ranks_by_cost_and_compares_with_the_previous_month(world: World, agency: str) -> None:
    dashboard = agency_dashboard(SERVICE, agency, FEB)
    assert (dashboard["compared_with"], dashboard["previous_from"], dashboard["previous_to"]) == (
        "previous month",
        "2026-01-01",
        "2026-01-31",
    )
    rows = {r["account_id"]: r for r in dashboard["accounts"]}
    assert [r["account_id"] for r in dashboard["accounts"]] == ["sub-bolt", "sub-zed", "sub-acme", "ag", "sub-euro"]
    zed = rows["sub-zed"]
    assert (zed["calls"], zed["minutes"], zed["cost"], zed["previous_cost"]) == (3, "9", "0.1125", "0.0375")
    assert zed["change_percent"] == "200.00"
    assert zed["share_percent"] == "9.07"  # of the USD total 1.2408
    assert (rows["sub-acme"]["texts"], rows["sub-bolt"]["numbers_renewed"]) == ("2", "1")
    # Shared clients show the agency's balance (50 - 5 calls - a renewal); own-billing ones their own.
    assert zed["billing_account_id"] == "ag" and zed["balance"] == rows["ag"]["balance"] == "48.8125"
    assert rows["sub-acme"]["balance"] == "-1.0908" and rows["sub-acme"]["status"] == "past_due"
    assert rows["ag"]["status"] == "ok"
    usd, eur = dashboard["totals_by_currency"]
    assert (usd["cost"], usd["previous_cost"], usd["calls"], usd["accounts"]) == ("1.2408", "1.0375", 6, 4)
    assert eur["currency"] == "EUR" and eur["accounts"] == 1 and eur["previous_cost"] == "0.00"
    assert eur["change_percent"] is None  # nothing to compare with


@pytest.mark.parametrize(
    ("period", "label", "previous"),
    [
        ({}, "same days of the previous month", ("2026-02-01", "2026-02-15")),  # month to date (Mar 15)
        ({"from": "2026-03-09", "to": "2026-03-15"}, "previous week", ("2026-03-02", "2026-03-08")),
        ({"from": "2026-03-10", "to": "2026-03-12"}, "previous 3 days", ("2026-03-07", "2026-03-09")),
        ({"from": "2026-01-01", "to": "2026-03-31"}, "previous quarter", ("2025-10-01", "2025-12-31")),
    ],
)
def test_the_dashboard_says_what_it_compares_with(
    world: World, agency: str, period: dict[str, str], label: str, previous: tuple[str, str]
) -> None:
    dashboard = agency_dashboard(SERVICE, agency, period)
    assert dashboard["compared_with"] == label
    assert (dashboard["previous_from"], dashboard["previous_to"]) == previous


def test_the_dashboard_pages_by_name(world: World, agency: str) -> None:
    first = agency_dashboard(SERVICE, agency, {**FEB, "sort": "name", "limit": "3"})
    assert [r["account_id"] for r in first["accounts"]] == ["ag", "sub-acme", "sub-bolt"]
    second = agency_dashboard(SERVICE, agency, {**FEB, "sort": "name", "limit": "3", "cursor": first["next_cursor"]})
    assert [r["account_id"] for r in second["accounts"]] == ["sub-euro", "sub-zed"]
    assert second["next_cursor"] is None and second["matched"] == 5


def test_the_account_list_pages_and_finds(world: World, agency: str) -> None:
    listed = agency_account_list(viewer("ag"), agency, {"limit": "4"})
    assert [i["account_id"] for i in listed["items"]] == ["ag", "sub-acme", "sub-bolt", "sub-euro"]
    assert listed["total"] == 5 and listed["items"][1]["name"] == "Acme Plumbing"
    rest = agency_account_list(viewer("ag"), agency, {"limit": "4", "cursor": listed["next_cursor"]})
    assert [i["account_id"] for i in rest["items"]] == ["sub-zed"] and rest["next_cursor"] is None
    found = agency_account_list(viewer("ag"), agency, {"q": "dental"})
    assert [i["account_id"] for i in found["items"]] == ["sub-zed"] and found["matched"] == 1
    with pytest.raises(BadRequest, match="sort must be name"):
        agency_account_list(viewer("ag"), agency, {"sort": "cost"})


def test_the_csv_has_a_row_per_account_period_and_category(world: World, agency: str) -> None:
    report = agency_usage(SERVICE, agency, {**FEB, "group_by": "month"}, every_account=True)
    rows = list(csv.DictReader(io.StringIO(usage_csv(report))))
    assert {(r["account_id"], r["category"], r["count"], r["currency"]) for r in rows} == {
        ("ag", "call_minutes", "1", "USD"),
        ("sub-acme", "call_minutes", "2", "USD"),
        ("sub-acme", "text_messages", "1", "USD"),
        ("sub-bolt", "number_renewals", "1", "USD"),
        ("sub-euro", "call_minutes", "1", "EUR"),
        ("sub-euro", "number_renewals", "1", "EUR"),
        ("sub-zed", "call_minutes", "3", "USD"),
    }
    assert all(r["period"] == "2026-02" for r in rows)
    single = usage_csv(account_usage(SERVICE, "sub-zed", {**FEB, "group_by": "day"}))
    assert single.splitlines()[1].startswith("sub-zed,Zed Dental,agency,UTC,2026-02-10,")


def test_spend_over_the_last_days_of_an_account(world: World) -> None:
    world.provision("solo", time_zone="America/New_York")
    world.record(
        usage("solo", at("2026-03-14", 15)),  # yesterday in New York
        usage("solo", at("2026-03-08", 15), "number_renewals", "1"),  # 7 days ago
        usage("solo", at("2026-03-07", 15), "number_renewals", "1"),  # 8 days ago: outside
        usage("solo", at("2026-03-15", 11)),  # today (07:00 in New York): incomplete
    )
    solo = world.accounts.get("solo")
    assert solo is not None
    assert spend_over_last_days(solo, 7) == CALL_3 + RENEWAL
    assert spend_over_last_days(solo, 1) == CALL_3


def test_spend_over_the_last_days_of_an_agency_counts_what_its_balance_pays(world: World, agency: str) -> None:
    world.record(
        usage("ag", at("2026-03-14")),
        usage("sub-zed", at("2026-03-14")),
        usage("sub-bolt", at("2026-03-14", 19)),  # Mar 15 in Kolkata: today there, not counted
        usage("sub-acme", at("2026-03-14"), "number_renewals", "1"),  # its own balance pays
    )
    ag = world.accounts.get("ag")
    assert ag is not None
    assert spend_over_last_days(ag, 3) == 2 * CALL_3
