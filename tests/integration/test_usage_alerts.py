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
from chalicelib.services.errors import BadRequest, Forbidden, NotFound
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

    def commit(self, posting: Any, head_updates: Any = None, extra: Any = ()) -> None:
        time.sleep(random.random() * 0.03)
        super().commit(posting, head_updates, extra)


def charge(batches: Sequence[Sequence[dict[str, Any]]], threads: int = 1) -> None:
    """Each batch as one SQS delivery of the writer; batches taken by `threads` writers at once."""
    work: queue.Queue[Sequence[dict[str, Any]]] = queue.Queue()
    for batch in batches:
        work.put(batch)
    errors: list[BaseException] = []

    def writer() -> None:
        while True:
            try:
                batch = work.get_nowait()
            except queue.Empty:
                return
            messages = [QueuedMessage(uuid.uuid4().hex, json.dumps(e), e["account_id"]) for e in batch]
            try:
                outcome = record_usage(
                    messages, dead_letter=lambda *why: errors.append(AssertionError(why)), ledger=SlowLedger()
                )
                assert not outcome.failed_message_ids, outcome
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
        cost = -price_event(category, Decimal(quantity), rate_card_for(account)).amount_micros  # charges are negative

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

    def commit(self, posting: Any, head_updates: Any = None, extra: Any = ()) -> None:
        if self.other is not None:
            other, self.other = self.other, None
            charge([other])
        super().commit(posting, head_updates, extra)


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
