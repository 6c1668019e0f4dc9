"""The Logs page in a real browser: when a charge happened and when it was posted, the details
producers sent, whose balance, a search (account and agency, JSON and CSV), on a laptop and a phone.

Charges with call and text details are posted through POST /usage-events (the service token)
and charged by the stack's event pump, as the platform's would be.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Browser, Locator, expect

from devtools.run import Stack

from .conftest import PHONE, VIEWPORT, Console, console_tab, sign_in
from .test_console import ADMIN, _api, _heading, _token

pytestmark = pytest.mark.e2e

OCCURRED = (datetime.now(UTC) - timedelta(minutes=30)).replace(second=0, microsecond=0)
CALLER = "(555) 867-5309"
CALL = {
    "event_id": "browser-logs-call-7781",
    "account_id": "acct_shared",  # Brightside Dental: billed by Demo Agency
    "category": "call_minutes",
    "quantity": "4",
    "occurred_at": OCCURRED.strftime("%Y-%m-%dT%H:%M:%SZ"),
    "description": "Inbound call: Brightside main line",
    "metadata": {"tracking_number": "+1 (555) 010-0101", "caller": CALLER, "call_id": "CA-LOGS-7781", "duration": 195},
}
TEXT = {
    "event_id": "browser-logs-sms-7782",
    "account_id": "acct_own_1",  # Harbor Plumbing: its own balance
    "category": "text_messages",
    "quantity": "1",
    "occurred_at": (OCCURRED + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "description": "Text message to a customer",
    "metadata": {"message_id": "SM-LOGS-7782", "to": CALLER, "delivered": True},
}


@pytest.fixture(scope="module")
def charged(stack: Stack) -> Iterator[None]:
    """The two charges, posted as the platform posts them and charged by the pump."""
    response = requests.post(
        stack.config.api_url + "/usage-events",
        json={"events": [CALL, TEXT]},
        headers={"Authorization": f"Bearer {stack.tokens['SERVICE_TOKEN']}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = _api(stack, "/agencies/agency_demo/logs?q=867-5309").json()["items"]
        if len(rows) == 2:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the pump did not charge the posted events within a minute")
    yield


def _search(console: Console, text: str) -> Locator:
    page = console.page
    page.get_by_label("Search").fill(text)
    page.get_by_role("button", name="Show entries").click()
    console.wait_idle()
    return page.locator("table.data tbody tr")


def _local(instant: datetime, zone: str) -> re.Pattern[str]:
    """How the console writes an instant in a zone: a date line and a time line ("Nov 26, 2026" "4:03 AM")."""
    local = instant.astimezone(ZoneInfo(zone))
    hour = local.hour % 12 or 12
    text = f"{local:%b} {local.day}, {local.year} {hour}:{local:%M}"
    return re.compile(re.escape(text) + r"\s" + local.strftime("%p"))


def test_agency_logs_show_both_times_the_details_and_whose_balance(
    console: Console, stack: Stack, charged: None
) -> None:
    page = console.page
    sign_in(console, stack.tokens[ADMIN])
    console.open("Logs")
    _heading(page, "Logs")
    rows = _search(console, "867-5309")
    expect(rows).to_have_count(2)
    table = page.get_by_role("region", name="Agency log entries, newest first")
    expect(table.get_by_role("columnheader")).to_have_text(
        ["Occurred", "Posted", "Account", "Category", "Description", "Quantity", "Amount", "Balance after"]
    )
    call = rows.filter(has_text="Brightside main line")
    # When it happened, in the agency's zone (the page says which), beside when it was posted.
    expect(page.locator("main p.note").first).to_contain_text("Times in America/New_York: when the charge occurred")
    expect(call.locator("th time")).to_have_text(_local(OCCURRED, "America/New_York"))
    expect(call.locator("td time")).to_have_text(re.compile(r"\d{4} \d{1,2}:\d\d\s[AP]M"))
    # The details the producer sent, named and readable.
    expect(call.locator("dl.details dt")).to_have_text(["Tracking number", "Caller", "Call ID", "Duration"])
    expect(call.locator("dl.details dd")).to_have_text(["+1 (555) 010-0101", CALLER, "CA-LOGS-7781", "3 min 15 s"])
    # Whose balance: the agency pays for Brightside; Harbor Plumbing pays for itself.
    expect(call).to_contain_text("paid by Demo Agency")
    expect(call.locator("td").last).to_contain_text("of Demo Agency")
    text = rows.filter(has_text="Text message to a customer")
    expect(text.locator("td").last).to_contain_text("of Harbor Plumbing")
    expect(text.locator("dl.details dd")).to_have_text([CALLER, "SM-LOGS-7782", "yes"])
    assert not console.alert()
    console.shot("admin-logs-search")
    # The same rules in the module itself: durations, names and order of the details.
    results = page.evaluate(
        """async () => {
            const logs = await import("./console/logs.js");
            return [logs.duration(42), logs.duration(195), logs.duration(3725), logs.duration("n/a"),
                    logs.details({zone: "east", duration_s: 61, call_id: "c1", tracking_number: "t", ok: false})];
        }"""
    )
    assert results == [
        "42 s",
        "3 min 15 s",
        "1 h 2 min",
        "n/a",
        [["Tracking number", "t"], ["Call ID", "c1"], ["Duration", "1 min 1 s"], ["Ok", "no"], ["Zone", "east"]],
    ]
    # Another search finds nothing of these; clearing it shows every entry again.
    expect(_search(console, "no such caller")).to_have_count(0)
    expect(page.get_by_text("No entries match these filters.")).to_be_visible()
    expect(_search(console, "")).not_to_have_count(0)


def test_the_csv_carries_the_search_the_zone_and_the_details(
    console: Console, stack: Stack, charged: None, tmp_path: Path
) -> None:
    page = console.page
    sign_in(console, stack.tokens[ADMIN])
    console.open("Logs")
    _search(console, "ca-logs-7781")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").click()
    saved = tmp_path / "logs.csv"
    download_info.value.save_as(saved)
    [row] = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert (row["event_id"], row["time_zone"], row["billing_account_name"]) == (
        CALL["event_id"],
        "America/New_York",
        "Demo Agency",
    )
    assert row["occurred_at_local"] == OCCURRED.astimezone(ZoneInfo("America/New_York")).isoformat()
    assert '"call_id": "CA-LOGS-7781"' in row["metadata"]


def test_a_shared_clients_user_searches_their_logs_without_the_agencys_balance(
    console: Console, stack: Stack, charged: None
) -> None:
    page = console.page
    sign_in(console, _token(stack, "viewer:acct_shared"))
    console.open("Logs")
    rows = _search(console, "CA-LOGS-7781")
    expect(rows).to_have_count(1)
    table = page.get_by_role("region", name="Log entries, newest first")
    expect(table.get_by_role("columnheader")).to_have_text(
        ["Occurred", "Posted", "Category", "Description", "Quantity", "Amount"]
    )
    expect(rows.locator("dl.details dd")).to_contain_text([CALLER, "CA-LOGS-7781", "3 min 15 s"])
    assert "Demo Agency" not in table.inner_text()
    body: dict[str, Any] = _api(stack, "/accounts/acct_shared/logs?q=CA-LOGS-7781", "viewer:acct_shared").json()
    assert [r["balance_after"] for r in body["items"]] == [None]
    console.shot("shared-client-logs-search")
    assert not console.alert()


@pytest.mark.parametrize("viewport", [pytest.param(VIEWPORT, id="1280x800"), pytest.param(PHONE, id="390x844")])
def test_the_logs_search_is_usable_on_a_laptop_and_a_phone(
    browser: Browser, stack: Stack, screenshots: Path, charged: None, viewport: Any
) -> None:
    width = viewport["width"]
    with console_tab(browser, stack, screenshots, viewport) as console:
        page = console.page
        sign_in(console, stack.tokens[ADMIN])
        console.open("Logs")
        search = page.get_by_label("Search")
        box = search.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5
        expect(_search(console, CALLER)).to_have_count(2)
        assert page.evaluate("document.scrollingElement.scrollWidth") <= width
        wrap = page.locator("main .table-wrap")
        wrap_box = wrap.bounding_box()
        assert wrap_box is not None and wrap_box["x"] + wrap_box["width"] <= width + 0.5
        console.shot(f"admin-logs-search-{width}x{viewport['height']}")
        assert not console.alert()
