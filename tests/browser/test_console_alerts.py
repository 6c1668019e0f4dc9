"""The console's notices and usage alerts, in a real browser against the seeded stack.

- A banner on every page of an account whose balance needs a person (Thames Lettings: its card
  expired, auto-recharge paused), with what to do and the way to Billing; none on a healthy one.
- The Agency Dashboard marks those clients and lists them, whichever page of the list they are on.
- Billing says until when the balance covers you and what falls due before then, as the API does.
- Usage alerts: an admin adds one (its webhook secret shown once), turns it off, deletes it.
Screenshots go to .local/screenshots/ (look at them).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from devtools.run import Stack

from .conftest import PHONE, Console, console_tab, sign_in

pytestmark = pytest.mark.e2e

ADMIN = "AGENCY_ADMIN_TOKEN"  # admin of agency_demo
PAUSED = "acct_own_2"  # Thames Lettings: three declines, auto-recharge paused (devtools/seed.py)
HEALTHY = "acct_own_1"  # Harbor Plumbing


def _get(stack: Stack, path: str) -> Any:
    response = requests.get(
        stack.config.api_url + path, headers={"Authorization": f"Bearer {stack.tokens[ADMIN]}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def _switch(console: Console, account_id: str) -> None:
    page = console.page
    page.locator("#account-select").select_option(account_id)
    page.get_by_role("button", name="Switch").click()
    console.wait_idle()


def test_a_paused_clients_pages_carry_the_banner_and_a_healthy_ones_do_not(console: Console, stack: Stack) -> None:
    page = console.page
    notices = _get(stack, f"/accounts/{PAUSED}/balance")["notices"]
    assert "auto_recharge_paused" in [n["kind"] for n in notices]
    sign_in(console, stack.tokens[ADMIN])
    _switch(console, PAUSED)
    banner = page.get_by_test_id("attention-banner")
    expect(banner).to_contain_text("Auto-recharge paused")
    expect(banner).to_contain_text("Update the card")
    expect(banner.get_by_role("button", name="Go to Billing")).to_have_count(0)  # on Billing already
    console.shot("banner-billing")
    for name in ["Logs", "Usage", "Printable Statements"]:
        console.open(name)
        expect(banner).to_contain_text("Auto-recharge paused")
        expect(banner.get_by_role("button", name="Go to Billing")).to_be_visible()
    console.shot("banner-statements")
    banner.get_by_role("button", name="Go to Billing").click()
    console.wait_idle()
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing")
    _switch(console, HEALTHY)
    expect(page.get_by_test_id("attention-banner")).to_have_count(0)
    console.open("Logs")
    expect(page.get_by_test_id("attention-banner")).to_have_count(0)


def test_the_dashboard_marks_the_clients_that_need_attention(console: Console, stack: Stack) -> None:
    page = console.page
    sign_in(console, stack.tokens[ADMIN])
    console.open("Agency Dashboard")
    listed = page.get_by_test_id("needs-attention")
    expect(listed).to_contain_text("Thames Lettings")
    expect(listed).to_contain_text("Auto-recharge paused")
    expect(listed).not_to_contain_text("Harbor Plumbing")
    table = page.get_by_role("region", name="Activity and cost by account, highest cost first")
    thames = table.get_by_role("row").filter(has_text="Thames Lettings")
    expect(thames).to_contain_text("Auto-recharge paused")
    expect(table.get_by_role("row").filter(has_text="Harbor Plumbing")).not_to_contain_text("paused")
    console.shot("dashboard-attention")
    listed.get_by_role("button", name=re.compile("Thames Lettings")).click()
    console.wait_idle()
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing")
    expect(page.get_by_test_id("attention-banner")).to_contain_text("Auto-recharge paused")


WORDS = {
    "number_renewals": ("number renewal", "number renewals"),
    "subscription_fees": ("subscription fee", "subscription fees"),
}


def _expected_coverage(balance: dict[str, Any]) -> list[str]:
    """What the sentence on the Billing page says, from the API's figures."""
    if balance["status"] == "past_due":
        return ["below zero"]
    until = balance["covered_until"]
    charges = balance["upcoming"]["charges"]
    due = [c for c in charges if until is None or c["due_on"] <= until]
    counts: dict[str, int] = {}
    for c in due:
        counts[c["category"]] = counts.get(c["category"], 0) + c["count"]
    parts = [f"{n} {WORDS[cat][0] if n == 1 else WORDS[cat][1]}" for cat, n in counts.items()]
    if until is None:
        head = "more than 90 days" if parts or balance["upcoming"]["average_daily_usage"] != "0.00" else "Nothing"
        return [head, *parts]
    day = date.fromisoformat(until)
    return [f"covers you until {day:%b} {day.day}", *parts]


@pytest.mark.parametrize("account", ["agency_demo", HEALTHY])
def test_billing_says_until_when_the_balance_covers_you_and_what_is_due_before(
    console: Console, stack: Stack, account: str
) -> None:
    page = console.page
    balance = _get(stack, f"/accounts/{account}/balance")
    sign_in(console, stack.tokens[ADMIN])
    if account != "agency_demo":
        _switch(console, account)
    coverage = page.get_by_test_id("coverage")
    for words in _expected_coverage(balance):
        expect(coverage).to_contain_text(words)
    if balance["upcoming"]["charges"]:
        # e.g. "Your balance covers you until Dec 19; 3 number renewals ($15.00) are due before then."
        expect(coverage).to_contain_text(re.compile(r"\(\$[\d,]+\.\d\d\)"))
    console.shot(f"runway-{account}")


def test_an_admin_adds_a_usage_alert_sees_its_secret_once_turns_it_off_and_deletes_it(
    console: Console, stack: Stack
) -> None:
    page = console.page
    sign_in(console, stack.tokens[ADMIN])
    _switch(console, HEALTHY)
    section = page.get_by_role("region", name="Usage alerts")
    form = section.get_by_test_id("alert-form")
    form.get_by_label("Name").fill("Call flood")
    form.get_by_label("Usage").select_option("call_minutes")
    form.get_by_label("Measure").select_option("quantity")
    form.get_by_label("Period").select_option("day")
    form.get_by_label("Threshold").fill("600")
    form.get_by_label("Email recipients").fill("ops@harbor-plumbing.example")
    form.get_by_label("Webhook URL (optional)").fill("http://127.0.0.1:9/hooks")
    form.get_by_role("button", name="Add usage alert").click()
    console.wait_idle()
    expect(page.locator("#status")).to_contain_text('Usage alert "Call flood" added')
    expect(form.locator("code.secret")).to_have_text(re.compile("^whsec_"))
    table = section.get_by_role("region", name="Usage alerts")
    row = table.get_by_role("row").filter(has_text="Call flood")
    expect(row).to_contain_text("Quantity of call minutes per day")
    expect(row).to_contain_text("On")
    console.shot("usage-alert-added")
    listed = _get(stack, f"/accounts/{HEALTHY}/usage-alerts")["items"]
    assert [a["name"] for a in listed if a["name"] == "Call flood"] and all("webhook_secret" not in a for a in listed)

    row.get_by_role("button", name="Turn off").click()
    console.wait_idle()
    expect(table.get_by_role("row").filter(has_text="Call flood")).to_contain_text("Off")
    table.get_by_role("row").filter(has_text="Call flood").get_by_role("button", name="When Call flood fired").click()
    console.wait_idle()
    expect(table.get_by_role("row").filter(has_text="Call flood")).to_contain_text("It has not fired yet.")
    table.get_by_role("row").filter(has_text="Call flood").get_by_role("button", name="Delete").click()
    console.wait_idle()
    expect(table.get_by_role("row").filter(has_text="Call flood")).to_have_count(0)
    assert not console.alert()


def test_the_banner_and_the_alerts_read_on_a_phone(browser: Any, stack: Stack, screenshots: Any) -> None:
    with console_tab(browser, stack, screenshots, PHONE) as console:
        page = console.page
        sign_in(console, stack.tokens[ADMIN])
        _switch(console, PAUSED)
        expect(page.get_by_test_id("attention-banner")).to_be_visible()
        assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
        for control in page.locator("main :is(button, select, input):visible").all():
            if control.evaluate("n => Boolean(n.closest('.table-wrap'))"):
                continue
            box = control.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 0.5
        console.shot("banner-phone")
