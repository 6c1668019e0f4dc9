"""HTTP: Account Usage, Agency Usage, the Agency Dashboard and the balance's runway."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from chalice.test import Client

from tests.integration.http_helpers import (
    admin,
    agency_with_subs,
    assert_error,
    charge,
    credit,
    make_client,
    ok_json,
    send,
    service,
    usage_event,
    viewer,
)


@pytest.fixture(scope="module")
def client(aws: Any) -> Client:
    return make_client()


@pytest.fixture(scope="module")
def agency(client: Client) -> tuple[str, str, str]:
    ids = agency_with_subs(client, time_zone="America/New_York")
    agency_id, shared, own = ids
    charge(
        [credit(agency_id, "50.00"), credit(own, "20.00")]
        + [usage_event(shared, occurred_at="2026-10-05T15:00:00Z") for _ in range(4)]
        + [usage_event(own, "text_messages", "5", occurred_at="2026-10-31T03:59:59Z")]  # Oct 30, 23:59 in New York
        + [usage_event(own, "text_messages", "1", occurred_at="2026-11-01T04:00:00Z")]  # Nov 1, 00:00
    )
    return ids


def test_account_usage_by_month_states_its_zone_and_instants(client, agency):
    _, _, own = agency
    body = ok_json(
        send(client, "GET", f"/accounts/{own}/usage?from=2026-10-01&to=2026-11-30&group_by=month", viewer(own))
    )
    assert body["time_zone"] == "America/New_York"
    assert (body["start"], body["end"]) == ("2026-10-01T04:00:00.000000Z", "2026-12-01T05:00:00.000000Z")
    assert [(r["period"], r["category"], r["count"], r["quantity"], r["unit"], r["amount"]) for r in body["rows"]] == [
        ("2026-10", "text_messages", 1, "5", "message", "0.0395"),
        ("2026-11", "text_messages", 1, "1", "message", "0.0079"),
    ]
    assert body["total_amount"] == "0.0474"


def test_weeks_start_on_monday(client, agency):
    _, _, own = agency
    body = ok_json(
        send(client, "GET", f"/accounts/{own}/usage?from=2026-10-26&to=2026-11-08&group_by=week", viewer(own))
    )
    assert [(r["period"], r["period_start"], r["period_end"], r["count"]) for r in body["rows"]] == [
        ("2026-10-26", "2026-10-26", "2026-11-01", 2)
    ]


def test_agency_usage_blocks_and_csv(client, agency):
    agency_id, shared, own = agency
    path = f"/agencies/{agency_id}/usage?from=2026-10-01&to=2026-10-31"
    body = ok_json(send(client, "GET", path, viewer(agency_id)))
    blocks = {b["account_id"]: b for b in body["accounts"]}
    assert blocks[shared]["billing"] == "agency" and blocks[shared]["total_amount"] == "0.15"
    assert blocks[own]["billing"] == "own" and blocks[own]["total_amount"] == "0.0395"
    assert body["totals"]["total_amount"] == "0.1895"
    response = send(client, "GET", path + "&format=csv&group_by=month", viewer(agency_id))
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.body.decode())))
    assert sorted((r["account_id"], r["period"], r["category"], r["amount"]) for r in rows) == sorted(
        [(shared, "2026-10", "call_minutes", "0.15"), (own, "2026-10", "text_messages", "0.0395")]
    )


def test_dashboard_ranks_sub_accounts_by_cost(client, agency):
    agency_id, shared, own = agency
    body = ok_json(
        send(client, "GET", f"/agencies/{agency_id}/dashboard?from=2026-10-01&to=2026-10-31", admin(agency_id))
    )
    assert [r["account_id"] for r in body["accounts"]][:2] == [shared, own]
    top = body["accounts"][0]
    assert (top["calls"], top["minutes"], top["cost"], top["share_percent"]) == (4, "12", "0.15", "79.16")
    assert top["balance"] == "49.85" and top["billing_account_id"] == agency_id
    # October is compared with September, the whole previous calendar month (not Sep 1 - 30 shifted).
    assert (body["previous_from"], body["previous_to"], body["compared_with"]) == (
        "2026-09-01",
        "2026-09-30",
        "previous month",
    )
    assert top["change_percent"] is None  # nothing the period before


def test_balance_says_runway(client, agency):
    _, _, own = agency
    body = ok_json(send(client, "GET", f"/accounts/{own}/balance", viewer(own)))
    assert {"average_daily_spend", "runway_days"} <= set(body)


DATE_ERRORS = [
    ("from=2026-11-30&to=2026-11-01", "before"),
    ("from=2026-02-30", "YYYY-MM-DD"),
    ("from=yesterday", "YYYY-MM-DD"),
    ("from=2020-01-01&to=2026-01-02", "5 years"),
]
GROUPING_ERRORS = [
    ("group_by=year", "group_by"),
    ("category=recharge", "category"),
    ("category=pizza", "category"),
    ("format=xml", "format"),
]
CASES = [
    (scope, query, mentions)
    for scope in ("account", "agency", "dashboard")
    for query, mentions in DATE_ERRORS + (GROUPING_ERRORS if scope != "dashboard" else [])
]


@pytest.mark.parametrize(("scope", "query", "mentions"), CASES)
def test_bad_report_queries_are_400(client, agency, scope, query, mentions):
    agency_id, _, own = agency
    path = {
        "account": f"/accounts/{own}/usage",
        "agency": f"/agencies/{agency_id}/usage",
        "dashboard": f"/agencies/{agency_id}/dashboard",
    }[scope]
    assert_error(send(client, "GET", f"{path}?{query}", service()), 400, "bad_request", mentions=mentions)
