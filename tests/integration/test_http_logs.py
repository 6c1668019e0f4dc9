"""HTTP: GET /accounts/{id}/logs and GET /agencies/{id}/logs (JSON pages and CSV)."""

from __future__ import annotations

import csv
import functools
import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from chalice.test import Client

from chalicelib.domain.money import format_micros
from tests.integration.http_helpers import (
    Headers,
    admin,
    agency_with_subs,
    all_pages,
    assert_error,
    charge,
    credit,
    make_client,
    ok_json,
    provision,
    send,
    service,
    usage_event,
    viewer,
)

ROW_KEYS = {
    "id",
    "account_id",
    "account_name",
    "billing_account_id",
    "category",
    "description",
    "quantity",
    "unit",
    "unit_price",
    "amount",
    "balance_after",
    "currency",
    "occurred_at",
    "posted_at",
    "event_id",
    "billing_account_name",
    "metadata",
    "time_zone",
    "occurred_at_local",
    "posted_at_local",
}
CSV_HEADER = [
    "id",
    "account_id",
    "account_name",
    "billing_account_id",
    "category",
    "description",
    "quantity",
    "unit",
    "unit_price",
    "amount",
    "balance_after",
    "currency",
    "occurred_at",
    "posted_at",
    "event_id",
    # Added with occurred times, metadata and whose balance: after the first columns, which keep their places.
    "billing_account_name",
    "time_zone",
    "occurred_at_local",
    "posted_at_local",
    "metadata",
]


@pytest.fixture(scope="module")
def client(aws: Any) -> Client:
    return make_client()


def get(client: Client, path: str, headers: Headers) -> dict[str, Any]:
    body: dict[str, Any] = ok_json(send(client, "GET", path, headers))
    return body


def csv_rows(client: Client, path: str, headers: Headers) -> tuple[list[str], list[dict[str, str]]]:
    response = send(client, "GET", path, headers)
    assert response.status_code == 200, response.body
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    reader = csv.reader(io.StringIO(response.body.decode("utf-8"), newline=""))
    lines = list(reader)
    header, data = lines[0], lines[1:]
    return header, [dict(zip(header, line, strict=True)) for line in data]


def local_date(posted_at: str, zone: str) -> date:
    return datetime.strptime(posted_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).astimezone(ZoneInfo(zone)).date()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- a populated account -----------------------------------------------------------------
@pytest.fixture(scope="module")
def busy(client: Client) -> dict[str, Any]:
    """An account with 26 entries of several categories, charged in two batches."""
    zone = "America/Los_Angeles"
    account_id = provision(client, name="Busy Bees", time_zone=zone)
    first = [credit(account_id, "100.00", event_id=f"{account_id}-rc")] + [
        usage_event(account_id, "call_minutes", str(i % 5 + 1), event_id=f"{account_id}-call-{i:02d}")
        for i in range(15)
    ]
    second = [usage_event(account_id, "text_messages", "1", event_id=f"{account_id}-sms-{i:02d}") for i in range(8)] + [
        usage_event(account_id, "number_renewals", "2", event_id=f"{account_id}-num"),
        usage_event(
            account_id, "adjustment", "1", amount="-0.50", description='=HYPERLINK("x")', event_id=f"{account_id}-adj"
        ),
    ]
    charge(first)
    charge(second)
    return {"id": account_id, "zone": zone, "count": 26}


def test_rows_are_exact_and_newest_first(client: Client, busy: dict[str, Any]) -> None:
    account_id = busy["id"]
    body = get(client, f"/accounts/{account_id}/logs?limit=500", viewer(account_id))
    assert set(body) == {"items", "next_cursor", "time_zone"}
    assert body["time_zone"] == "America/Los_Angeles"
    assert body["next_cursor"] is None
    rows = body["items"]
    assert len(rows) == busy["count"]
    for r in rows:
        assert set(r) == ROW_KEYS
        assert (r["account_id"], r["account_name"], r["billing_account_id"], r["currency"]) == (
            account_id,
            "Busy Bees",
            account_id,
            "USD",
        )
    # Newest first: the running balance read backwards is the chain of amounts.
    posted = [r["posted_at"] for r in rows]
    assert posted == sorted(posted, reverse=True)
    running = Decimal(0)
    for r in reversed(rows):
        running += Decimal(r["amount"])
        assert Decimal(r["balance_after"]) == running, r
    recharge = rows[-1]
    assert (
        recharge["category"],
        recharge["amount"],
        recharge["balance_after"],
        recharge["unit"],
        recharge["unit_price"],
    ) == (
        "recharge",
        "100.00",
        "100.00",
        "item",
        None,
    )
    call = rows[-2]  # 1 minute
    assert (
        call["category"],
        call["quantity"],
        call["unit"],
        call["unit_price"],
        call["amount"],
        call["balance_after"],
    ) == (
        "call_minutes",
        "1",
        "minute",
        "0.0125",
        "-0.0125",
        "99.9875",
    )
    assert call["description"] == "1 call minute(s)"
    assert call["occurred_at"] == "2026-01-15T09:00:00.000000Z"
    assert call["event_id"] == f"{account_id}-call-00"
    assert call["id"].startswith("le_")
    # 15 calls of 1..5 minutes (3 rounds) = 45 minutes = 0.5625; 8 texts = 0.0632; 2 numbers = 2.00; -0.50.
    assert rows[0]["category"] == "adjustment"
    assert rows[0]["amount"] == "-0.50"
    assert rows[0]["balance_after"] == "96.8743"


@pytest.mark.parametrize("limit", [1, 4, 7, 25, 26, 27])
def test_cursor_walks_every_row_once_newest_first(client: Client, busy: dict[str, Any], limit: int) -> None:
    account_id = busy["id"]
    everything = get(client, f"/accounts/{account_id}/logs?limit=500", viewer(account_id))["items"]
    rows, pages = all_pages(client, f"/accounts/{account_id}/logs", viewer(account_id), limit)
    assert [r["id"] for r in rows] == [r["id"] for r in everything]
    assert len({r["id"] for r in rows}) == busy["count"]
    assert pages == -(-busy["count"] // limit)


def test_default_limit_is_50(client: Client) -> None:
    account_id = provision(client)
    charge([usage_event(account_id, "text_messages", "1", event_id=f"{account_id}-{i}") for i in range(51)])
    body = get(client, f"/accounts/{account_id}/logs", viewer(account_id))
    assert len(body["items"]) == 50
    assert body["next_cursor"]
    rest = get(client, f"/accounts/{account_id}/logs?cursor={body['next_cursor']}", viewer(account_id))
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None
    assert rest["items"][0]["event_id"] == f"{account_id}-0"


@pytest.mark.parametrize("limit", [1, 3, 500])
def test_category_filter_pages_through_only_that_category(client: Client, busy: dict[str, Any], limit: int) -> None:
    account_id = busy["id"]
    rows, _ = all_pages(client, f"/accounts/{account_id}/logs?category=text_messages", viewer(account_id), limit)
    assert [r["event_id"] for r in rows] == [f"{account_id}-sms-{i:02d}" for i in reversed(range(8))]
    assert {r["amount"] for r in rows} == {"-0.0079"}


def test_a_tampered_cursor_is_400(client: Client, busy: dict[str, Any]) -> None:
    account_id = busy["id"]
    cursor = get(client, f"/accounts/{account_id}/logs?limit=2", viewer(account_id))["next_cursor"]
    assert cursor
    flipped = cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:]
    for bad in (flipped, cursor[:-2], cursor + "AA", "not-a-cursor", "", "%E2%82%AC"):
        if bad == "":
            continue
        response = send(client, "GET", f"/accounts/{account_id}/logs?limit=2&cursor={bad}", viewer(account_id))
        assert_error(response, 400, "bad_request", mentions="cursor")


def test_a_cursor_is_bound_to_its_account_and_query(client: Client, busy: dict[str, Any]) -> None:
    account_id = busy["id"]
    other = provision(client, time_zone=busy["zone"])
    charge([usage_event(other, event_id=f"{other}-{i}") for i in range(3)])
    today = local_date(
        get(client, f"/accounts/{account_id}/logs?limit=1", viewer(account_id))["items"][0]["posted_at"], busy["zone"]
    )

    def day(offset: int) -> date:
        return today + timedelta(days=offset)

    base = f"from={day(-1)}&to={day(1)}"
    cursor = get(client, f"/accounts/{account_id}/logs?limit=2&{base}", service())["next_cursor"]
    assert cursor
    # The same query resumes.
    assert get(client, f"/accounts/{account_id}/logs?limit=2&{base}&cursor={cursor}", service())["items"]
    refused = [
        f"/accounts/{other}/logs?limit=2&{base}&cursor={cursor}",  # another account
        f"/accounts/{account_id}/logs?limit=2&cursor={cursor}",  # no date filter
        f"/accounts/{account_id}/logs?limit=2&from={day(-2)}&to={day(1)}&cursor={cursor}",  # another from
        f"/accounts/{account_id}/logs?limit=2&from={day(-1)}&to={day(2)}&cursor={cursor}",  # another to
        f"/accounts/{account_id}/logs?limit=2&{base}&category=call_minutes&cursor={cursor}",  # another category
        f"/agencies/{account_id}/logs?limit=2&{base}&cursor={cursor}",  # not an agency: 404 before the cursor
    ]
    for path in refused[:-1]:
        assert_error(send(client, "GET", path, service()), 400, "bad_request", mentions="cursor")
    assert_error(send(client, "GET", refused[-1], service()), 404)


def test_from_to_are_local_dates_of_the_account(client: Client, busy: dict[str, Any]) -> None:
    account_id, zone = busy["id"], busy["zone"]
    rows = get(client, f"/accounts/{account_id}/logs?limit=500", viewer(account_id))["items"]
    days = {local_date(r["posted_at"], zone) for r in rows}
    assert len(days) == 1
    (today,) = days

    def count(query: str) -> int:
        found, _ = all_pages(client, f"/accounts/{account_id}/logs?{query}", viewer(account_id), 500)
        return len(found)

    assert count(f"from={today}&to={today}") == busy["count"]
    assert count(f"from={today}") == busy["count"]
    assert count(f"to={today}") == busy["count"]
    assert count(f"from={today + timedelta(days=1)}") == 0
    assert count(f"to={today - timedelta(days=1)}") == 0
    assert count("from=2020-01-01&to=2020-12-31") == 0
    assert count(f"from={today}&to={today}&category=number_renewals") == 1


def test_local_midnight_boundaries_across_dst(client: Client) -> None:
    """Entries posted either side of local midnight land on the right local date, DST days included."""
    zone = "America/Santiago"
    account_id = provision(client, time_zone=zone)
    posted_times = [
        "2026-04-05T02:59:59.999999Z",  # Apr 4, 23:59:59.999999 -03 (before the clocks go back)
        "2026-04-05T03:30:00.000000Z",  # Apr 4, 23:30 -04 (the repeated hour: still Apr 4)
        "2026-04-05T04:00:00.000000Z",  # Apr 5, 00:00 -04
        "2026-09-06T03:59:59.999999Z",  # Sep 5, 23:59:59.999999 -04
        "2026-09-06T04:00:00.000000Z",  # Sep 6, 01:00 -03 (midnight does not exist that day)
    ]
    for i, posted in enumerate(posted_times):
        event = usage_event(account_id, "text_messages", "1", event_id=f"{account_id}-{i}", occurred_at=posted)
        charge([event], clock=functools.partial(at, posted))

    def ids(query: str) -> list[str]:
        rows = get(client, f"/accounts/{account_id}/logs?{query}", viewer(account_id))["items"]
        return [r["event_id"].rsplit("-", 1)[1] for r in rows]

    assert ids("from=2026-04-04&to=2026-04-04") == ["1", "0"]
    assert ids("from=2026-04-05&to=2026-04-05") == ["2"]
    assert ids("from=2026-09-05&to=2026-09-05") == ["3"]
    assert ids("from=2026-09-06&to=2026-09-06") == ["4"]
    assert ids("from=2026-09-05&to=2026-09-06") == ["4", "3"]
    assert ids("from=2026-04-05&to=2026-09-05") == ["3", "2"]
    assert ids("to=2026-04-04") == ["1", "0"]
    assert ids("from=2026-09-06") == ["4"]
    assert ids("") == ["4", "3", "2", "1", "0"]
    body = get(client, f"/accounts/{account_id}/logs?from=2026-04-04&to=2026-04-04", viewer(account_id))
    assert body["time_zone"] == zone
    # The same dates in CSV.
    _, rows = csv_rows(
        client, f"/accounts/{account_id}/logs?format=csv&from=2026-04-04&to=2026-04-04", viewer(account_id)
    )
    assert [r["event_id"].rsplit("-", 1)[1] for r in rows] == ["1", "0"]


# -- CSV --------------------------------------------------------------------------------
def test_csv_has_a_header_and_every_row(client: Client, busy: dict[str, Any]) -> None:
    account_id = busy["id"]
    header, rows = csv_rows(client, f"/accounts/{account_id}/logs?format=csv", viewer(account_id))
    assert header == CSV_HEADER
    json_rows = get(client, f"/accounts/{account_id}/logs?limit=500", viewer(account_id))["items"]
    assert len(rows) == busy["count"]
    for csv_row, json_row in zip(rows, json_rows, strict=True):
        expected = {k: "" if v is None else str(v) for k, v in json_row.items()}
        # Metadata as compact JSON (empty when the producer sent none).
        expected["metadata"] = (
            json.dumps(json_row["metadata"], ensure_ascii=False, sort_keys=True) if json_row["metadata"] else ""
        )
        if csv_row["category"] == "adjustment":
            # A description a spreadsheet would run as a formula is neutralised.
            assert csv_row["description"] == "'" + json_row["description"]
            expected["description"] = csv_row["description"]
        assert csv_row == expected
    # Negative amounts are numbers, not formulas: left alone.
    assert rows[0]["amount"] == "-0.50"
    # The filters apply; a cursor and a limit do not cut a CSV short.
    _, calls = csv_rows(
        client, f"/accounts/{account_id}/logs?format=csv&category=call_minutes&limit=1", viewer(account_id)
    )
    assert len(calls) == 15
    header, none = csv_rows(
        client, f"/accounts/{account_id}/logs?format=csv&from=2020-01-01&to=2020-01-31", viewer(account_id)
    )
    assert (header, none) == (CSV_HEADER, [])


def test_csv_of_more_than_one_page(client: Client) -> None:
    account_id = provision(client)
    charge([usage_event(account_id, "text_messages", "1", event_id=f"{account_id}-{i:04d}") for i in range(520)])
    _, rows = csv_rows(client, f"/accounts/{account_id}/logs?format=csv", viewer(account_id))
    assert [r["event_id"] for r in rows] == [f"{account_id}-{i:04d}" for i in reversed(range(520))]
    assert rows[0]["balance_after"] == "-4.108"
    json_rows, pages = all_pages(client, f"/accounts/{account_id}/logs", viewer(account_id), 500)
    assert (len(json_rows), pages) == (520, 2)


# -- agency logs ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def family(client: Client) -> dict[str, str]:
    zone = "Asia/Kolkata"
    agency, shared, own = agency_with_subs(client, time_zone=zone)
    outsider = provision(client, time_zone=zone)
    instant = datetime.now(UTC)
    # One batch at one instant: the agency's and the own-balance sub-account's entries
    # then have equal posted keys (same time, same seq) in the agency index.
    charge(
        [
            credit(agency, "40.00", event_id=f"{agency}-rc"),
            credit(own, "5.00", event_id=f"{own}-rc"),
            usage_event(shared, "call_minutes", "2", event_id=f"{shared}-call"),
            usage_event(own, "call_minutes", "2", event_id=f"{own}-call"),
            usage_event(agency, "subscription_fees", "1", amount="30.00", event_id=f"{agency}-sub"),
            usage_event(shared, "text_messages", "3", event_id=f"{shared}-sms"),
            credit(outsider, "1.00", event_id=f"{outsider}-rc"),
        ],
        clock=lambda: instant,
    )
    return {"agency": agency, "shared": shared, "own": own, "outsider": outsider, "zone": zone}


def test_agency_logs_cover_the_agency_and_every_sub_account(client: Client, family: dict[str, str]) -> None:
    agency, shared, own = family["agency"], family["shared"], family["own"]
    body = get(client, f"/agencies/{agency}/logs", viewer(agency))
    assert body["time_zone"] == family["zone"]
    assert body["next_cursor"] is None
    got = sorted(
        (r["event_id"], r["account_id"], r["account_name"], r["billing_account_id"], r["amount"]) for r in body["items"]
    )
    assert got == sorted(
        [
            (f"{agency}-rc", agency, f"Account {agency}", agency, "40.00"),
            (f"{agency}-sub", agency, f"Account {agency}", agency, "-30.00"),
            (f"{shared}-call", shared, f"Account {shared}", agency, "-0.025"),
            (f"{shared}-sms", shared, f"Account {shared}", agency, "-0.0237"),
            (f"{own}-rc", own, f"Account {own}", own, "5.00"),
            (f"{own}-call", own, f"Account {own}", own, "-0.025"),
        ]
    )
    for r in body["items"]:
        assert set(r) == ROW_KEYS
    # Each billing account's chain: events posted together are listed account by account
    # (each account's in the order the batch listed them), one Logs page per account.
    chains: dict[str, list[tuple[str, str]]] = {}
    for r in reversed(body["items"]):
        chains.setdefault(r["billing_account_id"], []).append((r["event_id"], r["balance_after"]))
    first, second = sorted([agency, shared])
    by_account = {
        agency: [(f"{agency}-rc", "40.00"), (f"{agency}-sub", "-30.00")],
        shared: [(f"{shared}-call", "-0.025"), (f"{shared}-sms", "-0.0237")],
    }
    running, expected = 0, []
    for event_id, amount in by_account[first] + by_account[second]:
        running += int(Decimal(amount) * 1_000_000)
        expected.append((event_id, format_micros(running)))
    assert chains == {
        agency: expected,
        own: [(f"{own}-rc", "5.00"), (f"{own}-call", "4.975")],
    }


@pytest.mark.parametrize("limit", [1, 2, 5])
def test_agency_cursor_walks_every_row_once(client: Client, family: dict[str, str], limit: int) -> None:
    agency = family["agency"]
    everything = get(client, f"/agencies/{agency}/logs", viewer(agency))["items"]
    rows, _ = all_pages(client, f"/agencies/{agency}/logs", viewer(agency), limit)
    assert [r["id"] for r in rows] == [r["id"] for r in everything]
    assert len({r["id"] for r in rows}) == 6


def test_agency_logs_filters_and_csv(client: Client, family: dict[str, str]) -> None:
    agency, shared, own = family["agency"], family["shared"], family["own"]
    calls, _ = all_pages(client, f"/agencies/{agency}/logs?category=call_minutes", viewer(agency), 1)
    assert sorted(r["account_id"] for r in calls) == sorted([shared, own])
    today = local_date(calls[0]["posted_at"], family["zone"])
    assert len(all_pages(client, f"/agencies/{agency}/logs?from={today}&to={today}", viewer(agency), 50)[0]) == 6
    assert all_pages(client, f"/agencies/{agency}/logs?to={today - timedelta(days=1)}", viewer(agency), 50)[0] == []
    header, rows = csv_rows(client, f"/agencies/{agency}/logs?format=csv", viewer(agency))
    assert header == CSV_HEADER
    assert sorted(r["event_id"] for r in rows) == sorted(
        r["event_id"] for r in get(client, f"/agencies/{agency}/logs", viewer(agency))["items"]
    )
    # An account cursor is not an agency cursor, and the other way round.
    account_cursor = get(client, f"/accounts/{agency}/logs?limit=1", viewer(agency))["next_cursor"]
    agency_cursor = get(client, f"/agencies/{agency}/logs?limit=1", viewer(agency))["next_cursor"]
    assert account_cursor and agency_cursor
    assert_error(
        send(client, "GET", f"/agencies/{agency}/logs?limit=1&cursor={account_cursor}", viewer(agency)),
        400,
        mentions="cursor",
    )
    assert_error(
        send(client, "GET", f"/accounts/{agency}/logs?limit=1&cursor={agency_cursor}", viewer(agency)),
        400,
        mentions="cursor",
    )


def test_account_logs_of_the_agency_show_only_its_own_entries(client: Client, family: dict[str, str]) -> None:
    agency = family["agency"]
    rows = get(client, f"/accounts/{agency}/logs", viewer(agency))["items"]
    assert sorted(r["event_id"] for r in rows) == sorted([f"{agency}-rc", f"{agency}-sub"])
    # The shared sub-account's own page shows its entries, drawn from the agency's balance.
    shared_rows = get(client, f"/accounts/{family['shared']}/logs", viewer(family["shared"]))["items"]
    assert {r["billing_account_id"] for r in shared_rows} == {agency}
    assert len(shared_rows) == 2


def test_an_empty_account_has_no_rows(client: Client) -> None:
    account_id = provision(client)
    assert get(client, f"/accounts/{account_id}/logs", viewer(account_id)) == {
        "items": [],
        "next_cursor": None,
        "time_zone": "UTC",
    }
    header, rows = csv_rows(client, f"/accounts/{account_id}/logs?format=csv", viewer(account_id))
    assert (header, rows) == (CSV_HEADER, [])


# -- bad input -----------------------------------------------------------------------------------
BAD_QUERIES: list[tuple[str, str]] = [
    ("limit=0", "limit"),
    ("limit=501", "limit"),
    ("limit=abc", "limit"),
    ("limit=-1", "limit"),
    ("limit=1.5", "limit"),
    ("limit=%C2%B2", "limit"),  # a superscript two: str.isdigit() says yes, int() says no
    ("limit=%EF%BC%91", "limit"),  # a full-width one
    ("from=2026-13-01", "from"),
    ("from=2026-02-30", "from"),
    ("from=20260101", "from"),
    ("from=yesterday", "from"),
    ("to=2026-1-1", "to"),
    ("from=2026-02-01&to=2026-01-31", "to"),
    ("from=2000-01-01&to=2026-01-01", "5 years"),
    ("from=0001-01-01", "from"),  # would overflow once shifted to UTC
    ("to=9999-12-31", "to"),
    ("category=fax_pages", "category"),
    ("category=CALL_MINUTES", "category"),
    ("format=xml", "format"),
    ("cursor=abc", "cursor"),
    ("q=" + "x" * 101, "q: at most 100"),
    ("q=a%0Ab", "q: must not contain"),
]


# A CSV export has no limit or cursor, and format is the parameter itself.
BAD_CASES = [
    pytest.param(scope, query, mentions, fmt, id=f"{scope}-{query}{fmt}")
    for scope in ("accounts", "agencies")
    for fmt in ("", "&format=csv")
    for query, mentions in BAD_QUERIES
    if not (fmt and query.startswith(("limit", "cursor", "format")))
]


@pytest.mark.parametrize(("scope", "query", "mentions", "fmt"), BAD_CASES)
def test_bad_query_is_400(
    client: Client, family: dict[str, str], scope: str, query: str, mentions: str, fmt: str
) -> None:
    agency = family["agency"]
    response = send(client, "GET", f"/{scope}/{agency}/logs?{query}{fmt}", viewer(agency))
    assert mentions in assert_error(response, 400, "bad_request")["message"]


def test_the_range_limit_is_five_years_inclusive(client: Client, family: dict[str, str]) -> None:
    agency = family["agency"]
    assert get(client, f"/accounts/{agency}/logs?from=2021-01-01&to=2025-12-31", viewer(agency))["items"] == []
    assert get(client, f"/accounts/{agency}/logs?from=1900-01-01&to=1900-01-01", viewer(agency))["items"] == []
    assert get(client, f"/accounts/{agency}/logs?from=9998-12-31", viewer(agency))["items"] == []


# -- what happened, what it was, whose balance (issue 13 point 9) -------------------------------
CALL_DETAILS = {
    "tracking_number": "+1 (555) 010-7788",
    "caller": "(555) 010-1234",
    "call_id": "CA-8812",
    "duration": 195,
}


@pytest.fixture(scope="module")
def described(client: Client) -> dict[str, str]:
    """An account in New York with a call, a text and a number renewal that carry their details."""
    account_id = provision(client, name="Harbor Plumbing", time_zone="America/New_York")
    charge(
        [
            credit(account_id, "20.00", event_id=f"{account_id}-rc"),
            usage_event(
                account_id,
                "call_minutes",
                "4",
                event_id=f"{account_id}-call",
                occurred_at="2026-01-15T14:03:00Z",
                description="Inbound call to the Plumbing line",
                metadata=CALL_DETAILS,
            ),
            usage_event(
                account_id,
                "text_messages",
                "1",
                event_id=f"{account_id}-sms",
                description="Text message",
                metadata={"message_id": "SM-77", "to": "(555) 010-4444", "delivered": True},
            ),
            usage_event(
                account_id,
                "number_renewals",
                "1",
                event_id=f"{account_id}-num",
                description="Number renewal",
                metadata={"phone_number": "(555) 010-9999"},
            ),
        ]
    )
    return {"id": account_id}


def test_rows_say_when_the_charge_happened_and_what_it_was(client: Client, described: dict[str, str]) -> None:
    account_id = described["id"]
    rows = {r["event_id"]: r for r in get(client, f"/accounts/{account_id}/logs", viewer(account_id))["items"]}
    call = rows[f"{account_id}-call"]
    assert call["metadata"] == CALL_DETAILS
    # When it happened and when it was posted, in UTC and in the account's zone (stated).
    assert call["occurred_at"] == "2026-01-15T14:03:00.000000Z"
    assert (call["time_zone"], call["occurred_at_local"]) == ("America/New_York", "2026-01-15T09:03:00-05:00")
    posted = at(call["posted_at"]).astimezone(ZoneInfo("America/New_York"))
    assert call["posted_at_local"] == posted.isoformat(timespec="seconds")
    assert rows[f"{account_id}-rc"]["metadata"] == {}
    assert rows[f"{account_id}-sms"]["metadata"] == {"message_id": "SM-77", "to": "(555) 010-4444", "delivered": True}
    # Whose balance: its own, by name.
    assert {r["billing_account_name"] for r in rows.values()} == {"Harbor Plumbing"}
    # The CSV carries the same columns, with the zone stated and the details as JSON.
    header, csv_data = csv_rows(client, f"/accounts/{account_id}/logs?format=csv", viewer(account_id))
    assert header == CSV_HEADER
    csv_call = next(r for r in csv_data if r["event_id"] == f"{account_id}-call")
    assert (csv_call["time_zone"], csv_call["occurred_at_local"], csv_call["billing_account_name"]) == (
        "America/New_York",
        "2026-01-15T09:03:00-05:00",
        "Harbor Plumbing",
    )
    assert json.loads(csv_call["metadata"]) == CALL_DETAILS


@pytest.mark.parametrize(
    ("q", "suffixes"),
    [
        ("ca-8812", ["call"]),  # a metadata value, whatever its case
        ("PLUMBING", ["call"]),  # the description
        ("010-", ["num", "sms", "call"]),  # a part of several numbers, newest first
        ("195", ["call"]),  # a number the producer sent as a number
        ("true", ["sms"]),  # a flag
        ("  (555) 010-9999 ", ["num"]),  # spaces around the text are ignored
        ("tracking_number", []),  # metadata keys are not searched, only values
        ("no such thing", []),
    ],
)
def test_q_searches_descriptions_and_metadata_values(
    client: Client, described: dict[str, str], q: str, suffixes: list[str]
) -> None:
    account_id = described["id"]
    query = urlencode({"q": q})
    rows = get(client, f"/accounts/{account_id}/logs?{query}", viewer(account_id))["items"]
    assert [r["event_id"] for r in rows] == [f"{account_id}-{s}" for s in suffixes]
    _, csv_data = csv_rows(client, f"/accounts/{account_id}/logs?format=csv&{query}", viewer(account_id))
    assert [r["event_id"] for r in csv_data] == [f"{account_id}-{s}" for s in suffixes]


def test_q_with_a_category_and_a_cursor_bound_to_the_search(client: Client, described: dict[str, str]) -> None:
    account_id = described["id"]
    both = get(client, f"/accounts/{account_id}/logs?q=010-&category=text_messages", viewer(account_id))["items"]
    assert [r["event_id"] for r in both] == [f"{account_id}-sms"]
    first = get(client, f"/accounts/{account_id}/logs?q=010-&limit=1", viewer(account_id))
    assert [r["event_id"] for r in first["items"]] == [f"{account_id}-num"]
    rest, _ = all_pages(client, f"/accounts/{account_id}/logs?q=010-", viewer(account_id), 1)
    assert [r["event_id"] for r in rest] == [f"{account_id}-{s}" for s in ("num", "sms", "call")]
    # A cursor of one search does not continue another.
    cursor = first["next_cursor"]
    other = send(client, "GET", f"/accounts/{account_id}/logs?q=plumbing&limit=1&cursor={cursor}", viewer(account_id))
    assert_error(other, 400, "bad_request")


def test_a_rare_search_reads_a_bounded_stretch_and_searches_on(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """A search that matches rarely stops after SCAN_ROWS rows with what it found and a cursor."""
    from chalicelib.adapters import ledger_repo

    account_id = provision(client)
    events = [usage_event(account_id, "text_messages", "1", event_id=f"{account_id}-{i:03d}") for i in range(60)]
    events[3]["metadata"] = {"call_id": "needle-1"}
    events[40]["metadata"] = {"call_id": "needle-2"}
    for start in range(0, 60, 10):  # ten transactions: ten pages over the shards
        charge(events[start : start + 10])
    monkeypatch.setattr(ledger_repo, "SCAN_ROWS", 12)
    pages, cursor, found = 0, None, []
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        body = get(client, f"/accounts/{account_id}/logs?q=NEEDLE&limit=5{suffix}", viewer(account_id))
        pages += 1
        found += [r["event_id"] for r in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    # Every match once, newest first; more than one request, each reading a bounded stretch.
    assert found == [f"{account_id}-040", f"{account_id}-003"]
    assert 3 <= pages <= 7, pages
    # Without a filter nothing is cut short.
    assert len(get(client, f"/accounts/{account_id}/logs?limit=60", viewer(account_id))["items"]) == 60


def test_agency_logs_say_whose_balance_and_search_every_account(client: Client, family: dict[str, str]) -> None:
    agency, shared, own = family["agency"], family["shared"], family["own"]
    rows = get(client, f"/agencies/{agency}/logs", viewer(agency))["items"]
    whose = {r["event_id"]: (r["billing_account_id"], r["billing_account_name"]) for r in rows}
    assert whose[f"{shared}-call"] == (agency, f"Account {agency}")  # drawn from the agency's balance
    assert whose[f"{own}-call"] == (own, f"Account {own}")  # its own
    assert all(r["balance_after"] is not None for r in rows)  # the agency sees every balance it reaches
    found = get(client, f"/agencies/{agency}/logs?q={own}", viewer(agency))["items"]
    assert found == []  # account ids are not searched (descriptions and metadata are)
    # A search over every account of another agency.
    other, other_shared, other_own = agency_with_subs(client)
    charge(
        [
            usage_event(other_own, "call_minutes", "1", event_id=f"{other_own}-tagged", metadata={"caller": "Zed Q."}),
            usage_event(other_shared, "call_minutes", "1", event_id=f"{other_shared}-x", description="Call for ZED Q."),
            usage_event(other, "call_minutes", "1", event_id=f"{other}-y", description="Someone else"),
        ]
    )
    found = get(client, f"/agencies/{other}/logs?q=zed%20q", viewer(other))["items"]
    assert sorted(r["event_id"] for r in found) == sorted([f"{other_own}-tagged", f"{other_shared}-x"])
    _, csv_data = csv_rows(client, f"/agencies/{other}/logs?format=csv&q=zed%20q", viewer(other))
    assert sorted(r["event_id"] for r in csv_data) == sorted([f"{other_own}-tagged", f"{other_shared}-x"])


def test_a_shared_sub_accounts_users_do_not_see_the_agencys_balance_in_logs(
    client: Client, family: dict[str, str]
) -> None:
    agency, shared = family["agency"], family["shared"]
    path = f"/accounts/{shared}/logs"
    mine = get(client, path, viewer(shared))["items"]
    assert mine and all(r["balance_after"] is None for r in mine)
    assert {r["billing_account_name"] for r in mine} == {f"Account {agency}"}  # who bills them: yes
    _, csv_data = csv_rows(client, f"{path}?format=csv", viewer(shared))
    assert csv_data and all(r["balance_after"] == "" for r in csv_data)
    # The agency's users and the platform see it on the same rows.
    assert all(r["balance_after"] is not None for r in get(client, path, viewer(agency))["items"])
    assert all(r["balance_after"] is not None for r in get(client, path, service())["items"])
    # When the agency shares its balance with its clients, they see it here too.
    share = {"share_balance_with_sub_accounts": True}
    ok_json(send(client, "PUT", f"/accounts/{agency}/billing-settings", admin(agency), share))
    try:
        shown = get(client, path, viewer(shared))["items"]
        assert [r["balance_after"] for r in shown] == [
            r["balance_after"] for r in get(client, path, viewer(agency))["items"]
        ]
    finally:
        ok_json(
            send(
                client,
                "PUT",
                f"/accounts/{agency}/billing-settings",
                admin(agency),
                {"share_balance_with_sub_accounts": False},
            )
        )
    assert all(r["balance_after"] is None for r in get(client, path, viewer(shared))["items"])
