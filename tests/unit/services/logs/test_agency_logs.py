"""An agency's Logs (`agency_logs`): every account of the agency, whose balance each row moved, and
which balances each reader is shown (`balance_after` hidden from a shared sub-account's users)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.domain.access import Principal
from chalicelib.domain.accounts import Account
from chalicelib.services.errors import BadRequest, NotFound
from chalicelib.services.logs import account_logs, agency_logs
from tests.fakes.world import SERVICE, admin, viewer
from tests.unit.services.logs.conftest import World, credit, usage


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


Family = tuple[Account, Account, Account]


@pytest.fixture
def family(world: World) -> Family:
    """An agency (New York) funding itself and a shared sub-account; a sub-account paying for itself."""
    agency, shared, own = world.family()
    world.record(credit(agency.account_id, "100", event_id="agency-rc"), at=at("2026-03-15T10:00:00"))
    world.record(credit(own.account_id, "20", event_id="own-rc"), at=at("2026-03-15T11:00:00"))
    world.record(usage(shared.account_id, event_id="shared-call"), at=at("2026-03-15T12:00:00"))
    world.record(usage(own.account_id, event_id="own-call"), at=at("2026-03-15T13:00:00"))
    world.record(usage(agency.account_id, "text_messages", "1", event_id="agency-sms"), at=at("2026-03-15T14:00:00"))
    return agency, shared, own


def by_event(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["event_id"]: r for r in rows}


def test_agency_logs_cover_the_agency_and_every_sub_account_newest_first(world: World, family: Family) -> None:
    page = agency_logs(viewer("agency"), "agency", {}, 50)
    assert [r["event_id"] for r in page.rows] == ["agency-sms", "own-call", "shared-call", "own-rc", "agency-rc"]
    assert page.time_zone == "America/New_York"  # the agency's zone, for every row
    assert {r["time_zone"] for r in page.rows} == {"America/New_York"}
    whose = {r["event_id"]: (r["account_name"], r["billing_account_id"], r["billing_account_name"]) for r in page.rows}
    assert whose["shared-call"] == ("Account agency-shared", "agency", "Account agency")  # the agency's balance
    assert whose["own-call"] == ("Account agency-own", "agency-own", "Account agency-own")  # its own
    # The agency's users see every balance it reaches: each row's balance after, on its own balance.
    rows = by_event(page.rows)
    assert [rows[e]["balance_after"] for e in ("agency-rc", "shared-call", "agency-sms")] == [
        "100.00",
        "99.9625",
        "99.9546",  # a text costs 0.0079
    ]
    assert [rows[e]["balance_after"] for e in ("own-rc", "own-call")] == ["20.00", "19.9625"]


def test_the_agency_cursor_walks_every_row_once(world: World, family: Family) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        page = agency_logs(viewer("agency"), "agency", {"cursor": cursor} if cursor else {}, 2)
        seen += [r["event_id"] for r in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["agency-sms", "own-call", "shared-call", "own-rc", "agency-rc"]
    # An agency cursor does not continue the agency's own account Logs (another list), nor the reverse.
    cursor = agency_logs(viewer("agency"), "agency", {}, 2).next_cursor
    assert cursor is not None
    with pytest.raises(BadRequest, match="another query"):
        account_logs(viewer("agency"), "agency", {"cursor": cursor}, 2)
    account_cursor = account_logs(viewer("agency"), "agency", {}, 1).next_cursor
    assert account_cursor is not None
    with pytest.raises(BadRequest, match="another query"):
        agency_logs(viewer("agency"), "agency", {"cursor": account_cursor}, 1)


def test_agency_logs_filter_and_search_every_account(world: World, family: Family) -> None:
    world.record(
        usage("agency-own", event_id="tagged", metadata={"caller": "Zed Q."}),
        usage("agency-shared", event_id="described", description="Call for ZED Q."),
        at=at("2026-03-15T15:00:00"),
    )
    found = agency_logs(viewer("agency"), "agency", {"q": "zed q"}, 50).rows
    assert sorted(r["event_id"] for r in found) == ["described", "tagged"]
    calls = agency_logs(viewer("agency"), "agency", {"category": "call_minutes", "q": "zed"}, 50).rows
    assert sorted(r["event_id"] for r in calls) == ["described", "tagged"]
    texts = agency_logs(viewer("agency"), "agency", {"category": "text_messages"}, 50).rows
    assert [r["event_id"] for r in texts] == ["agency-sms"]
    assert agency_logs(viewer("agency"), "agency", {"q": "agency-own"}, 50).rows == []  # ids are not searched
    # Dates are the agency's: 14:00Z is 10:00 in New York on the 15th; nothing on the 16th.
    assert len(agency_logs(viewer("agency"), "agency", {"from": "2026-03-15", "to": "2026-03-15"}, 50).rows) == 7
    assert agency_logs(viewer("agency"), "agency", {"from": "2026-03-16"}, 50).rows == []


def test_the_account_logs_of_the_agency_show_only_its_own_account(world: World, family: Family) -> None:
    rows = account_logs(viewer("agency"), "agency", {}, 50).rows
    assert [r["event_id"] for r in rows] == ["agency-sms", "agency-rc"]


def test_a_shared_sub_accounts_users_are_not_shown_the_agencys_balance(world: World, family: Family) -> None:
    def balances(principal: Principal) -> list[str | None]:
        return [r["balance_after"] for r in account_logs(principal, "agency-shared", {}, 50).rows]

    assert balances(viewer("agency-shared")) == [None]
    # Who bills them, they are told.
    mine = account_logs(viewer("agency-shared"), "agency-shared", {}, 50).rows
    assert (mine[0]["billing_account_id"], mine[0]["billing_account_name"], mine[0]["currency"]) == (
        "agency",
        "Account agency",
        "USD",
    )
    # The agency's users and the platform see it on the same rows.
    assert balances(viewer("agency")) == balances(SERVICE) == ["99.9625"]
    # The own-billing sub-account's users see their own balance.
    assert [r["balance_after"] for r in account_logs(viewer("agency-own"), "agency-own", {}, 50).rows] == [
        "19.9625",
        "20.00",
    ]
    # When the agency shares its balance with its clients, they see it; unshared again, they do not.
    world.share_balance("agency", True)
    assert balances(viewer("agency-shared")) == ["99.9625"]
    world.share_balance("agency", False)
    assert balances(admin("agency-shared")) == [None]


def test_a_row_keeps_the_balance_it_was_charged_to(world: World, family: Family) -> None:
    """A sub-account that left shared billing: its older rows stay on the agency's balance, hidden from
    its users; its new rows are on its own balance, shown."""
    world.provision("agency-shared", agency_id="agency", billing="own")
    world.record(credit("agency-shared", "5", event_id="shared-rc"), at=at("2026-03-15T16:00:00"))
    rows = account_logs(viewer("agency-shared"), "agency-shared", {}, 50).rows
    assert [(r["event_id"], r["billing_account_id"], r["balance_after"]) for r in rows] == [
        ("shared-rc", "agency-shared", "5.00"),
        ("shared-call", "agency", None),
    ]


def test_only_the_agencys_own_users_read_its_logs(world: World, family: Family) -> None:
    for principal, agency_id in [
        (viewer("agency-shared"), "agency"),  # a sub-account's users: not the agency's views
        (viewer("agency-own"), "agency"),
        (viewer("agency"), "agency-own"),  # an account that is no agency
        (SERVICE, "agency-own"),
        (viewer("agency"), "nowhere"),
    ]:
        with pytest.raises(NotFound):
            agency_logs(principal, agency_id, {}, 50)
    assert len(agency_logs(SERVICE, "agency", {}, 50).rows) == 5  # the platform reads any agency's


def test_an_agency_without_entries_has_an_empty_page(world: World) -> None:
    world.family("quiet")
    page = agency_logs(viewer("quiet"), "quiet", {}, 50)
    assert (page.rows, page.next_cursor) == ([], None)
