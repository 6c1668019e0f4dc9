"""Statements against DynamoDB Local and moto: built from rollups, payments and boundaries; sent once."""

from __future__ import annotations

import io
import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pypdf
import pytest
from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.adapters.accounts_repo import AccountRepository
from chalicelib.adapters.ledger_repo import LedgerRepository
from chalicelib.adapters.tables.balance_days import BalanceDayRecord
from chalicelib.adapters.tables.base import bind
from chalicelib.domain.categories import USAGE_CATEGORIES
from chalicelib.domain.payments import PaymentStatus
from chalicelib.domain.periods import local_range
from chalicelib.domain.statement import Statement
from chalicelib.services.statements import build_numbers

from .email_helpers import read_sent_emails, sent_email
from .http_helpers import (
    admin,
    agency_with_subs,
    assert_error,
    make_client,
    new_id,
    ok_json,
    provision,
    send,
    viewer,
)
from .statement_helpers import card_payment, event, last_month, post_at, run_statement_queue

NY = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def client(aws: Any) -> Client:
    return make_client()


def inbox() -> str:
    return f"{new_id('stmt')}@example.org"


def funded_account(client: Client, zone: str = "America/New_York", name: str | None = None, **fields: Any) -> str:
    account_id = provision(client, new_id("acct"), time_zone=zone, **({"name": name} if name else {}), **fields)
    return account_id


def month_with_activity(account_id: str, zone: ZoneInfo = NY) -> tuple[date, date]:
    """Last month: a recharge before it, usage and a payment in it, a late call posted after it."""
    first_dt, last_dt = last_month(datetime.now(UTC), zone)
    before = first_dt - timedelta(days=3)
    post_at(before, [event(account_id, "recharge", before, amount="40.00")])
    mid = first_dt + timedelta(days=9, hours=10)
    card_payment(account_id, 25_000_000, mid)
    post_at(
        mid + timedelta(seconds=2),
        [
            event(account_id, "recharge", mid, amount="25.00", metadata={"payment": "1"}),
            event(account_id, "call_minutes", mid, quantity="12"),
            event(account_id, "text_messages", mid, quantity="5"),
        ],
    )
    end_of_month = last_dt.replace(hour=23, minute=59, second=58)
    # Occurred on the last day, posted 3 s into the next month: a posting-date difference.
    post_at(end_of_month + timedelta(seconds=5), [event(account_id, "call_minutes", end_of_month, quantity="2")])
    return first_dt.date(), last_dt.date()


# -- sending on request ----------------------------------------------------------------------------


def test_a_statement_is_emailed_as_one_message_with_three_parts_and_read_back_the_same(client, moto_endpoint):
    account = funded_account(client, name='Acme <b>"Plumbing"</b> & Co')
    first, last = month_with_activity(account)
    to = inbox()
    body = {"from": first.isoformat(), "to": last.isoformat(), "recipients": [to, to.upper()]}
    answer = ok_json(send(client, "POST", f"/accounts/{account}/statements", admin(account), body), 202)
    sid = answer["statement_id"]
    assert answer["status"] == "queued"
    assert [o.value for o in run_statement_queue()] == ["sent"]

    stored = ok_json(send(client, "GET", f"/accounts/{account}/statements/{sid}", viewer(account)))
    assert stored["status"] == "sent" and stored["recipients"] == [to]
    mail = sent_email(moto_endpoint, stored["ses_message_id"])
    assert mail["leaf_types"] == ["text/plain", "text/html", "application/pdf"]
    assert mail["to"] == [to]
    assert mail["subject"].strip().startswith('Statement for Acme <b>"Plumbing"</b> & Co')
    numbers = stored["statement"]
    closing = "$" + numbers["closing_balance_display"]
    assert closing in mail["text"] and closing in mail["html"]
    assert "&lt;b&gt;" in mail["html"] and "<b>" not in mail["html"]
    # The PDF fetched later is the very PDF that was emailed.
    [filename] = mail["attachments"]
    response = send(
        client, "GET", f"/accounts/{account}/statements/{sid}/pdf", {**viewer(account), "Accept": "application/pdf"}
    )
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/pdf"
    assert response.body == mail["attachment_data"][filename]
    assert stored["pdf_sha256"] is not None
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(response.body)).pages)
    assert closing in text and "Closing balance" in text
    html = send(client, "GET", f"/accounts/{account}/statements/{sid}/html", viewer(account))
    assert html.headers["Content-Type"].startswith("text/html")
    assert closing in html.body.decode() and "&lt;b&gt;&#34;Plumbing&#34;&lt;/b&gt;" in html.body.decode()

    # The numbers: the month's usage, the payment, the balances; and they add up.
    assert numbers["opening_balance"] == "40.00"
    assert [c["amount"] for c in numbers["card_charges"]] == ["25.00"]
    assert {r["category"]: r["count"] for r in numbers["usage"]} == {"call_minutes": 2, "text_messages": 1}
    # The late call: usage has it, the closing balance does not yet, so the difference is a credit.
    late = next(line for line in numbers["credits"] if line["key"] == "posting_difference")
    assert late["amount"] == "0.025"
    assert numbers["period"]["time_zone"] == "America/New_York"


def test_the_numbers_are_frozen_when_built(client):
    account = funded_account(client)
    first, last = month_with_activity(account)
    body = {"from": first.isoformat(), "to": last.isoformat(), "recipients": [inbox()]}
    sid = ok_json(send(client, "POST", f"/accounts/{account}/statements", admin(account), body), 202)["statement_id"]
    before = ok_json(send(client, "GET", f"/accounts/{account}/statements/{sid}", viewer(account)))["statement"]
    html_before = send(client, "GET", f"/accounts/{account}/statements/{sid}/html", viewer(account)).body
    # A late event for that month arrives afterwards: the stored statement does not move.
    late = datetime.combine(first + timedelta(days=3), datetime.min.time(), tzinfo=NY)
    post_at(datetime.now(UTC), [event(account, "number_renewals", late, quantity="1")])
    run_statement_queue()
    after = ok_json(send(client, "GET", f"/accounts/{account}/statements/{sid}", viewer(account)))["statement"]
    assert after == before
    assert send(client, "GET", f"/accounts/{account}/statements/{sid}/html", viewer(account)).body == html_before
    # A new statement for the same month sees it.
    sid2 = ok_json(send(client, "POST", f"/accounts/{account}/statements", admin(account), body), 202)["statement_id"]
    fresh = ok_json(send(client, "GET", f"/accounts/{account}/statements/{sid2}", viewer(account)))["statement"]
    assert {r["category"] for r in fresh["usage"]} == {"call_minutes", "text_messages", "number_renewals"}


def test_statements_are_listed_newest_first_with_a_cursor_bound_to_the_account(client):
    account, other = funded_account(client), funded_account(client)
    first, last = month_with_activity(account)
    month_with_activity(other)
    body = {"from": first.isoformat(), "to": last.isoformat(), "recipients": [inbox()]}
    ids = [
        ok_json(send(client, "POST", f"/accounts/{account}/statements", admin(account), body), 202)["statement_id"]
        for _ in range(3)
    ]
    ok_json(send(client, "POST", f"/accounts/{other}/statements", admin(other), body), 202)
    page = ok_json(send(client, "GET", f"/accounts/{account}/statements?limit=2", viewer(account)))
    assert [i["id"] for i in page["items"]] == ids[::-1][:2]
    assert page["items"][0]["status"] == "queued" and page["items"][0]["from"] == first.isoformat()
    rest = ok_json(
        send(client, "GET", f"/accounts/{account}/statements?limit=2&cursor={page['next_cursor']}", viewer(account))
    )
    assert [i["id"] for i in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    assert_error(
        send(client, "GET", f"/accounts/{other}/statements?limit=2&cursor={page['next_cursor']}", viewer(other)),
        400,
        "bad_request",
        mentions="cursor",
    )
    # Another account's statement id is not found through this account.
    assert_error(send(client, "GET", f"/accounts/{other}/statements/{ids[0]}", viewer(other)), 404)
    run_statement_queue()


BAD_BODIES = [
    ({"from": "2026-01-01", "to": "2026-01-31"}, "recipients"),
    ({"from": "2026-01-01", "to": "2026-01-31", "recipients": []}, "recipients"),
    ({"from": "2026-01-01", "to": "2026-01-31", "recipients": "a@example.com"}, "recipients"),
    ({"from": "2026-01-01", "to": "2026-01-31", "recipients": ["not-an-address"]}, "recipients"),
    ({"from": "2026-01-01", "to": "2026-01-31", "recipients": ["a@example.com\r\nBcc: x@y.z"]}, "recipients"),
    ({"from": "2026-01-01", "to": "2026-01-31", "recipients": [f"a{i}@example.com" for i in range(11)]}, "recipients"),
    ({"from": "2026-01-31", "to": "2026-01-01", "recipients": ["a@example.com"]}, "before"),
    ({"from": "2024-01-01", "to": "2025-12-31", "recipients": ["a@example.com"]}, "at most"),
    ({"from": "2026-1-1", "to": "2026-01-31", "recipients": ["a@example.com"]}, "YYYY-MM-DD"),
    ({"from": 20260101, "to": "2026-01-31", "recipients": ["a@example.com"]}, "dates"),
    ({"from": "2999-01-01", "to": "2999-01-31", "recipients": ["a@example.com"]}, "today"),
    ({"to": "2026-01-31", "recipients": ["a@example.com"]}, "from"),
    ({"from": "2026-01-01", "to": "2026-01-31", "recipients": ["a@example.com"], "cc": []}, "unknown"),
    ([], "body"),
]


@pytest.mark.parametrize(("body", "mentions"), BAD_BODIES)
def test_bad_requests_are_400(client, body, mentions):
    account = funded_account(client)
    assert_error(send(client, "POST", f"/accounts/{account}/statements", admin(account), body), 400, mentions=mentions)


def test_other_bad_input_is_4xx_never_5xx(client):
    account = funded_account(client)
    url = f"/accounts/{account}/statements"
    assert_error(send(client, "POST", url, admin(account), raw=b"{not json"), 400)
    assert_error(send(client, "GET", f"{url}?limit=0", viewer(account)), 400)
    assert_error(send(client, "GET", f"{url}?cursor=garbage", viewer(account)), 400)
    assert_error(send(client, "GET", f"{url}/nope", viewer(account)), 404)
    assert_error(send(client, "GET", f"{url}/st_{'0' * 24}", viewer(account)), 404)
    assert_error(send(client, "GET", f"{url}/st_{'0' * 24}/pdf", {**viewer(account), "Accept": "application/pdf"}), 404)
    assert_error(send(client, "GET", f"{url}/st_{'0' * 24}/html", viewer(account)), 404)
    sched = f"/accounts/{account}/statement-schedule"
    for body in (
        {},
        {"frequency": "hourly", "recipients": ["a@example.com"]},
        {"frequency": "weekly", "recipients": ["a@example.com"]},
        {"frequency": "weekly", "weekday": "funday", "recipients": ["a@example.com"]},
        {"frequency": "monthly", "weekday": "monday", "recipients": ["a@example.com"]},
        {"frequency": "monthly", "recipients": ["a@example.com"], "enabled": "yes"},
        {"frequency": "monthly", "recipients": []},
        {"frequency": "monthly", "recipients": ["a@example.com"], "at": "06:00"},
        ["monthly"],
    ):
        assert_error(send(client, "PUT", sched, admin(account), body), 400)
    assert_error(send(client, "PUT", sched, admin(account), raw=b"nope"), 400)


def test_viewers_cannot_send_or_schedule_and_shared_billing_is_422(client):
    agency, shared, own = agency_with_subs(client)
    body = {"from": "2026-01-01", "to": "2026-01-31", "recipients": ["a@example.com"]}
    schedule = {"frequency": "monthly", "recipients": ["a@example.com"]}
    for account in (agency, own):
        assert_error(send(client, "POST", f"/accounts/{account}/statements", viewer(account), body), 403, "forbidden")
        assert_error(
            send(client, "PUT", f"/accounts/{account}/statement-schedule", viewer(account), schedule), 403, "forbidden"
        )
    assert_error(send(client, "POST", f"/accounts/{shared}/statements", admin(shared), body), 422, "shared_billing")
    assert_error(
        send(client, "PUT", f"/accounts/{shared}/statement-schedule", admin(shared), schedule), 422, "shared_billing"
    )
    listed = ok_json(send(client, "GET", f"/accounts/{shared}/statements", viewer(shared)))
    assert listed["items"] == [] and listed["paid_by"]["account_id"] == agency


def test_a_statement_whose_ledger_does_not_add_up_is_refused_409_and_never_sent(client, moto_endpoint):
    account = funded_account(client)
    first, last = month_with_activity(account)
    # Tamper with a posting day the boundary balances are read from.
    bind()
    days = [r for r in BalanceDayRecord.scan() if r.bucket_key.endswith(f"#{account}")]
    assert days
    record = max(days, key=lambda r: r.bucket_key)
    record.update(actions=[BalanceDayRecord.closing_micros.set(int(record.closing_micros) + 10_000)])
    to = inbox()
    body = {"from": first.isoformat(), "to": last.isoformat(), "recipients": [to]}
    error = assert_error(send(client, "POST", f"/accounts/{account}/statements", admin(account), body), 409)
    assert error["code"] == "statement_does_not_reconcile" and "do not link up" in error["message"]
    assert run_statement_queue() == []
    assert read_sent_emails(moto_endpoint, to=to) == []
    assert ok_json(send(client, "GET", f"/accounts/{account}/statements", viewer(account)))["items"] == []


def test_an_agency_statement_breaks_down_shared_sub_accounts_and_lists_own_ones(client, moto_endpoint):
    agency = provision(client, new_id("agency"), kind="agency", time_zone="America/New_York", name="Agency <i>One</i>")
    shared = provision(
        client, new_id("shared"), agency_id=agency, billing="agency", time_zone="America/New_York", name="<b>Shared</b>"
    )
    own = provision(client, new_id("own"), agency_id=agency, time_zone="America/New_York", name="Own & Sons")
    first_dt, last_dt = last_month(datetime.now(UTC), NY)
    mid = first_dt + timedelta(days=4, hours=12)
    post_at(first_dt - timedelta(days=1), [event(agency, "recharge", first_dt - timedelta(days=1), amount="100")])
    post_at(first_dt - timedelta(days=1), [event(own, "recharge", first_dt - timedelta(days=1), amount="30")])
    post_at(
        mid,
        [
            event(agency, "call_minutes", mid, quantity="10"),
            event(shared, "text_messages", mid, quantity="8"),
            event(shared, "subscription_fees", mid, quantity="1", amount="9.99"),
            event(own, "call_minutes", mid, quantity="4"),
            event(agency, "adjustment", mid, amount="2.50", description="Goodwill"),
        ],
    )
    card_payment(own, 30_000_000, mid)
    card_payment(agency, 50_000_000, mid + timedelta(hours=1), PaymentStatus.FAILED)
    to = inbox()
    body = {"from": first_dt.date().isoformat(), "to": last_dt.date().isoformat(), "recipients": [to]}
    sid = ok_json(send(client, "POST", f"/accounts/{agency}/statements", admin(agency), body), 202)["statement_id"]
    run_statement_queue()
    numbers = ok_json(send(client, "GET", f"/accounts/{agency}/statements/{sid}", viewer(agency)))["statement"]
    breakdown = {a["account_id"]: a for a in numbers["accounts"]}
    assert list(breakdown) == [agency, shared]
    assert breakdown[shared]["role"] == "shared" and breakdown[shared]["usage_total"] == "10.0532"
    assert breakdown[agency]["usage_total"] == "0.125"
    assert numbers["usage_total"] == "10.1782"
    assert [o["account_id"] for o in numbers["own_billing_accounts"]] == [own]
    assert numbers["own_billing_accounts"][0]["card_charges"] == "30.00"
    assert numbers["own_billing_accounts"][0]["closing_balance"] == "29.95"
    assert [(c["status"], c["amount"]) for c in numbers["card_charges"]] == [("failed", "50.00")]
    assert numbers["card_charges_total"] == "0.00"
    assert numbers["opening_balance"] == "100.00"
    assert numbers["closing_balance"] == "92.3218"  # 100 + 2.50 - 10.1782
    assert [(line["key"], line["amount"]) for line in numbers["credits"]] == [
        ("recharges", "0.00"),
        ("adjustments", "2.50"),
    ]
    html = send(client, "GET", f"/accounts/{agency}/statements/{sid}/html", viewer(agency)).body.decode()
    for name in ("Agency &lt;i&gt;One&lt;/i&gt;", "&lt;b&gt;Shared&lt;/b&gt;", "Own &amp; Sons"):
        assert name in html
    assert "<b>Shared</b>" not in html and "<i>One</i>" not in html
    [mail] = read_sent_emails(moto_endpoint, to=to)
    assert "&lt;b&gt;Shared&lt;/b&gt;" in mail["html"] and "<b>Shared</b>" in mail["text"]
    # A sub-account's own statement is its own balance.
    assert AccountRepository().get(own) is not None


# -- property: random ledgers through DynamoDB ---------------------------------------------------

CATS = ["call_minutes", "text_messages", "number_renewals", "subscription_fees", "recharge", "adjustment"]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    zone=st.sampled_from(["America/New_York", "Europe/London", "Asia/Kolkata"]),
    rows=st.lists(
        st.tuples(
            st.sampled_from(CATS),
            st.integers(1, 30_000_000),
            st.integers(0, 50 * 24 * 60),  # minutes after the start of the window
            st.one_of(st.integers(0, 2), st.integers(-600, 3 * 24 * 60)),  # posting delay, minutes
            st.booleans(),
        ),
        min_size=1,
        max_size=14,
    ),
    payments=st.lists(
        st.tuples(st.integers(0, 50 * 24 * 60), st.integers(1, 2000), st.sampled_from(list(PaymentStatus)[1:])),
        max_size=3,
    ),
    offset=st.integers(0, 20),
    length=st.integers(0, 25),
)
def test_random_ledgers_reconcile_and_match_the_ledger(aws, zone, rows, payments, offset, length):
    from chalicelib.services.accounts import put_account
    from tests.integration.usage_helpers import SERVICE

    account_id = new_id("prop")
    put_account(SERVICE, account_id, {"name": account_id, "time_zone": zone})
    window = datetime(2026, 5, 1, tzinfo=UTC)
    writes = []
    for category, amount, minute, delay, negative in rows:
        occurred = window + timedelta(minutes=minute)
        extra: dict[str, Any] = {}
        if category == "recharge":
            extra["amount"] = f"{amount / 1_000_000:.6f}"
        elif category == "adjustment":
            extra["amount"] = f"{(-amount if negative else amount) / 1_000_000:.6f}"
            extra["description"] = "adj"
        else:
            extra["amount"] = f"{amount / 1_000_000:.6f}"
            extra["quantity"] = "1"
        writes.append((occurred + timedelta(minutes=delay), event(account_id, category, occurred, **extra)))
    for posted, body in sorted(writes, key=lambda w: w[0]):
        post_at(posted, [body])
    for minute, cents, status in payments:
        card_payment(account_id, cents * 10_000, window + timedelta(minutes=minute), status)

    first = window.date() + timedelta(days=offset)
    last = first + timedelta(days=length)
    account = AccountRepository().get(account_id)
    assert account is not None
    doc = build_numbers(account, first, last, statement_id="st_" + "1" * 24, now=datetime.now(UTC))

    period = local_range(first.isoformat(), last.isoformat(), zone)
    assert period.start is not None and period.end is not None
    entries = list(LedgerRepository().chain(account_id))
    before_start = [e for e in entries if e.posted_at < period.start]
    before_end = [e for e in entries if e.posted_at < period.end]
    assert doc.opening_balance_micros == (before_start[-1].balance_after_micros if before_start else 0)
    assert doc.closing_balance_micros == (before_end[-1].balance_after_micros if before_end else 0)
    posted_in = sum(e.amount_micros for e in entries if period.start <= e.posted_at < period.end)
    assert doc.total_credits_micros - doc.total_debits_micros == posted_in
    assert doc.opening_balance_micros + posted_in == doc.closing_balance_micros
    usage: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e in entries:
        if e.category in USAGE_CATEGORIES and first <= e.occurred_at.astimezone(ZoneInfo(zone)).date() <= last:
            usage[e.category.value][0] += 1
            usage[e.category.value][1] -= e.amount_micros
    assert {r.category: [r.count, r.amount_micros] for r in doc.usage} == usage
    succeeded = sum(
        cents * 10_000
        for minute, cents, status in payments
        if status is PaymentStatus.SUCCEEDED and period.start <= window + timedelta(minutes=minute) < period.end
    )
    assert doc.card_charges_total_micros == succeeded
    assert doc.opening_balance_cents + doc.total_credits_cents - doc.total_debits_cents == doc.closing_balance_cents
    assert Statement.from_json(json.loads(json.dumps(doc.to_json()))) == doc  # storable as it is


def test_an_agency_statement_never_adds_a_sub_accounts_other_currency(client):
    """An own-billing sub-account in EUR under a USD agency: listed in EUR, apart from the agency's USD figures."""
    from chalicelib.statement_render import render_html, render_pdf, render_text

    agency = provision(client, new_id("agency"), kind="agency", time_zone="America/New_York", name="Dollar Agency")
    eur = provision(client, new_id("eur"), agency_id=agency, time_zone="Europe/Paris", currency="EUR", name="Euro Ltd")
    first_dt, last_dt = last_month(datetime.now(UTC), NY)
    mid = first_dt + timedelta(days=4, hours=12)
    post_at(first_dt - timedelta(days=1), [event(agency, "recharge", first_dt - timedelta(days=1), amount="100")])
    post_at(first_dt - timedelta(days=1), [event(eur, "recharge", first_dt - timedelta(days=1), amount="40")])
    post_at(
        mid,
        [
            event(agency, "call_minutes", mid, quantity="10"),
            event(eur, "subscription_fees", mid, quantity="1", amount="25.00"),
        ],
    )
    card_payment(eur, 40_000_000, mid)
    account = AccountRepository().get(agency)
    assert account is not None
    doc = build_numbers(account, first_dt.date(), last_dt.date(), statement_id="st_" + "e" * 24, now=datetime.now(UTC))
    # The agency's figures are its own balance's, in USD: the EUR account's EUR 25 is not in them.
    assert (doc.currency, doc.usage_total_micros, doc.closing_balance_micros) == (
        "USD",
        125_000,
        99_875_000,
    )
    assert doc.card_charges_total_micros == 0
    [row] = doc.own_billing_accounts
    assert (row.account_id, row.currency, row.usage_total_micros, row.closing_balance_micros) == (
        eur,
        "EUR",
        25_000_000,
        15_000_000,
    )
    html, text = render_html(doc), render_text(doc)
    assert "€25.00" in html and "€15.00" in html and "€40.00" in html
    assert "$25.00" not in html and "$15.00" not in html
    assert "<td>EUR</td>" in html and "never added together" in html
    assert f"({eur}, EUR): usage €25.00" in text
    pdf_text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(render_pdf(doc))).pages)
    assert "EUR" in pdf_text and "€25.00" in pdf_text
