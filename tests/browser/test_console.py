"""The billing console in a real browser, against the seeded local stack.

As the demo agency's admin: every page, auto-recharge, add funds and numbered
receipts (HTML and PDF), a statement sent and opened (its status refreshing on its
own), the recurring schedule, CSV downloads, switching to a sub-account, errors in
words. As a sub-account's viewer: no agency data and no admin actions anywhere; as
a shared client's user: who bills them, not the agency's money. Money reads in cents
(the exact amount on hover, every digit in the Logs); the usage chart keeps fixed
fees off the scale of calls; every page is usable at 1,280x800 and on a phone
(390x844). Screenshots go to .local/screenshots/.
"""

from __future__ import annotations

import email
import itertools
import re
from datetime import timedelta
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, ViewportSize, expect

from devtools.run import Stack

from .conftest import PHONE, VIEWPORT, Console, console_tab, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ADMIN = "AGENCY_ADMIN_TOKEN"  # admin of agency_demo
VIEWER = "VIEWER_TOKEN"  # viewer of acct_own_1 (Harbor Plumbing, own balance)
OCTOBER = "Oct 1, 2026 \u2013 Oct 31, 2026"  # as the console writes a period (an en dash)
PAGES = ["Billing", "Printable Statements", "Logs", "Agency Dashboard", "Usage"]


def _api(stack: Stack, path: str, token: str = ADMIN) -> requests.Response:
    return requests.get(
        stack.config.api_url + path, headers={"Authorization": f"Bearer {_token(stack, token)}"}, timeout=10
    )


def _token(stack: Stack, name: str) -> str:
    """A demo token by name, or "viewer:<account>" / "admin:<account>" for any account."""
    if ":" not in name:
        return stack.tokens[name]
    from chalicelib.domain.access import Role
    from chalicelib.services.tokens import issue_token
    from tests.conftest import TEST_SECRET

    role, account = name.split(":", 1)
    return issue_token(TEST_SECRET, f"{role}@{account}", account, Role(role), timedelta(hours=1))


def _put(stack: Stack, path: str, body: dict[str, Any], token: str = ADMIN) -> requests.Response:
    headers = {"Authorization": f"Bearer {_token(stack, token)}"}
    return requests.put(stack.config.api_url + path, json=body, headers=headers, timeout=10)


def _is_blob(url: str) -> bool:
    return url.startswith("blob:")


def _heading(page: Page, name: str) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


# -- the files ---------------------------------------------------------------------------------


def test_console_files_are_served_without_a_token(stack: Stack) -> None:
    api = stack.config.api_url
    page = requests.get(f"{api}/console", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert '<script type="module" src="console/app.js">' in page.text
    for name, content_type in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("billing.js", "text/javascript; charset=utf-8"),
        ("charts.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
    ]:
        asset = requests.get(f"{api}/console/{name}", timeout=10)
        assert asset.status_code == 200, name
        assert asset.headers["Content-Type"] == content_type
        assert asset.headers["X-Content-Type-Options"] == "nosniff"
    for name in ["missing.js", "index.html", "..%2Fapi%2Fhttp.py", "console.py"]:
        missing = requests.get(f"{api}/console/{name}", timeout=10)
        assert missing.status_code == 404, name
        assert missing.json()["error"]["code"] == "not_found"


def _visible_at_its_centre(page: Page, locator: Any) -> bool:
    """Whether what the browser shows at the element's centre is the element itself (nothing on top)."""
    return bool(
        locator.evaluate(
            """node => {
                const box = node.getBoundingClientRect();
                const top = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
                return top === node || node.contains(top);
            }"""
        )
    )


# -- the agency admin --------------------------------------------------------------------------


def test_agency_admin_sees_every_page(console: Console, stack: Stack) -> None:
    page = console.page
    sign_in(console, stack.tokens[ADMIN])
    # The token left the address bar at once; it lives in this tab's sessionStorage.
    assert "token=" not in page.url
    assert page.url.endswith("/console#/billing")
    expect(page.locator("#who")).to_contain_text("Admin of Demo Agency")
    nav = page.get_by_role("navigation", name="Billing console")
    expect(nav.get_by_role("link")).to_have_text(PAGES)

    # Billing: balance, status, runway, auto-recharge, add funds, Payment History.
    balance = page.get_by_test_id("balance")
    expect(balance).to_contain_text(re.compile(r"\$\d[\d,]*\.\d+"))
    expect(balance).to_contain_text("Runway")
    expect(balance.locator(".badge")).to_have_text(re.compile("OK|Low|Past due"))
    expect(page.get_by_test_id("auto-recharge")).to_contain_text("Visa •••• 4242")
    expect(page.get_by_role("form", name="Change auto-recharge settings")).to_be_visible()
    expect(page.get_by_role("form", name="Add funds")).to_be_visible()
    history = page.get_by_role("region", name="Payment History")
    expect(history.get_by_role("row")).not_to_have_count(1)
    expect(history).to_contain_text("Manual payment")
    assert not console.alert()
    console.shot("admin-billing")

    console.open("Printable Statements")
    _heading(page, "Printable Statements")
    expect(page.get_by_role("form", name="Send a statement")).to_be_visible()
    expect(page.get_by_role("heading", name="Recurring statement")).to_be_visible()
    assert not console.alert()
    console.shot("admin-statements")

    console.open("Logs")
    _heading(page, "Logs")
    expect(page.get_by_label("Account", exact=True)).to_have_value("agency")  # the agency's logs: every account
    entries = page.get_by_role("region", name="Agency log entries, newest first")
    expect(entries.get_by_role("columnheader")).to_contain_text(
        ["Occurred", "Posted", "Account", "Category", "Description"]
    )
    expect(entries).to_contain_text("Brightside Dental")
    expect(entries).to_contain_text("Harbor Plumbing")
    console.shot("admin-logs")
    page.get_by_role("button", name="Older entries").click()
    console.wait_idle()
    expect(page.get_by_text("Page 2")).to_be_visible()
    expect(page.get_by_role("button", name="Newer entries")).to_be_enabled()

    console.open("Agency Dashboard")
    _heading(page, "Agency Dashboard")
    chart = page.get_by_role("img", name=re.compile("^Cost by sub-account"))
    expect(chart).to_be_visible()
    assert chart.locator("rect.bar-fill").count() == 4  # the agency and its three sub-accounts
    table = page.get_by_role("region", name="Activity and cost by account, highest cost first")
    for name in ["Brightside Dental", "Harbor Plumbing", "Thames Lettings", "Demo Agency"]:
        expect(table).to_contain_text(name)
    expect(page.get_by_test_id("agency-totals")).to_contain_text("Total cost")
    console.shot("admin-dashboard")

    console.open("Usage")
    _heading(page, "Usage")
    usage_chart = page.get_by_role("img", name=re.compile("^Cost of usage by month"))
    expect(usage_chart).to_be_visible()
    assert usage_chart.locator("rect").count() >= 3
    expect(page.get_by_role("region", name="Totals by category")).to_contain_text("Call minutes")
    expect(page.get_by_role("region", name="Cost by account")).to_contain_text("Thames Lettings")
    page.get_by_label("Group by").select_option("week")
    page.get_by_role("button", name="Show usage").click()
    console.wait_idle()
    expect(page.get_by_role("img", name=re.compile("^Cost of usage by week"))).to_be_visible()
    console.shot("admin-usage")
    assert not console.alert()


def test_admin_changes_auto_recharge(console: Console, stack: Stack) -> None:
    page = console.page
    sign_in(console, stack.tokens[ADMIN])
    form = page.get_by_role("form", name="Change auto-recharge settings")
    form.get_by_label("When the balance falls below (USD)").fill("120.00")
    form.get_by_label("Add this amount (USD)").fill("300.00")
    form.get_by_role("button", name="Save auto-recharge settings").click()
    expect(page.locator("#status")).to_have_text("Auto-recharge settings saved: on, adds $300.00 below $120.00.")
    console.wait_idle()
    expect(page.get_by_test_id("balance")).to_contain_text("On: adds $300.00 when the balance falls below $120.00")
    # The answer is also beside the button; the page's notice never covers a field as the page scrolls.
    panel = page.get_by_role("region", name="Auto-recharge", exact=True)
    expect(panel.locator(".feedback")).to_have_text("Auto-recharge settings saved: on, adds $300.00 below $120.00.")
    label = page.get_by_text("Alert recipients", exact=True).last
    for block in ("start", "center"):
        label.evaluate(f"node => node.scrollIntoView({{block: '{block}'}})")
        assert _visible_at_its_centre(page, label), f"the label is covered (scrolled to the {block})"
    console.shot("admin-billing-saved")
    settings = _api(stack, "/accounts/agency_demo/billing-settings").json()
    assert (settings["threshold"], settings["amount"], settings["auto_recharge_enabled"]) == ("120.00", "300.00", True)

    # Switched off, and a value the API refuses: its words are shown, nothing is saved.
    form = page.get_by_role("form", name="Change auto-recharge settings")
    form.get_by_label("Recharge automatically when the balance runs low").uncheck()
    form.get_by_role("button", name="Save auto-recharge settings").click()
    expect(page.locator("#status")).to_have_text("Auto-recharge settings saved: off.")
    console.wait_idle()
    form = page.get_by_role("form", name="Change auto-recharge settings")
    form.get_by_label("Add this amount (USD)").fill("twelve dollars")
    form.get_by_role("button", name="Save auto-recharge settings").click()
    expect(page.locator("#error")).to_contain_text("Could not save the auto-recharge settings: amount")
    assert _api(stack, "/accounts/agency_demo/billing-settings").json()["amount"] == "300.00"
    console.shot("admin-billing-error")

    # Back on, as the seed had it.
    form.get_by_label("Recharge automatically when the balance runs low").check()
    form.get_by_label("When the balance falls below (USD)").fill("100.00")
    form.get_by_label("Add this amount (USD)").fill("250.00")
    form.get_by_role("button", name="Save auto-recharge settings").click()
    expect(page.locator("#status")).to_contain_text("Auto-recharge settings saved: on")


def test_admin_adds_funds_with_a_fresh_idempotency_key_and_opens_the_receipt(console: Console, stack: Stack) -> None:
    page = console.page
    sign_in(console, stack.tokens[ADMIN])
    keys: list[str] = []
    page.on(
        "request",
        lambda request: (
            keys.append(request.headers.get("idempotency-key", ""))
            if request.method == "POST" and request.url.endswith("/payments")
            else None
        ),
    )
    form = page.get_by_role("form", name="Add funds")
    for amount in ["25.00", "25.00"]:
        form.get_by_label("Amount (USD)").fill(amount)
        form.get_by_role("button", name="Add funds").click()
        expect(page.locator("#status")).to_have_text("Added $25.00 to the balance (Visa •••• 4242).")
        console.wait_idle()
        page.locator("#status").evaluate("node => { node.textContent = '' }")
    # Two submits, two keys: the same amount twice is two payments, not a replay.
    assert len(keys) == 2 and all(key.startswith("console-") for key in keys) and keys[0] != keys[1]
    payments = _api(stack, "/accounts/agency_demo/payments?limit=2").json()["items"]
    assert [p["amount"] for p in payments] == ["25.00", "25.00"]

    history = page.get_by_role("region", name="Payment History")
    expect(history.get_by_role("row").nth(1)).to_contain_text("$25.00")
    # "View all" goes back in time: every payment, and then no more button.
    page.get_by_test_id("payments-more").click()
    console.wait_idle()
    expect(page.get_by_test_id("payments-more")).to_be_hidden()
    expect(page.get_by_text(re.compile(r"\d+ payments shown: that is all of them"))).to_be_visible()

    newest = _api(stack, "/accounts/agency_demo/payments?limit=1").json()["items"][0]
    number = f"No. {newest['receipt_number']}"
    expect(history.get_by_role("row").nth(1)).to_contain_text(number)
    with page.expect_popup() as popup:
        history.get_by_role("button", name=re.compile(rf"^Receipt {number} for \$25\.00 .*\(HTML\)$")).click()
    receipt = popup.value  # opened at once (about:blank), then pointed at the fetched document
    receipt.wait_for_url(_is_blob)
    body = receipt.locator("body")
    expect(body).to_contain_text("Payment receipt")
    expect(body).to_contain_text("25.00")
    expect(body).to_contain_text(f"Receipt {number}")
    expect(body).to_contain_text("Visa ending in 4242")
    expect(body).to_contain_text("Charges & Usage Demo Ltd")  # the company block
    expect(body).to_contain_text("Tax ID:")
    receipt.screenshot(path=str(console.shots / "admin-receipt.png"), full_page=True)
    receipt.close()
    pdfs: list[tuple[int, str]] = []
    page.on(
        "response",
        lambda r: pdfs.append((r.status, r.headers.get("content-type", ""))) if "/receipt/pdf" in r.url else None,
    )
    with page.expect_popup() as popup:
        history.get_by_role("button", name=re.compile(rf"^Receipt {number} for \$25\.00 .*\(PDF\)$")).click()
    popup.value.wait_for_url(_is_blob)
    assert pdfs == [(200, "application/pdf")]
    popup.value.close()

    # A declined card: the API's words, and the failed payment in the history.
    page.get_by_label("Viewing account").select_option("acct_own_2")
    page.get_by_role("button", name="Switch").click()
    console.wait_idle()
    form = page.get_by_role("form", name="Add funds")
    form.get_by_label("Amount (USD)").fill("30.00")
    form.get_by_role("button", name="Add funds").click()
    expect(page.locator("#error")).to_contain_text("Could not add funds:")
    expect(page.locator("#error")).to_contain_text("expired")
    console.wait_idle()
    # Nothing was charged: the amount is cleared for a new try (with another card), and the answer
    # is beside the button too.
    expect(form.get_by_label("Amount (USD)")).to_have_value("")
    expect(page.get_by_role("region", name="Add funds").locator(".feedback")).to_contain_text("Your card has expired")
    history = page.get_by_role("region", name="Payment History")
    first = history.get_by_role("row").nth(1)
    expect(first).to_contain_text("Failed")
    expect(first).to_contain_text("No receipt: not charged")  # a failed payment has no receipt link
    expect(first.get_by_role("button")).to_have_count(0)
    console.shot("admin-declined")


def test_admin_downloads_csv(console: Console, stack: Stack, tmp_path: Path) -> None:
    page = console.page
    sign_in(console, stack.tokens[ADMIN])
    console.open("Logs")
    page.get_by_label("Category").select_option("call_minutes")
    page.get_by_role("button", name="Show entries").click()
    console.wait_idle()
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename == "logs-agency_demo.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    lines = saved.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("id,account_id,account_name,billing_account_id,category")
    assert len(lines) > 10
    assert {line.split(",")[4] for line in lines[1:]} == {"call_minutes"}
    expect(page.locator("#status")).to_have_text("Downloaded logs-agency_demo.csv.")

    # One sub-account's usage: view that account (the switcher), its Usage shows it.
    page.get_by_label("Viewing account").select_option("acct_own_1")
    page.get_by_role("button", name="Switch").click()
    console.wait_idle()
    console.open("Usage")
    expect(page.get_by_label("Account", exact=True)).to_have_value("account:acct_own_1")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").click()
    assert download_info.value.suggested_filename == "usage-acct_own_1.csv"
    usage_csv = tmp_path / "usage.csv"
    download_info.value.save_as(usage_csv)
    assert "call_minutes" in usage_csv.read_text(encoding="utf-8")


def _statements_api(stack: Stack) -> bool:
    return _api(stack, "/accounts/agency_demo/statements").status_code == 200


def test_admin_sends_a_statement_and_opens_it(console: Console, stack: Stack) -> None:
    page = console.page
    sign_in(console, stack.tokens[ADMIN])
    console.open("Printable Statements")
    # No schedule yet: the schedule is not ticked on.
    expect(page.get_by_test_id("schedule-summary")).to_have_text("No recurring statement is set up.")
    schedule = page.get_by_role("form", name="Change the recurring statement")
    expect(schedule.get_by_label("Email a statement on a schedule")).not_to_be_checked()

    form = page.get_by_role("form", name="Send a statement")
    form.get_by_label("From").fill("2026-10-01")
    form.get_by_label("To (inclusive)").fill("2026-10-31")
    form.get_by_label("Email to").fill("billing@demo-agency.example, owner@demo-agency.example")
    form.get_by_role("button", name="Send statement").click()
    expect(page.locator("#status")).to_contain_text(f"Statement for {OCTOBER}")
    console.wait_idle()
    listing = page.get_by_role("region", name="Statements, newest first")
    first = listing.get_by_role("row").nth(1)
    expect(first).to_contain_text(OCTOBER)
    expect(first).to_contain_text("owner@demo-agency.example")

    # The pump sends it, and the list shows it sent on its own (nobody presses Refresh).
    initially = first.inner_text()
    refreshes = [r for r in console.requests if r.endswith("/statements?limit=20")]
    expect(page.get_by_role("region", name="Statements, newest first").get_by_role("row").nth(1)).to_contain_text(
        "Sent", timeout=30000
    )
    if "Sent" not in initially:  # it was queued when listed: the list asked again by itself
        assert len([r for r in console.requests if r.endswith("/statements?limit=20")]) > len(refreshes)
    first = page.get_by_role("region", name="Statements, newest first").get_by_role("row").nth(1)
    # The closing balance as the statement prints it: to the cent, the exact amount on hover.
    statement = _api(stack, "/accounts/agency_demo/statements?limit=1").json()["items"][0]
    closing = first.locator(".money")
    expect(closing).to_have_text(re.compile(r"^-?\$[\d,]+\.\d\d$"))
    assert closing.inner_text().replace("$", "").replace(",", "") == statement["closing_balance_display"]
    console.shot("admin-statements-sent")

    with page.expect_popup() as popup:
        first.get_by_role("button", name=f"Open the statement for {OCTOBER} as HTML").click()
    html = popup.value
    html.wait_for_url(_is_blob)
    expect(html.locator("body")).to_contain_text("Demo Agency")
    expect(html.locator("body")).to_contain_text("Charges & Usage Demo Ltd")  # the company block
    html.screenshot(path=str(console.shots / "admin-statement-html.png"), full_page=True)
    html.close()

    responses: list[tuple[int, str]] = []
    page.on(
        "response",
        lambda r: responses.append((r.status, r.headers.get("content-type", ""))) if r.url.endswith("/pdf") else None,
    )
    with page.expect_popup() as popup:
        first.get_by_role("button", name=f"Open the statement for {OCTOBER} as PDF").click()
    pdf = popup.value
    pdf.wait_for_url(_is_blob)
    assert responses == [(200, "application/pdf")]
    pdf.close()
    assert not console.alert()

    # The recurring schedule: monthly on the last day at 18:00, then weekly on Fridays at 06:00.
    schedule = page.get_by_role("form", name="Change the recurring statement")
    schedule.get_by_label("Email a statement on a schedule").check()
    schedule.get_by_label("How often").select_option("monthly")
    schedule.get_by_label("Day of the month").select_option("last")
    schedule.get_by_label("At (America/New_York)").select_option("18")
    schedule.get_by_label("Email to").fill("billing@demo-agency.example")
    schedule.get_by_role("button", name="Save schedule").click()
    expect(page.locator("#status")).to_contain_text(
        "Schedule saved: Monthly on the last day of the month at 18:00 (America/New_York), "
        "to billing@demo-agency.example"
    )
    console.wait_idle()
    saved = _api(stack, "/accounts/agency_demo/statement-schedule").json()
    assert (saved["frequency"], saved["day_of_month"], saved["hour"], saved["enabled"]) == ("monthly", "last", 18, True)
    next_send = page.get_by_test_id("schedule-next")
    expect(next_send).to_contain_text("Next statement:")
    expect(next_send).to_contain_text("6:00 PM")
    expect(next_send).to_contain_text("covering")
    console.shot("admin-statements-schedule-monthly")

    schedule = page.get_by_role("form", name="Change the recurring statement")
    expect(schedule.get_by_label("Email a statement on a schedule")).to_be_checked()
    schedule.get_by_label("How often").select_option("weekly")
    expect(schedule.get_by_label("Day of the month")).to_be_hidden()
    schedule.get_by_label("Day of the week").select_option("friday")
    schedule.get_by_label("At (America/New_York)").select_option("6")
    schedule.get_by_role("button", name="Save schedule").click()
    expect(page.locator("#status")).to_contain_text(
        "Schedule saved: Weekly on Fridays at 06:00 (America/New_York), to billing@demo-agency.example"
    )
    console.wait_idle()
    expect(page.get_by_test_id("schedule-summary")).to_contain_text("Weekly on Fridays at 06:00")
    expect(page.get_by_test_id("schedule-next")).to_contain_text("6:00 AM")
    saved = _api(stack, "/accounts/agency_demo/statement-schedule").json()
    assert (saved["frequency"], saved["weekday"], saved["enabled"]) == ("weekly", "friday", True)
    console.shot("admin-statements-schedule")


def _statement_email_html(stack: Stack, to: str) -> str:
    """The HTML part of the latest statement email to `to` (moto keeps what SES was given)."""
    raw = requests.get(f"{stack.config.moto_url}/moto-api/data.json", timeout=10).json()["ses"]["RawMessage"]
    for message in reversed(raw):
        parsed = email.message_from_string(message["raw_data"], policy=default_policy)
        if to in str(parsed["To"]) and str(parsed["Subject"]).startswith("Statement for"):
            part = parsed.get_body(preferencelist=("html",))
            assert part is not None
            return str(part.get_content())
    raise AssertionError(f"no statement email to {to}")


def test_the_statement_emails_chart_labels_stay_apart_over_a_long_range(
    console: Console, stack: Stack, browser: Browser
) -> None:
    page = console.page
    sign_in(console, stack.tokens[ADMIN])
    console.open("Printable Statements")
    form = page.get_by_role("form", name="Send a statement")
    form.get_by_label("From").fill("2026-09-01")
    form.get_by_label("To (inclusive)").fill("2026-11-30")
    to = "quarter@demo-agency.example"
    form.get_by_label("Email to").fill(to)
    form.get_by_role("button", name="Send statement").click()
    console.wait_idle()
    expect(page.get_by_role("region", name="Statements, newest first").get_by_role("row").nth(1)).to_contain_text(
        "Sent", timeout=30000
    )
    # The email as a mail client shows it: 91 days of bars, labelled by month.
    mail = browser.new_page(viewport={"width": 760, "height": 900})
    try:
        mail.set_content(_statement_email_html(stack, to))
        labels = [text.strip() for text in mail.locator("tr.axis td").all_inner_texts() if text.strip()]
        assert labels == ["Sep 2026", "Oct", "Nov"], labels
        boxes = [cell.bounding_box() for cell in mail.locator("tr.axis td").all() if cell.inner_text().strip()]
        for left, right in itertools.pairwise(boxes):
            assert left is not None and right is not None and left["x"] + left["width"] <= right["x"]
        expect(mail.locator("table.chart")).to_be_visible()
        expect(mail.locator("body")).to_contain_text("minutes")  # quantities with their unit
        mail.screenshot(path=str(console.shots / "statement-email-quarter.png"), full_page=True)
    finally:
        mail.close()


def test_agency_user_switches_to_a_sub_account(console: Console, stack: Stack) -> None:
    page = console.page
    sign_in(console, stack.tokens[ADMIN])
    switcher = page.get_by_label("Viewing account")
    expect(switcher.locator("option")).to_have_text(
        ["Demo Agency (agency)", "Brightside Dental (shared billing)", "Harbor Plumbing", "Thames Lettings"]
    )
    switcher.select_option("acct_shared")
    page.get_by_role("button", name="Switch").click()
    console.wait_idle()
    expect(page.locator(".context")).to_contain_text("Brightside Dental (acct_shared)")
    expect(page.get_by_role("heading", name="Auto-recharge and payments")).to_be_visible()
    expect(page.get_by_text("draws from Demo Agency's balance (shared billing)")).to_be_visible()
    expect(page.get_by_role("form", name="Add funds")).to_have_count(0)
    console.shot("admin-shared-sub-account")
    page.get_by_role("button", name="Go to Demo Agency").click()
    console.wait_idle()
    expect(page.locator(".context")).to_contain_text("Demo Agency (agency_demo)")

    # From the dashboard's table to a sub-account's billing.
    console.open("Agency Dashboard")
    page.get_by_role("button", name="Harbor Plumbing: open its billing").click()
    console.wait_idle()
    _heading(page, "Billing")
    expect(page.locator(".context")).to_contain_text("Harbor Plumbing (acct_own_1)")
    expect(switcher).to_have_value("acct_own_1")


def test_keyboard_skip_link_and_navigation(console: Console, stack: Stack) -> None:
    page = console.page
    sign_in(console, stack.tokens[ADMIN])
    page.keyboard.press("Tab")
    expect(page.locator("#skip-link")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
    assert page.url.endswith("#/billing")  # the route is untouched
    logs = page.get_by_role("link", name="Logs")
    logs.focus()
    page.keyboard.press("Enter")
    console.wait_idle()
    _heading(page, "Logs")
    expect(page.get_by_role("heading", level=1)).to_be_focused()
    expect(logs).to_have_attribute("aria-current", "page")


def test_sign_in_by_pasting_a_token_and_a_rejected_token(console: Console, stack: Stack) -> None:
    page = console.page
    page.goto(f"{stack.config.api_url}/console")
    _heading(page, "Sign in to the billing console")
    page.get_by_label("Bearer token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#error")).to_contain_text("That token cannot be used")
    page.get_by_label("Bearer token").fill(stack.tokens[VIEWER])
    page.get_by_role("button", name="Sign in").click()
    _heading(page, "Billing")
    console.wait_idle()
    expect(page.locator("#who")).to_contain_text("Viewer of Harbor Plumbing")
    page.get_by_role("button", name="Sign out").click()
    _heading(page, "Sign in to the billing console")

    # A well-formed token the API does not accept (another secret): its words, and sign-in again.
    header, payload, _ = stack.tokens[VIEWER].split(".")
    page.goto(f"{stack.config.api_url}/console#token={header}.{payload}.c2lnbmF0dXJl")
    _heading(page, "Sign in to the billing console")
    expect(page.locator("#error")).to_contain_text("The API did not accept your token")
    console.shot("sign-in-rejected")


# -- a sub-account's viewer --------------------------------------------------------------------


def test_viewer_sees_no_agency_data_and_no_admin_actions(console: Console, stack: Stack) -> None:
    page = console.page
    sign_in(console, stack.tokens[VIEWER])
    expect(page.locator("#who")).to_contain_text("Viewer of Harbor Plumbing")
    nav = page.get_by_role("navigation", name="Billing console")
    expect(nav.get_by_role("link")).to_have_text(["Billing", "Printable Statements", "Logs", "Usage"])
    expect(page.locator("#account-switch")).to_be_hidden()

    expect(page.get_by_test_id("balance")).to_contain_text("Balance")
    expect(page.get_by_test_id("auto-recharge")).to_be_visible()  # read-only
    expect(page.locator("main form")).to_have_count(0)
    expect(page.get_by_role("button", name="Save auto-recharge settings")).to_have_count(0)
    expect(page.get_by_role("button", name="Add funds")).to_have_count(0)
    console.shot("viewer-billing")
    seen = [page.locator("body").inner_text()]

    console.open("Printable Statements")
    expect(page.locator("main form")).to_have_count(0)
    expect(page.get_by_role("button", name="Send statement")).to_have_count(0)
    console.shot("viewer-statements")
    seen.append(page.locator("body").inner_text())

    console.open("Logs")
    expect(page.get_by_label("Account", exact=True)).to_have_count(0)
    entries = page.get_by_role("region", name="Log entries, newest first")
    expect(entries.get_by_role("columnheader")).to_have_text(
        ["Occurred", "Posted", "Category", "Description", "Quantity", "Amount", "Balance after"]
    )
    console.shot("viewer-logs")
    seen.append(page.locator("body").inner_text())

    console.open("Usage")
    expect(page.get_by_label("Account", exact=True)).to_have_count(0)
    expect(page.get_by_role("img", name=re.compile("Harbor Plumbing"))).to_be_visible()
    console.shot("viewer-usage")
    seen.append(page.locator("body").inner_text())

    # The dashboard is not offered, and asking for it by address lands on Billing.
    page.goto(f"{stack.config.api_url}/console#/dashboard")
    _heading(page, "Billing")
    console.wait_idle()

    seen.append(page.locator("body").inner_text())
    for text in ["Demo Agency", "agency_demo", "Brightside", "Thames", "Agency Dashboard"]:
        assert not [body for body in seen if text in body], f"{text!r} shown to a sub-account's viewer"
    assert not [r for r in console.requests if "/agencies/" in r], "a sub-account's console asked for agency data"
    assert not console.alert()


# -- money, receipts and units as people read them ---------------------------------------------


def test_money_reads_in_cents_with_the_exact_amount_kept(console: Console, stack: Stack) -> None:
    page = console.page
    sign_in(console, stack.tokens[ADMIN])
    balance = _api(stack, "/accounts/agency_demo/balance").json()
    shown = page.get_by_test_id("balance").locator(".big .money")
    expect(shown).to_have_text(re.compile(r"^-?\$[\d,]+\.\d\d$"))
    if len(balance["balance"].split(".")[1]) > 2:  # sub-cent: the exact amount is the hover title
        expect(shown).to_have_attribute("title", f"Exactly ${balance['balance']}")
    runway = page.get_by_test_id("balance").get_by_text(re.compile(r"a day \(average"))
    expect(runway).to_have_text(re.compile(r"^at \$\d+\.\d\d a day \(average of the last 30 days\)$"))

    console.open("Agency Dashboard")
    table = page.get_by_role("region", name="Activity and cost by account, highest cost first")
    for text in table.locator("td .money").all_inner_texts():
        assert re.fullmatch(r"-?\$[\d,]+\.\d\d", text), text
    expect(page.get_by_test_id("agency-totals").locator(".money")).to_have_text(re.compile(r"^\$[\d,]+\.\d\d$"))

    # The Logs keep every digit: a minute costs $0.0125.
    console.open("Logs")
    page.get_by_label("Category").select_option("call_minutes")
    page.get_by_role("button", name="Show entries").click()
    console.wait_idle()
    amounts = page.get_by_role("region", name="Agency log entries, newest first").locator("td.num .debit")
    assert any(re.fullmatch(r"-\$\d+\.\d{3,6}", text) for text in amounts.all_inner_texts())

    # The same rules in the module itself (half away from zero, exact digits, no float).
    results = page.evaluate(
        """async () => {
            const f = await import("./console/format.js");
            return [f.money("581.5258", "USD"), f.money("-2.005", "USD"), f.money("-0.004", "EUR"),
                    f.money("0.125", "GBP"), f.exactMoney("581.5258", "USD"), f.perDay("4.63376", "USD"),
                    f.quantity("1328", "minute"), f.quantity("1", "number"), f.quantity("2.5", "minute"),
                    f.money("99999999999.995", "USD")];
        }"""
    )
    assert results == [
        "$581.53",
        "-$2.01",
        "€0.00",
        "£0.13",
        "$581.5258",
        "$4.63 a day",
        "1,328 minutes",
        "1 number",
        "2.5 minutes",
        "$100,000,000,000.00",
    ]


def test_usage_keeps_fixed_fees_off_the_scale_of_calls_and_counts_read_with_units(
    console: Console, stack: Stack
) -> None:
    page = console.page
    sign_in(console, stack.tokens[ADMIN])
    console.open("Usage")
    page.get_by_label("From").fill("2026-11-01")
    page.get_by_label("To (inclusive)").fill("2026-11-30")
    page.get_by_label("Group by").select_option("day")
    page.get_by_role("button", name="Show usage").click()
    console.wait_idle()
    chart = page.get_by_role("img", name=re.compile("^Cost of usage by day"))
    expect(chart).to_be_visible()
    usage = chart.locator("g.panel[data-panel='usage']")
    fees = chart.locator("g.panel[data-panel='fees']")
    expect(usage.locator("text.panel-title")).to_contain_text("Usage: calls and texts")
    expect(fees.locator("text.panel-title")).to_contain_text("Fixed fees")
    # Each on its own scale: the busiest day of calls fills most of its panel, though the 1st's
    # plan fees are a hundred times a day of calls.
    usage_heights = [
        float(h) for h in usage.locator("rect").evaluate_all("rs => rs.map(r => r.getAttribute('height'))")
    ]
    panel_height = usage.locator("line.baseline").evaluate("l => l.y1.baseVal.value") - usage.locator(
        "line.grid"
    ).last.evaluate("l => l.y1.baseVal.value")
    assert usage_heights and max(usage_heights) >= 0.4 * panel_height, (max(usage_heights), panel_height)
    assert not usage.locator("rect[data-category='subscription_fees']").count()
    assert fees.locator("rect[data-category='subscription_fees']").count() >= 1
    chart.screenshot(path=str(console.shots / "admin-usage-by-day.png"))

    totals = page.get_by_role("region", name="Totals by category")
    minutes = totals.get_by_role("row", name=re.compile("^Call minutes")).locator("td").nth(1)
    expect(minutes).to_have_text(re.compile(r"^\d{1,3}(,\d{3})* minutes$"))
    expect(totals.get_by_role("row", name=re.compile("^Number renewals")).locator("td").nth(1)).to_have_text(
        re.compile(r"^\d+ numbers?$")
    )


def test_a_shared_clients_user_sees_who_bills_them_not_the_agencys_money(console: Console, stack: Stack) -> None:
    page = console.page
    sign_in(console, _token(stack, "viewer:acct_shared"))
    box = page.get_by_test_id("balance")
    expect(box).to_contain_text("Billed by")
    expect(box).to_contain_text("Demo Agency")
    expect(box).to_contain_text("Not shared")
    expect(box).not_to_contain_text("$")
    expect(page.get_by_text("Runway")).to_have_count(0)
    console.shot("shared-client-billing")
    console.open("Logs")
    columns = page.get_by_role("region", name="Log entries, newest first").get_by_role("columnheader")
    expect(columns).to_have_text(["Occurred", "Posted", "Category", "Description", "Quantity", "Amount"])
    console.shot("shared-client-logs")

    # The agency opts in: its balance and status reach its clients; runway and settings do not.
    assert _put(stack, "/accounts/agency_demo/billing-settings", {"share_balance_with_sub_accounts": True}).ok
    try:
        console.open("Billing")
        agency_balance = _api(stack, "/accounts/agency_demo/balance").json()["balance"]
        shown = page.get_by_test_id("balance").locator(".money")
        expect(shown).to_have_text(re.compile(r"^\$[\d,]+\.\d\d$"))
        assert shown.get_attribute("data-exact") in (None, f"${agency_balance}")
        expect(page.get_by_test_id("balance")).to_contain_text("Demo Agency's balance")
        expect(page.get_by_text("Runway")).to_have_count(0)
        console.shot("shared-client-billing-balance-shared")
    finally:
        assert _put(stack, "/accounts/agency_demo/billing-settings", {"share_balance_with_sub_accounts": False}).ok
    assert not console.alert()


def test_the_agency_chooses_whether_its_clients_see_its_balance(console: Console, stack: Stack) -> None:
    page = console.page
    sign_in(console, stack.tokens[ADMIN])
    form = page.get_by_role("form", name="Change auto-recharge settings")
    share = form.get_by_label("Show this balance and its status to the users of sub-accounts on shared billing")
    expect(share).not_to_be_checked()
    share.check()
    form.get_by_role("button", name="Save auto-recharge settings").click()
    expect(page.locator("#status")).to_contain_text("Auto-recharge settings saved")
    console.wait_idle()
    assert _api(stack, "/accounts/agency_demo/billing-settings").json()["share_balance_with_sub_accounts"] is True
    expect(page.get_by_test_id("auto-recharge")).to_contain_text("Yes: their users see this balance")
    shared = _api(stack, "/accounts/acct_shared/balance", "viewer:acct_shared").json()
    assert shared["balance_visible"] is True and shared["runway_days"] is None
    form = page.get_by_role("form", name="Change auto-recharge settings")
    form.get_by_label("Show this balance and its status to the users of sub-accounts on shared billing").uncheck()
    with page.expect_response(lambda r: r.request.method == "PUT" and r.url.endswith("/billing-settings")) as saved:
        form.get_by_role("button", name="Save auto-recharge settings").click()
    assert saved.value.ok
    console.wait_idle()
    assert _api(stack, "/accounts/acct_shared/balance", "viewer:acct_shared").json()["balance"] is None
    # A sub-account with its own balance has nobody to share it with: no such choice.
    page.get_by_label("Viewing account").select_option("acct_own_1")
    page.get_by_role("button", name="Switch").click()
    console.wait_idle()
    expect(page.get_by_text("Show this balance and its status")).to_have_count(0)


# -- every page, on a laptop and on a phone ------------------------------------------------------

SIZES = [pytest.param(VIEWPORT, id="1280x800"), pytest.param(PHONE, id="390x844")]


@pytest.mark.parametrize("viewport", SIZES)
@pytest.mark.parametrize(
    ("token", "pages"),
    [
        pytest.param(ADMIN, PAGES, id="agency-admin"),
        pytest.param(VIEWER, ["Billing", "Printable Statements", "Logs", "Usage"], id="viewer"),
        pytest.param("viewer:acct_shared", ["Billing", "Printable Statements", "Logs", "Usage"], id="shared-client"),
    ],
)
def test_every_page_is_usable_on_a_laptop_and_on_a_phone(
    browser: Browser, stack: Stack, screenshots: Path, viewport: ViewportSize, token: str, pages: list[str]
) -> None:
    width = viewport["width"]
    with console_tab(browser, stack, screenshots, viewport) as console:
        page = console.page
        sign_in(console, _token(stack, token))
        for name in pages:
            console.open(name)
            _heading(page, name)
            # Nothing is wider than the screen: wide tables scroll inside their own box.
            assert page.evaluate("document.scrollingElement.scrollWidth") <= width, name
            # The navigation, the page's forms and buttons are on the screen and can be reached.
            for link in page.get_by_role("navigation", name="Billing console").get_by_role("link").all():
                box = link.bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, name
            controls = "main :is(button, select, input):visible"
            for control in page.locator(controls).all():
                if control.evaluate("n => Boolean(n.closest('.table-wrap'))"):
                    continue  # in a table that scrolls sideways inside its box (checked below)
                box = control.bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (
                    name,
                    control.evaluate("n => n.outerHTML.slice(0, 80)"),
                )
            for wrap in page.locator("main .table-wrap").all():
                box = wrap.bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, name
                # Wider than the screen: it scrolls, and takes the keyboard (a focusable region).
                assert wrap.evaluate("n => n.scrollWidth <= n.clientWidth || getComputedStyle(n).overflowX === 'auto'")
                assert wrap.get_attribute("tabindex") == "0"
            for chart in page.locator("svg.chart").all():
                box = chart.bounding_box()
                assert box is not None and box["width"] <= width and box["height"] > 60, name
            assert not console.alert(), (name, console.alert())
            slug = token.replace(":", "-").lower().replace("_token", "")
            console.shot(f"{slug}-{name.lower().replace(' ', '-')}-{width}")
