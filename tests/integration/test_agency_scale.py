"""Agencies of 10 and 1,000 sub-accounts: every agency page within its request bound, and
paging, sorting and search over the whole agency, with totals that cover every account.

The data goes in through the service functions (bench/agency_scale.py builds it); the
requests are counted by botocore hooks (bench/counting.py), so a page that turns into a
fan-out over sub-accounts fails here long before it is slow.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.agency_scale import MAX_REQUESTS, MAX_ROUND_TRIPS, Agency, build_agency, pages
from bench.counting import RequestCounter
from chalicelib.adapters.tables.base import all_models
from chalicelib.adapters.tables.ledger_pages import PAGE_SHARDS
from tests.integration.http_helpers import admin, make_client, ok_json, send, viewer

SIZES = (10, 1_000)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def agencies(aws: Any) -> dict[int, Agency]:
    return {size: build_agency(f"scale{size}", size, events_per_month=1, months=2) for size in SIZES}


@pytest.fixture(scope="module")
def client(aws: Any) -> Client:
    return make_client()


@pytest.fixture(scope="module")
def counter() -> Any:
    counter = RequestCounter()
    counter.install()
    counter.attach_models(all_models())
    yield counter
    counter.uninstall()


@pytest.mark.parametrize("size", SIZES)
def test_every_agency_page_stays_within_its_request_bound(agencies, counter, size) -> None:
    found = {}
    for name, call in pages(agencies[size]).items():
        with counter.window() as tally:
            call()
        found[name] = (tally.total_requests, tally.round_trips)
    too_many = {n: f for n, f in found.items() if f[0] > MAX_REQUESTS or f[1] > MAX_ROUND_TRIPS}
    assert not too_many, f"over {MAX_REQUESTS} requests or {MAX_ROUND_TRIPS} round trips: {too_many}"


def test_the_cost_of_a_page_does_not_grow_with_sub_accounts(agencies, counter) -> None:
    """The same page at 10 and at 1,000 sub-accounts: requests differ by one round of shard
    queries at most (Logs top up every shard about to run dry in the same round, rather than
    one shard a round: more queries side by side, fewer round trips)."""
    requests: dict[int, dict[str, int]] = {}
    for size in SIZES:
        requests[size] = {}
        for name, call in pages(agencies[size]).items():
            with counter.window() as tally:
                call()
            requests[size][name] = tally.total_requests
    small, large = requests[SIZES[0]], requests[SIZES[1]]
    assert {n: (small[n], large[n]) for n in small if large[n] > small[n] + PAGE_SHARDS} == {}


def _walk(client: Client, path: str, who: Any, key: str, **params: str) -> tuple[list[dict[str, Any]], Any]:
    """Every row of a paged agency list, and the last page's body."""
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = "&".join(f"{k}={v}" for k, v in {**params, **({"cursor": cursor} if cursor else {})}.items())
        body = ok_json(send(client, "GET", f"{path}?{query}", who))
        rows += body[key]
        cursor = body["next_cursor"]
        if cursor is None:
            return rows, body


def test_the_dashboard_pages_through_every_account_and_totals_cover_them_all(agencies, client) -> None:
    agency = agencies[1_000]
    path = f"/agencies/{agency.agency_id}/dashboard"
    rows, last = _walk(client, path, admin(agency.agency_id), "accounts", limit="300")
    ids = [r["account_id"] for r in rows]
    assert sorted(ids) == sorted([agency.agency_id, *agency.subs])  # each exactly once
    costs = [Decimal(r["cost"]) for r in rows]
    assert costs == sorted(costs, reverse=True)
    assert last["matched"] == last["totals"]["accounts"] == 1_001
    assert Decimal(last["totals"]["cost"]) == sum(costs)
    # A page of 50 (the default) says the same totals.
    first = ok_json(send(client, "GET", path, viewer(agency.agency_id)))
    assert len(first["accounts"]) == 50 and first["totals"] == last["totals"]


def test_usage_pages_by_name_and_search_finds_a_client(agencies, client) -> None:
    agency = agencies[1_000]
    path = f"/agencies/{agency.agency_id}/usage"
    rows, last = _walk(client, path, viewer(agency.agency_id), "accounts", limit="500", sort="name")
    names = [r["account_name"] for r in rows[1:]]
    assert rows[0]["account_id"] == agency.agency_id and names == sorted(names, key=str.casefold)
    assert len(rows) == 1_001
    assert Decimal(last["totals"]["total_amount"]) == sum(Decimal(r["total_amount"]) for r in rows)
    wanted = agency.subs[437]
    found = ok_json(send(client, "GET", f"{path}?q={wanted.upper()}", viewer(agency.agency_id)))
    assert [b["account_id"] for b in found["accounts"]] == [wanted] and found["matched"] == 1
    assert found["totals"] == last["totals"]  # a search narrows the rows, never the totals
    switcher = ok_json(
        send(client, "GET", f"/agencies/{agency.agency_id}/accounts?q=client%200437", admin(agency.agency_id))
    )
    assert [a["account_id"] for a in switcher["items"]] == [wanted] and switcher["total"] == 1_001


# Over HTTP at 1,000 sub-accounts (each page reads the whole agency's rollups, so pages are
# large here); the paging rule itself is checked with any limit in tests/unit/test_reports_plan.py.
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    limit=st.integers(250, 500),
    sort=st.sampled_from(["cost", "name"]),
    q=st.sampled_from(["", "client 01", "dental", "scale1000-c09", "zzz"]),
    which=st.sampled_from(["dashboard", "usage", "accounts"]),
)
def test_any_paging_lists_each_matching_account_once(agencies, client, limit, sort, q, which) -> None:
    agency = agencies[1_000]
    key = "items" if which == "accounts" else "accounts"
    params = {"limit": str(limit), "q": q.replace(" ", "%20")}
    if which != "accounts":
        params["sort"] = sort
    rows, last = _walk(client, f"/agencies/{agency.agency_id}/{which}", viewer(agency.agency_id), key, **params)
    ids = [r["account_id"] for r in rows]
    assert len(ids) == len(set(ids)) == last["matched"]
    names = {r["account_id"]: (r.get("account_name") or r.get("name") or "") for r in rows}
    assert all(q.casefold() in f"{names[i]} {i}".casefold() for i in ids) if q else len(ids) == 1_001
