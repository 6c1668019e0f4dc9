"""The console with an agency of 1,000 sub-accounts: a switcher that searches, and dashboard
and usage pages that page through the accounts while their totals cover every one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from bench.agency_scale import Agency, build_agency
from chalicelib.domain.access import Role
from chalicelib.services.tokens import issue_token
from devtools.run import Stack
from tests.browser.conftest import PHONE, Console, console_tab, sign_in
from tests.conftest import TEST_SECRET


@pytest.fixture(scope="module")
def big(stack: Stack) -> Agency:
    # The stack's environment is this process's: the agency goes into the stack's tables.
    return build_agency("ui", 1_000, events_per_month=1, months=2)


@pytest.fixture
def admin_tab(browser: Browser, stack: Stack, screenshots: Path, big: Agency) -> Iterator[Console]:
    with console_tab(browser, stack, screenshots) as tab:
        sign_in(
            tab, issue_token(TEST_SECRET, "admin@big-agency.example", big.agency_id, Role.ADMIN, timedelta(hours=1))
        )
        yield tab


def test_the_switcher_lists_a_page_and_finds_any_client(admin_tab: Console, big: Agency) -> None:
    page = admin_tab.page
    switcher = page.get_by_label("Viewing account")
    assert switcher.locator("option").count() <= 26  # a page of names, never a thousand options
    expect(page.locator("#account-found")).to_contain_text("of 1,001")
    wanted = big.subs[777]
    page.get_by_label("Find an account").fill("client 0777")
    expect(page.locator("#account-found")).to_have_text("1 found")
    # The one found, after the account being viewed (kept, so the choice never jumps).
    expect(switcher.locator("option")).to_have_count(2)
    expect(switcher.locator("option").nth(1)).to_have_attribute("value", wanted)
    switcher.select_option(wanted)
    page.get_by_role("button", name="Switch").click()
    admin_tab.wait_idle()
    expect(page.locator(".context")).to_contain_text(wanted)
    admin_tab.shot("big-agency-switcher")


def test_the_dashboard_pages_and_searches_with_totals_over_all(admin_tab: Console) -> None:
    page = admin_tab.page
    admin_tab.open("Agency Dashboard")
    totals = page.get_by_test_id("agency-totals")
    expect(totals).to_contain_text("1,001")
    total_cost = totals.locator(".big").inner_text()
    table = page.get_by_role("region", name=re.compile("^Activity and cost by account"))
    expect(table.locator("tbody tr")).to_have_count(50)
    expect(page.get_by_text(re.compile(r"^1\u201350 of 1,001 accounts"))).to_be_visible()
    page.get_by_role("button", name="Next page").click()
    admin_tab.wait_idle()
    expect(page.get_by_text(re.compile(r"^51\u2013100 of 1,001 accounts"))).to_be_visible()
    page.get_by_role("button", name="Previous page").click()
    admin_tab.wait_idle()
    expect(page.get_by_text(re.compile(r"^1\u201350 of 1,001"))).to_be_visible()
    page.get_by_label("Find accounts").fill("dental")
    page.get_by_label("Find accounts").press("Enter")
    admin_tab.wait_idle()
    expect(page.get_by_text(re.compile("matching “dental”"))).to_be_visible()
    for name in table.locator("tbody th").all_inner_texts():
        assert "dental" in name.lower()
    assert totals.locator(".big").inner_text() == total_cost  # a search narrows the rows, not the totals
    admin_tab.shot("big-agency-dashboard")


def test_usage_pages_through_accounts_by_name(admin_tab: Console) -> None:
    page = admin_tab.page
    admin_tab.open("Usage")
    accounts = page.get_by_role("region", name="Cost by account")
    expect(accounts.locator("tbody tr")).to_have_count(50)
    first_names = accounts.locator("tbody th").all_inner_texts()
    assert first_names[1:] == sorted(first_names[1:], key=str.casefold)
    page.get_by_role("button", name="Next page").click()
    admin_tab.wait_idle()
    assert accounts.locator("tbody th").all_inner_texts()[0] > first_names[-1]
    admin_tab.shot("big-agency-usage")


def test_the_big_agency_reads_on_a_phone(browser: Browser, stack: Stack, screenshots: Path, big: Agency) -> None:
    with console_tab(browser, stack, screenshots, viewport=PHONE) as tab:
        sign_in(
            tab, issue_token(TEST_SECRET, "admin@big-agency.example", big.agency_id, Role.ADMIN, timedelta(hours=1))
        )
        tab.open("Agency Dashboard")
        width = tab.page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], width
        tab.shot("big-agency-dashboard-phone")
