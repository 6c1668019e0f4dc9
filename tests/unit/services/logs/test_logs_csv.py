"""The Logs as CSV (`account_logs_csv`, `agency_logs_csv`): every row of the filtered Logs, the
page's columns in a fixed order, metadata as JSON, and safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from chalicelib.services import logs
from chalicelib.services.errors import BadRequest, NotFound
from chalicelib.services.logs import CSV_COLUMNS, account_logs, account_logs_csv, agency_logs, agency_logs_csv
from tests.fakes.world import SERVICE, viewer
from tests.unit.services.logs.conftest import World, credit, usage


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def parse(text: str) -> tuple[list[str], list[dict[str, str]]]:
    assert text.endswith("\r\n")
    lines = list(csv.reader(io.StringIO(text, newline="")))
    return lines[0], [dict(zip(lines[0], line, strict=True)) for line in lines[1:]]


@pytest.fixture
def described(world: World) -> None:
    world.provision("acct", name="Harbor Plumbing", time_zone="America/New_York")
    world.record(credit("acct", "10", event_id="rc"), at=at("2026-03-15T09:00:00"))
    world.record(
        usage(
            "acct",
            event_id="call",
            occurred_at="2026-01-15T14:03:00Z",
            description="Inbound call",
            metadata={"call_id": "CA-8812", "duration_s": 195, "caller": "Zoë"},
        ),
        usage("acct", "adjustment", amount="-0.50", description='=HYPERLINK("http://x")', event_id="adj"),
        at=at("2026-03-15T10:00:00"),
    )


def test_the_csv_holds_every_row_of_the_page_in_its_columns(world: World, described: None) -> None:
    header, rows = parse(account_logs_csv(viewer("acct"), "acct", {}))
    assert header == CSV_COLUMNS
    page = account_logs(viewer("acct"), "acct", {}, 50).rows
    assert [r["event_id"] for r in rows] == [r["event_id"] for r in page] == ["adj", "call", "rc"]
    call = rows[1]
    assert call == {
        **{k: str(v) for k, v in page[1].items() if k != "metadata"},
        "metadata": '{"call_id": "CA-8812", "caller": "Zoë", "duration_s": 195}',  # JSON, keys sorted
    }
    assert (call["time_zone"], call["occurred_at_local"], call["billing_account_name"]) == (
        "America/New_York",
        "2026-01-15T09:03:00-05:00",
        "Harbor Plumbing",
    )
    assert json.loads(call["metadata"])["caller"] == "Zoë"
    recharge = rows[2]
    assert (recharge["metadata"], recharge["unit_price"]) == ("", "")  # none: empty cells
    # Text a spreadsheet would run as a formula is quoted; negative amounts stay numbers.
    assert (rows[0]["description"], rows[0]["amount"]) == ('\'=HYPERLINK("http://x")', "-0.50")


def test_the_csv_reads_the_log_page_after_page(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "CSV_PAGE", 3)
    world.provision("big")
    for hour in range(4):
        world.record(*(usage("big", event_id=f"e{hour}-{i}") for i in range(2)), at=at(f"2026-03-15T0{hour}:00:00"))
    _, rows = parse(account_logs_csv(viewer("big"), "big", {}))
    assert [r["event_id"] for r in rows] == [f"e{h}-{i}" for h in reversed(range(4)) for i in (1, 0)]


def test_the_csv_is_filtered_like_the_page(world: World, described: None) -> None:
    for params, want in [
        ({"q": "ca-88"}, ["call"]),
        ({"category": "recharge"}, ["rc"]),
        ({"from": "2026-03-16"}, []),
        ({"to": "2026-03-15", "q": "zoë"}, ["call"]),
    ]:
        header, rows = parse(account_logs_csv(viewer("acct"), "acct", params))
        assert header == CSV_COLUMNS
        assert [r["event_id"] for r in rows] == want, params
    with pytest.raises(BadRequest, match="category"):
        account_logs_csv(viewer("acct"), "acct", {"category": "nope"})
    with pytest.raises(NotFound):
        account_logs_csv(viewer("someone-else"), "acct", {})


def test_the_agency_csv_hides_no_balance_the_agency_sees(world: World) -> None:
    world.family()
    world.record(credit("agency", "100"), credit("agency-own", "5"), at=at("2026-03-15T09:00:00"))
    world.record(usage("agency-shared", event_id="shared"), usage("agency-own", event_id="own"))
    header, rows = parse(agency_logs_csv(viewer("agency"), "agency", {}))
    assert header == CSV_COLUMNS
    page = agency_logs(viewer("agency"), "agency", {}, 50).rows
    assert [r["event_id"] for r in rows] == [r["event_id"] for r in page]
    assert all(r["balance_after"] for r in rows)
    # The shared sub-account's own users: the agency's balance is an empty cell.
    _, mine = parse(account_logs_csv(viewer("agency-shared"), "agency-shared", {}))
    assert [(r["event_id"], r["balance_after"], r["billing_account_name"]) for r in mine] == [
        ("shared", "", "Account agency")
    ]
    with pytest.raises(NotFound):
        agency_logs_csv(viewer("agency-shared"), "agency", {})
    _, calls = parse(agency_logs_csv(SERVICE, "agency", {"category": "call_minutes"}))
    assert sorted((r["event_id"], bool(r["balance_after"])) for r in calls) == [("own", True), ("shared", True)]
