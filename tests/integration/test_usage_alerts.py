"""Usage alerts against DynamoDB Local: exactly once per (alert, period), whatever the delivery.

The writer decides a firing in the ledger transaction that moves a period's value
across the threshold (services/alert_check.py). These tests deliver random events in
random batches, redelivered and from several threads at once (two balances of one
agency, and twice the same balance), and compare the firings written with what the
events say: one per (alert, subject, period) whose final value reached the
threshold, none for the others, never two.
"""

from __future__ import annotations

import json
import queue
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from chalicelib.adapters.accounts_repo import AccountRepository
from chalicelib.adapters.ledger_repo import LedgerRepository
from chalicelib.adapters.notices_repo import Notice, NoticeRepository
from chalicelib.domain.access import Principal, Role
from chalicelib.domain.alerts import AlertPeriod, window_of
from chalicelib.domain.categories import Category
from chalicelib.domain.money import MICROS_PER_UNIT
from chalicelib.domain.pricing import price_event
from chalicelib.services import usage_alerts
from chalicelib.services.rates import rate_card_for
from chalicelib.services.usage import QueuedMessage, record_usage
from tests.integration.usage_helpers import assert_ledger_consistent, new_id, provision

pytestmark = pytest.mark.usefixtures("aws")


def admin(account_id: str) -> Principal:
    return Principal(f"admin@{account_id}", account_id, Role.ADMIN)


def create(owner: str, *, agency: bool = False, **body: Any) -> dict[str, Any]:
    given_body = {"name": "Alert", "recipients": ["ops@example.com"], **body}
    return usage_alerts.create_alert(admin(owner), owner, given_body, agency=agency)


def firings(alert_id: str) -> list[Notice]:
    found, _ = NoticeRepository().firings(alert_id, 500, None)
    return found


def event(account_id: str, category: str, quantity: int, at: datetime, event_id: str | None = None) -> dict[str, Any]:
    return {
        "event_id": event_id or new_id("ev"),
        "account_id": account_id,
        "category": category,
        "quantity": str(quantity),
        "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


class SlowLedger(LedgerRepository):
    """Waits a moment before each commit: what the writer read may change meanwhile (the races the
    head's sequence number and the agency's guard are there for happen often, not by luck)."""

    def commit(self, posting: Any, recharge: Any = None, extra: Any = ()) -> None:
        time.sleep(random.random() * 0.03)
        super().commit(posting, recharge, extra)


def charge(batches: Sequence[Sequence[dict[str, Any]]], threads: int = 1) -> None:
    """Each batch as one SQS delivery of the writer; batches taken by `threads` writers at once."""
    work: queue.Queue[tuple[Sequence[dict[str, Any]], int]] = queue.Queue()
    for batch in batches:
        work.put((batch, 0))
    errors: list[BaseException] = []

    def writer() -> None:
        while True:
            try:
                batch, deliveries = work.get_nowait()
            except queue.Empty:
                return
            messages = [QueuedMessage(uuid.uuid4().hex, json.dumps(e), e["account_id"]) for e in batch]
            try:
                outcome = record_usage(
                    messages, dead_letter=lambda *why: errors.append(AssertionError(why)), ledger=SlowLedger()
                )
                # Writers that keep losing the race to the same balance give messages back;
                # SQS delivers them again (a busy machine makes that common, not a fault).
                failed = set(outcome.failed_message_ids)
                again = [e for m, e in zip(messages, batch, strict=True) if m.message_id in failed]
                assert deliveries < 10 or not again, outcome
                if again:
                    work.put((again, deliveries + 1))
            except BaseException as exc:
                errors.append(exc)

    running = [threading.Thread(target=writer) for _ in range(threads)]
    for t in running:
        t.start()
    for t in running:
        t.join()
    assert not errors, errors


# -- exactly once, whatever the delivery ----------------------------------------------------------

BASE = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)  # spans local midnights and the end of November


# Against DynamoDB Local each example takes seconds: a few, not shrunk (a failure prints its draws).
@settings(
    max_examples=8,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_each_alert_fires_once_per_period_whatever_the_batches_redeliveries_and_writers(data: Any) -> None:
    agency = provision(new_id("ag"), kind="agency", time_zone="America/New_York")
    shared = provision(new_id("sh"), agency_id=agency, billing="agency", time_zone="Asia/Tokyo")
    own = provision(new_id("ow"), agency_id=agency, time_zone="America/Los_Angeles")
    accounts = AccountRepository().get_many([agency, shared, own])
    draw = data.draw
    thresholds = {
        "own_calls_day": draw(st.integers(1, 6), label="own: calls a day"),
        "shared_minutes_week": draw(st.integers(1, 25), label="shared: call minutes a week"),
        "agency_count_day": draw(st.integers(1, 10), label="agency: entries a day"),
        "each_count_month": draw(st.integers(1, 8), label="each sub-account: entries a month"),
        "agency_cost_month_cents": draw(st.integers(1, 40), label="agency: cents a month"),
    }
    alerts = {
        "own_calls_day": create(
            own, category="call_minutes", measure="count", period="day", threshold=str(thresholds["own_calls_day"])
        ),
        "shared_minutes_week": create(
            shared,
            category="call_minutes",
            measure="quantity",
            period="week",
            threshold=str(thresholds["shared_minutes_week"]),
        ),
        "agency_count_day": create(
            agency, agency=True, category="total", measure="count", period="day",
            threshold=str(thresholds["agency_count_day"]),
        ),
        "each_count_month": create(
            agency, agency=True, each_account=True, category="total", measure="count", period="month",
            threshold=str(thresholds["each_count_month"]),
        ),
        "agency_cost_month": create(
            agency, agency=True, category="total", measure="cost", period="month",
            threshold=str(Decimal(thresholds["agency_cost_month_cents"]) / 100),
        ),
    }  # fmt: skip
    events = draw(
        st.lists(
            st.tuples(
                st.sampled_from([agency, shared, own]),
                st.sampled_from(["call_minutes", "text_messages"]),
                st.integers(1, 5),
                st.integers(0, 40),  # hours after BASE
            ),
            min_size=1,
            max_size=30,
        ),
        label="events",
    )
    bodies = [event(a, c, q, BASE + timedelta(hours=h)) for a, c, q, h in events]
    # Random batches, some delivered again, in any order, by three writers at once.
    rng = random.Random(draw(st.integers(0, 2**32 - 1), label="seed"))
    deliveries = bodies + [b for b in bodies if rng.random() < 0.3]
    rng.shuffle(deliveries)
    batches = []
    while deliveries:
        size = rng.randint(1, 12)
        batches.append(deliveries[:size])
        deliveries = deliveries[size:]
    charge(batches, threads=3)

    # What the events say: each (alert, subject, period)'s final value.
    finals: dict[tuple[str, str, str], int] = defaultdict(int)
    for body in bodies:
        account = accounts[body["account_id"]]
        category = Category(body["category"])
        day = datetime.fromisoformat(body["occurred_at"].replace("Z", "+00:00")).astimezone(account.zone).date()
        quantity = int(body["quantity"])
        cost = -price_event(
            category, Decimal(quantity), rate_card_for(account, accounts.get(account.agency_id or ""))
        ).amount_micros  # charges are negative

        def add(name: str, subject: str, period: AlertPeriod, value: int, day: Any = day) -> None:
            finals[(name, subject, window_of(period, day).start.isoformat())] += value

        if account.account_id == own and category is Category.CALL_MINUTES:
            add("own_calls_day", own, AlertPeriod.DAY, 1)
        if account.account_id == shared and category is Category.CALL_MINUTES:
            add("shared_minutes_week", shared, AlertPeriod.WEEK, quantity * MICROS_PER_UNIT)
        add("agency_count_day", agency, AlertPeriod.DAY, 1)
        if account.account_id != agency:
            add("each_count_month", account.account_id, AlertPeriod.MONTH, 1)
        add("agency_cost_month", agency, AlertPeriod.MONTH, cost)

    limits = {**thresholds, "agency_cost_month": thresholds["agency_cost_month_cents"] * 10_000}
    limits["shared_minutes_week"] = thresholds["shared_minutes_week"] * MICROS_PER_UNIT
    expected = {key for key, value in finals.items() if value >= limits[key[0]]}
    written: set[tuple[str, str, str]] = set()
    for name, alert in alerts.items():
        for notice in firings(alert["id"]):
            key = (name, notice.account_id, str(notice.data["period_start"]))
            assert key not in written, f"fired twice: {key}"
            written.add(key)
            # It fired in the transaction that reached the threshold: at or above it, at most the final value.
            assert notice.value is not None and limits[name] <= notice.value <= finals[key], (key, notice.value)
    assert written == expected, {"missing": expected - written, "unexpected": written - expected}
    assert_ledger_consistent(agency)
    assert_ledger_consistent(own)


class InterleavedLedger(LedgerRepository):
    """Before its first commit, lets another writer charge `other` (a race, every time)."""

    def __init__(self, other: Sequence[dict[str, Any]]) -> None:
        self.other: Sequence[dict[str, Any]] | None = other

    def commit(self, posting: Any, recharge: Any = None, extra: Any = ()) -> None:
        if self.other is not None:
            other, self.other = self.other, None
            charge([other])
        super().commit(posting, recharge, extra)


def write_with_race(batch: Sequence[dict[str, Any]], other: Sequence[dict[str, Any]]) -> None:
    messages = [QueuedMessage(uuid.uuid4().hex, json.dumps(e), e["account_id"]) for e in batch]
    outcome = record_usage(messages, dead_letter=lambda *why: pytest.fail(str(why)), ledger=InterleavedLedger(other))
    assert not outcome.failed_message_ids


AT = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def test_a_writer_that_lost_the_race_on_its_balance_reads_the_value_again():
    """Three calls; this writer adds the sixth, but another adds two while it was about to: the
    sixth is this one's, and it must know (its first read said three)."""
    account = provision(new_id("acct"))
    alert = create(account, category="call_minutes", measure="count", period="day", threshold="6")
    charge([[event(account, "call_minutes", 1, AT) for _ in range(3)]])
    write_with_race([event(account, "call_minutes", 1, AT)], [event(account, "call_minutes", 1, AT) for _ in range(2)])
    [fired] = firings(alert["id"])
    assert fired.value == 6 and fired.account_id == account


def test_an_agency_total_written_by_two_balances_at_once_fires_once_and_not_never():
    """The agency's balance (a shared client) and a client's own balance add to one total: the
    client's write lands between the agency writer's read and its commit. The guard sends the
    agency writer back to read the total again, so the one that reaches it knows."""
    agency = provision(new_id("ag"), kind="agency")
    shared = provision(new_id("sh"), agency_id=agency, billing="agency")
    own = provision(new_id("ow"), agency_id=agency)
    alert = create(agency, agency=True, category="total", measure="count", period="day", threshold="4")
    charge([[event(shared, "call_minutes", 1, AT), event(own, "text_messages", 1, AT)]])  # 2
    write_with_race([event(shared, "call_minutes", 1, AT)], [event(own, "text_messages", 1, AT)])  # 2 + 1 + 1
    [fired] = firings(alert["id"])
    assert (fired.value, fired.account_id, fired.data["period_start"]) == (4, agency, "2026-11-20")


def test_one_batch_that_jumps_far_past_the_threshold_fires_once_with_its_value():
    account = provision(new_id("acct"))
    alert = create(account, category="text_messages", measure="quantity", period="month", threshold="5")
    charge([[event(account, "text_messages", 3, AT + timedelta(minutes=i)) for i in range(10)]])  # 30 at once
    charge([[event(account, "text_messages", 3, AT + timedelta(hours=1))]])  # past it already: nothing
    [fired] = firings(alert["id"])
    assert (fired.value, fired.data["period_start"], fired.data["period_end"]) == (
        30 * MICROS_PER_UNIT,
        "2026-11-01",
        "2026-11-30",
    )
    assert fired.data["value"] == "30" and fired.data["threshold"] == "5"


def test_a_new_period_starts_at_local_midnight_on_a_dst_day():
    """New York leaves daylight time on Sunday 2026-11-01: that day has 25 hours, from 04:00Z to
    05:00Z the next day. Its calls count on its own day, the next minute on the next."""
    account = provision(new_id("ny"), time_zone="America/New_York")
    alert = create(account, category="call_minutes", measure="count", period="day", threshold="2")
    utc = lambda text: datetime.fromisoformat(text)  # noqa: E731
    charge([[event(account, "call_minutes", 1, utc("2026-11-01T03:30:00+00:00"))]])  # Oct 31, 23:30 EDT
    charge([[event(account, "call_minutes", 1, utc("2026-11-01T04:30:00+00:00"))]])  # Nov 1, 00:30 EDT
    assert firings(alert["id"]) == []  # one call on each day
    charge([[event(account, "call_minutes", 1, utc("2026-11-02T04:59:00+00:00"))]])  # Nov 1, 23:59 EST
    [first] = firings(alert["id"])
    assert first.data["period_start"] == "2026-11-01"
    charge([[event(account, "call_minutes", 1, utc("2026-11-02T05:00:00+00:00"))]])  # Nov 2, 00:00 EST
    charge([[event(account, "call_minutes", 1, utc("2026-11-02T06:00:00+00:00"))]])
    assert sorted(f.data["period_start"] for f in firings(alert["id"])) == ["2026-11-01", "2026-11-02"]


def test_an_agency_alert_for_each_client_fires_per_client_and_a_total_once(aws: dict[str, Any]) -> None:
    agency = provision(new_id("ag"), kind="agency", time_zone="Europe/Berlin")
    clients = [provision(new_id(f"c{i}"), agency_id=agency, billing="agency" if i % 2 else "own") for i in range(4)]
    each = create(agency, agency=True, each_account=True, category="call_minutes", measure="count", period="week",
                  threshold="2")  # fmt: skip
    total = create(agency, agency=True, category="call_minutes", measure="count", period="week", threshold="5")
    # Clients 0 and 1 make two calls, client 2 one: 5 in all, in the week of Monday Nov 16.
    calls = [clients[0], clients[0], clients[1], clients[1], clients[2]]
    charge([[event(c, "call_minutes", 1, AT - timedelta(days=2, hours=i)) for i, c in enumerate(calls)]])
    assert sorted(f.account_id for f in firings(each["id"])) == sorted(clients[:2])
    [fired] = firings(total["id"])
    assert (fired.account_id, fired.value, fired.data["period_start"]) == (agency, 5, "2026-11-16")


def test_an_alert_made_when_its_period_is_already_past_the_threshold_fires_on_its_first_look():
    """The alert leaves an arm notice; the redrive schedule queues it once five minutes old; the worker looks."""
    from chalicelib.adapters.aws import client
    from chalicelib.adapters.queues import queue_url
    from chalicelib.config import get_settings
    from chalicelib.services.notices import Outcome, Received, arm, handle, redrive

    account = provision(new_id("late"))
    charge([[event(account, "call_minutes", 1, datetime.now(UTC) - timedelta(minutes=5)) for _ in range(3)]])
    alert = create(account, category="call_minutes", measure="count", period="day", threshold="2")
    assert firings(alert["id"]) == []
    assert redrive(datetime.now(UTC)) == 0  # not five minutes old yet
    assert redrive(datetime.now(UTC) + timedelta(minutes=6)) >= 1
    sqs, url = client("sqs"), queue_url(get_settings().notices_queue_name)
    looked = 0
    # The module's earlier tests left notices of their own in the queue: read until it is empty
    # (each message read stays invisible meanwhile), however many there are ahead of this one.
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for m in batch:
            if f"arm#{alert['id']}" in m["Body"]:
                assert handle(Received(m["Body"], m["MessageId"], m["ReceiptHandle"])) is Outcome.DONE
                looked += 1
    assert looked == 1
    [fired] = firings(alert["id"])
    assert fired.value == 3
    assert arm(account, alert["id"], alert["revision"], datetime.now(UTC)) == []  # its firing exists: once
    charge([[event(account, "call_minutes", 1, datetime.now(UTC) - timedelta(minutes=1))]])
    assert len(firings(alert["id"])) == 1
    look = NoticeRepository().get(f"arm#{alert['id']}", "r000001")
    assert look is not None and not look.pending  # the worker took it: the redrive never queues it again


# -- over HTTP -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http() -> Any:
    from tests.integration.http_helpers import make_client

    return make_client()


def test_alerts_over_http_refuse_bad_input_with_a_message_and_count_to_fifty(http: Any) -> None:
    from tests.integration.http_helpers import admin as admin_headers
    from tests.integration.http_helpers import assert_error, ok_json, send
    from tests.integration.http_helpers import viewer as viewer_headers

    agency = provision(new_id("ag"), kind="agency")
    sub = provision(new_id("sub"), agency_id=agency)
    path = f"/accounts/{sub}/usage-alerts"
    good = {"name": "Calls", "category": "call_minutes", "measure": "count", "period": "day", "threshold": "10",
            "recipients": ["ops@example.com"]}  # fmt: skip
    bad = {
        "category": {**good, "category": "faxes"},
        "measure": {**good, "measure": "volume"},
        "period": {**good, "period": "fortnight"},
        "threshold": {**good, "threshold": "0"},
        "threshold ": {**good, "threshold": "-3"},
        "whole": {**good, "threshold": "2.5"},
        "recipients": {**good, "recipients": [f"r{i}@example.com" for i in range(11)]},
        "not an email": {**good, "recipients": ["ops@"]},
        "recipients ": {**good, "recipients": []},
        "quantity": {**good, "category": "total", "measure": "quantity"},
        "each_account": {**good, "each_account": True},
        "webhook_url": {**good, "webhook_url": "ftp://example.com/hook"},
    }
    for field, body in bad.items():
        error = assert_error(send(http, "POST", path, admin_headers(agency), body), 400, "bad_request")
        assert field.strip().split()[0] in error["message"], (field, error)
    assert_error(send(http, "POST", path, viewer_headers(sub), good), 403, "forbidden")
    other = provision(new_id("other"), kind="agency")
    assert_error(send(http, "POST", path, admin_headers(other), good), 404, "not_found")

    created = ok_json(
        send(http, "POST", path, admin_headers(sub), {**good, "webhook_url": "http://127.0.0.1:9/h"}), 201
    )
    assert created["enabled"] is True and created["webhook_secret"].startswith("whsec_")
    shown = ok_json(send(http, "GET", f"{path}/{created['id']}", viewer_headers(sub)))
    assert "webhook_secret" not in shown and shown["threshold"] == "10" and shown["scope"] == "account"
    changed = ok_json(send(http, "PUT", f"{path}/{created['id']}", admin_headers(agency), {"threshold": "12"}))
    assert (changed["threshold"], changed["revision"], "webhook_secret" in changed) == ("12", 2, False)
    renamed = ok_json(send(http, "PUT", f"{path}/{created['id']}", admin_headers(agency), {"name": "Calls!"}))
    assert renamed["revision"] == 2  # what it watches did not change
    for _ in range(49):
        ok_json(send(http, "POST", path, admin_headers(sub), good), 201)
    error = assert_error(send(http, "POST", path, admin_headers(sub), good), 400, "bad_request", mentions="50")
    listed, pages = [], 0
    cursor = None
    while True:
        page = ok_json(
            send(http, "GET", f"{path}?limit=20" + (f"&cursor={cursor}" if cursor else ""), viewer_headers(sub))
        )
        listed += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(listed) == 50 and len({a["id"] for a in listed}) == 50 and pages == 3
    assert send(http, "DELETE", f"{path}/{created['id']}", admin_headers(sub)).status_code == 204
    assert_error(send(http, "GET", f"{path}/{created['id']}", viewer_headers(sub)), 404, "not_found")
    ok_json(send(http, "POST", path, admin_headers(sub), good), 201)  # room for one again
    del error
    # An agency's alerts live under /agencies: its own users only.
    agency_path = f"/agencies/{agency}/usage-alerts"
    made = ok_json(send(http, "POST", agency_path, admin_headers(agency), {**good, "each_account": True}), 201)
    assert made["scope"] == "agency" and made["each_account"] is True
    assert_error(send(http, "GET", f"{path}/{made['id']}", admin_headers(agency)), 404)  # not an account alert
    assert_error(send(http, "GET", agency_path, viewer_headers(sub)), 404)
    assert_error(send(http, "POST", agency_path, viewer_headers(agency), good), 403)


@pytest.fixture
def euro_prices() -> Any:
    """A default EUR card (the built-in one is USD only; a currency without a card is refused)."""
    from devtools.environment import apply_env, restore_env

    saved = apply_env({"BILLING_DEFAULT_RATES": json.dumps({"EUR": {"call_minutes": {"unit_price": "0.0125"}}})})
    yield
    restore_env(saved)


@pytest.mark.usefixtures("euro_prices")
def test_an_agencys_cost_total_counts_only_money_of_its_own_currency():
    agency = provision(new_id("ag"), kind="agency", currency="USD")
    euros = provision(new_id("eur"), agency_id=agency, currency="EUR")  # its own balance, in euros
    dollars = provision(new_id("usd"), agency_id=agency, billing="agency")
    alert = create(agency, agency=True, category="total", measure="cost", period="month", threshold="1.00")
    charge([[event(euros, "call_minutes", 60, AT) for _ in range(3)]])  # 3 x 0.75 EUR: not dollars
    assert LedgerRepository().balance(euros).balance_micros == -2_250_000  # charged, in euros
    assert firings(alert["id"]) == []
    charge([[event(dollars, "call_minutes", 60, AT)], [event(dollars, "call_minutes", 30, AT)]])  # 0.75 + 0.375 USD
    [fired] = firings(alert["id"])
    assert fired.value == 1_125_000 and fired.data["currency"] == "USD"
