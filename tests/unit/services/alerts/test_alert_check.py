"""services/alert_check.py on fakes, through the ledger writer (services/usage.py record_usage):
a threshold fires once per period in the transaction that crosses it, a batch that jumps far past
fires once with its value, a writer that lost the race on the agency's guard reads the total again,
a firing that exists already is not written twice, more firings than a transaction holds are all
written, and the reads the writer plans."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.adapters.alerts_repo import AlertWrite, FiringFacts, GuardMove
from chalicelib.domain.accounts import AccountKind, Billing
from chalicelib.domain.alerts import AlertPeriod, AlertScope, Firing, Measure, Watch, encode_watches, window_of
from chalicelib.domain.categories import Category
from chalicelib.domain.payments import RechargeState
from chalicelib.domain.posting import Posting
from chalicelib.domain.pricing import Rate
from chalicelib.domain.reports import BucketRange
from chalicelib.domain.rollups import DAY, MONTH
from chalicelib.services import alert_check
from chalicelib.services.usage import QueuedMessage, UsageOutcome, record_usage
from tests.fakes.accounts import FakeAccounts
from tests.fakes.alerts import FakeAlerts, FakeNotices
from tests.fakes.ledger import FakeAlertCounters, FakeLedger, FakeRollups, LedgerTables
from tests.fakes.outside import FakeClock, FakeQueues

from .conftest import account, bind

pytestmark = pytest.mark.usefixtures("bound")


@pytest.fixture(autouse=True)
def seeded(accounts: FakeAccounts) -> FakeAccounts:
    accounts.save(account("acct-1"))
    accounts.save(account("ag-1", kind=AccountKind.AGENCY))
    accounts.save(account("shared-1", agency_id="ag-1", billing=Billing.AGENCY))
    accounts.save(account("own-1", agency_id="ag-1", billing=Billing.OWN))
    euros = {"EUR": {Category.CALL_MINUTES: Rate(Category.CALL_MINUTES, "minute", 20_000)}}
    euro = account("euro-1", agency_id="ag-1", billing=Billing.OWN, currency="EUR", rate_overrides=euros)
    accounts.save(euro)
    accounts.save_rates(euro)
    alert_check._agency_currencies.clear()  # a module cache: each test starts without it
    return accounts


def watch(alert_id: str, threshold: int, **fields: Any) -> Watch:
    values: dict[str, Any] = {
        "revision": 1,
        "scope": AlertScope.ACCOUNT,
        "category": Category.CALL_MINUTES,
        "measure": Measure.COUNT,
        "period": AlertPeriod.DAY,
    }
    values.update(fields)
    return Watch(alert_id=alert_id, threshold=threshold, **values)


def watching(accounts: FakeAccounts, owner_id: str, *watches: Watch) -> None:
    """The owner's watch as the alerts table writes it (services/usage_alerts.py keeps the definitions)."""
    accounts.set_watch(owner_id, encode_watches(watches) if watches else None)


def event(account_id: str, at: datetime, *, quantity: str = "3", event_id: str | None = None) -> str:
    return json.dumps(
        {
            "event_id": event_id or uuid.uuid4().hex,
            "account_id": account_id,
            "category": "call_minutes",
            "quantity": quantity,
            "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )


def charge(clock: FakeClock, *bodies: str) -> UsageOutcome:
    dead: list[str] = []
    outcome = record_usage(
        [QueuedMessage(message_id=uuid.uuid4().hex, body=b, group_id=None) for b in bodies],
        dead_letter=lambda m, reason, raw: dead.append(reason),
        clock=clock,
        sleep=clock.sleep,
    )
    assert dead == []
    return outcome


def fired(notices: FakeNotices, alert_id: str) -> list[tuple[str, int | None]]:
    """(firing id, value) of the alert's firings, oldest first."""
    found = []
    for owner, notice_id in sorted(notices.items):
        if owner == f"alert#{alert_id}":
            notice = notices.get(owner, notice_id)
            assert notice is not None
            found.append((notice_id, notice.value))
    return found


def day_id(alert_revision: int, day: date, subject: str) -> str:
    return f"r{alert_revision:06d}#{day.isoformat()}#{subject}"


# -- one account ---------------------------------------------------------------------------------------


def test_a_threshold_fires_once_per_period_in_the_transaction_that_crosses_it(
    accounts: FakeAccounts, notices: FakeNotices, clock: FakeClock, queues: FakeQueues
) -> None:
    watching(accounts, "acct-1", watch("ua_calls", 3))
    at = clock.now - timedelta(hours=1)
    today = at.date()
    charge(clock, event("acct-1", at), event("acct-1", at))
    assert fired(notices, "ua_calls") == []
    charge(clock, event("acct-1", at))  # the third: reached
    assert fired(notices, "ua_calls") == [(day_id(1, today, "acct-1"), 3)]
    assert queues.notices == [{"type": "deliver", "owner": "alert#ua_calls", "id": day_id(1, today, "acct-1")}]
    charge(clock, event("acct-1", at), event("acct-1", at))  # past it already: no second firing
    assert len(fired(notices, "ua_calls")) == 1 and len(queues.notices) == 1

    tomorrow = at + timedelta(days=1)
    clock.advance(days=1)
    charge(clock, *(event("acct-1", tomorrow) for _ in range(3)))  # a new period starts afresh
    assert fired(notices, "ua_calls")[-1] == (day_id(1, tomorrow.date(), "acct-1"), 3)


def test_a_batch_that_jumps_far_past_the_threshold_fires_once_with_its_value(
    accounts: FakeAccounts, notices: FakeNotices, clock: FakeClock
) -> None:
    watching(accounts, "acct-1", watch("ua_calls", 3), watch("ua_minutes", 10_000_000, measure=Measure.QUANTITY))
    at = clock.now - timedelta(hours=1)
    outcome = charge(clock, *(event("acct-1", at, quantity="2") for _ in range(12)))
    assert outcome.transactions == 1 and outcome.charged == 12
    assert fired(notices, "ua_calls") == [(day_id(1, at.date(), "acct-1"), 12)]
    assert fired(notices, "ua_minutes") == [(day_id(1, at.date(), "acct-1"), 24_000_000)]


def test_a_redelivered_batch_fires_nothing_again(
    accounts: FakeAccounts, notices: FakeNotices, clock: FakeClock
) -> None:
    watching(accounts, "acct-1", watch("ua_calls", 2))
    at = clock.now - timedelta(hours=1)
    batch = [event("acct-1", at, event_id=f"e{i}") for i in range(3)]
    charge(clock, *batch)
    outcome = charge(clock, *batch)
    assert outcome.duplicates == 3 and outcome.charged == 0
    assert fired(notices, "ua_calls") == [(day_id(1, at.date(), "acct-1"), 3)]


def test_a_late_event_counts_in_the_period_it_happened(
    accounts: FakeAccounts, notices: FakeNotices, clock: FakeClock
) -> None:
    watching(accounts, "acct-1", watch("ua_month", 2, period=AlertPeriod.MONTH))
    last_month = clock.now.replace(day=1) - timedelta(days=3)
    charge(clock, event("acct-1", clock.now - timedelta(hours=1)), event("acct-1", last_month))
    assert fired(notices, "ua_month") == []
    charge(clock, event("acct-1", last_month))
    assert fired(notices, "ua_month") == [(f"r000001#{last_month.date().replace(day=1).isoformat()}#acct-1", 2)]


def test_disabled_watches_and_other_categories_fire_nothing(
    accounts: FakeAccounts, notices: FakeNotices, clock: FakeClock, tables: LedgerTables
) -> None:
    watching(
        accounts,
        "acct-1",
        watch("ua_off", 1, enabled=False),
        watch("ua_texts", 1, category=Category.TEXT_MESSAGES),
    )
    charge(clock, event("acct-1", clock.now - timedelta(hours=1)))
    assert notices.items == {}
    assert alert_check.group_alerts([account("plain")], {}) is None  # no watch: nothing to decide


def test_a_firing_that_exists_already_is_not_written_again_and_the_events_are_charged(
    accounts: FakeAccounts, notices: FakeNotices, clock: FakeClock, tables: LedgerTables
) -> None:
    w = watch("ua_calls", 2)
    watching(accounts, "acct-1", w)
    at = clock.now - timedelta(hours=1)
    window = window_of(AlertPeriod.DAY, at.date())
    # Its first look (services/notices.py arm) wrote this period's firing while the writer was deciding.
    assert notices.record_firing(Firing("acct-1", w, "acct-1", window, 7), FiringFacts("USD", "UTC"), clock.now)
    outcome = charge(clock, event("acct-1", at), event("acct-1", at))
    assert outcome.charged == 2 and outcome.transactions == 2  # refused once for the firing, then written
    assert fired(notices, "ua_calls") == [(day_id(1, at.date(), "acct-1"), 7)]  # the first one stands
    assert tables.commits == 1


# -- an agency -----------------------------------------------------------------------------------------


def test_each_client_of_an_agency_fires_on_its_own_and_the_total_once(
    accounts: FakeAccounts, notices: FakeNotices, clock: FakeClock, tables: LedgerTables
) -> None:
    watching(
        accounts,
        "ag-1",
        watch("ug_each", 2, scope=AlertScope.EACH_ACCOUNT),
        watch("ug_total", 5, scope=AlertScope.AGENCY),
    )
    at = clock.now - timedelta(hours=1)
    charge(clock, event("shared-1", at), event("shared-1", at), event("own-1", at))
    assert [f for f, _ in fired(notices, "ug_each")] == [day_id(1, at.date(), "shared-1")]
    assert fired(notices, "ug_total") == []
    charge(clock, event("own-1", at), event("ag-1", at), event("euro-1", at))  # count: the EUR client counts
    assert [f for f, _ in fired(notices, "ug_each")] == sorted(
        [day_id(1, at.date(), "shared-1"), day_id(1, at.date(), "own-1")]
    )
    assert fired(notices, "ug_total") == [(day_id(1, at.date(), "ag-1"), 5)]
    assert tables.guards["ag-1"] >= 1  # every balance that moved the total moved the guard


def test_an_agencys_cost_total_counts_only_its_own_currency(
    accounts: FakeAccounts, notices: FakeNotices, clock: FakeClock
) -> None:
    watching(accounts, "ag-1", watch("ug_cost", 1, scope=AlertScope.AGENCY, category=None, measure=Measure.COST))
    at = clock.now - timedelta(hours=1)
    charge(clock, event("euro-1", at))
    assert fired(notices, "ug_cost") == []  # euros are not added to a USD total
    charge(clock, event("own-1", at))
    ((_, value),) = fired(notices, "ug_cost")
    assert value is not None and value > 0


class RacingLedger(FakeLedger):
    """Before its first commit that moves a guard, another writer charges `other` (a race)."""

    other: Sequence[str] = ()
    racing_clock: FakeClock | None = None

    def commit(self, posting: Posting, recharge: RechargeState | None = None, extra: Sequence[AlertWrite] = ()) -> None:
        if self.other and any(isinstance(w, GuardMove) for w in extra):
            other, self.other = self.other, ()
            assert self.racing_clock is not None
            charge(self.racing_clock, *other)
        super().commit(posting, recharge, extra)


def test_a_writer_that_lost_the_race_on_the_agencys_guard_reads_the_total_again(
    accounts: FakeAccounts, alerts: FakeAlerts, notices: FakeNotices, clock: FakeClock, tables: LedgerTables
) -> None:
    watching(accounts, "ag-1", watch("ug_total", 5, scope=AlertScope.AGENCY))
    at = clock.now - timedelta(hours=1)
    charge(clock, event("own-1", at), event("own-1", at))  # the total is 2
    ledger = RacingLedger(tables, notices=notices, clock=clock)
    ledger.other, ledger.racing_clock = [event("shared-1", at), event("shared-1", at)], clock
    with bind(
        accounts=accounts,
        alerts=alerts,
        notices=notices,
        ledger=ledger,
        rollups=FakeRollups(tables),
        alert_counters=FakeAlertCounters(tables),
        clock=clock,
    ):
        # Both writers read 2 and add 2: neither would reach 5 on what it read. The agency's
        # guard refuses the second, which reads the total again (4) and crosses it (6).
        outcome = charge(clock, event("own-1", at), event("own-1", at))
    assert outcome.charged == 2 and outcome.transactions == 2
    assert fired(notices, "ug_total") == [(day_id(1, at.date(), "ag-1"), 6)]
    assert tables.guards["ag-1"] == 3


# -- more firings than one transaction holds -----------------------------------------------------------


def many(prefix: str, count: int, **fields: Any) -> list[Watch]:
    return [watch(f"{prefix}{i:03d}", 1, **fields) for i in range(count)]


@pytest.mark.parametrize("events", [1, 2])
def test_more_firings_than_a_transaction_holds_are_all_written(
    accounts: FakeAccounts, notices: FakeNotices, clock: FakeClock, queues: FakeQueues, events: int
) -> None:
    watching(accounts, "own-1", *many("ua_", 50))
    watching(accounts, "ag-1", *many("ug_", 50, scope=AlertScope.EACH_ACCOUNT))
    at = clock.now - timedelta(hours=1)
    outcome = charge(clock, *(event("own-1", at) for _ in range(events)))
    assert outcome.charged == events
    assert len({k for k in notices.items if k[0].startswith("alert#")}) == 100
    assert len(queues.notices) == 100  # each queued once


# -- a transient read ------------------------------------------------------------------------------------


class DownCounters(FakeAlertCounters):
    def read_counters(self, keys: Any) -> Any:
        raise ConnectionError("DynamoDB unreachable")


def test_a_read_that_fails_leaves_the_events_to_sqs_uncharged(
    accounts: FakeAccounts, alerts: FakeAlerts, notices: FakeNotices, clock: FakeClock, tables: LedgerTables
) -> None:
    watching(accounts, "acct-1", watch("ua_calls", 1))
    with bind(
        accounts=accounts,
        alerts=alerts,
        notices=notices,
        ledger=FakeLedger(tables, notices=notices, clock=clock),
        rollups=FakeRollups(tables),
        alert_counters=DownCounters(tables),
        clock=clock,
    ):
        outcome = charge(clock, event("acct-1", clock.now - timedelta(hours=1)))
    assert outcome.charged == 0 and len(outcome.failed_message_ids) == 1 and tables.commits == 0


# -- what is read ---------------------------------------------------------------------------------------


def test_bucket_runs_cover_each_run_of_consecutive_buckets() -> None:
    buckets = [(DAY, "2026-03-01"), (DAY, "2026-03-02"), (DAY, "2026-03-05"), (MONTH, "2025-12"), (MONTH, "2026-01")]
    buckets += [(MONTH, "2026-03"), (DAY, "2026-03-03")]
    assert alert_check.bucket_runs(buckets) == [
        BucketRange(DAY, "2026-03-01", "2026-03-03"),
        BucketRange(DAY, "2026-03-05", "2026-03-05"),
        BucketRange(MONTH, "2025-12", "2026-01"),
        BucketRange(MONTH, "2026-03", "2026-03"),
    ]
    assert alert_check.bucket_runs([]) == []


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(days=st.sets(st.integers(0, 60), max_size=12))
def test_bucket_runs_cover_exactly_the_days_asked(days: set[int]) -> None:
    start = date(2026, 1, 1)
    wanted = {(DAY, (start + timedelta(days=d)).isoformat()) for d in days}
    covered = set()
    for r in alert_check.bucket_runs(wanted):
        first, last = date.fromisoformat(r.first), date.fromisoformat(r.last)
        covered |= {(DAY, (first + timedelta(days=i)).isoformat()) for i in range((last - first).days + 1)}
    assert covered == wanted


def test_a_few_accounts_are_point_reads_and_many_one_scoped_read(accounts: FakeAccounts, clock: FakeClock) -> None:
    from decimal import Decimal

    from chalicelib.domain.events import UsageEvent
    from chalicelib.domain.ledger import PricedEvent

    week = watch("ug_week", 1, scope=AlertScope.EACH_ACCOUNT, period=AlertPeriod.WEEK)
    watching(accounts, "ag-1", week)
    agency = accounts.get("ag-1")
    assert agency is not None
    clients = [account(f"c-{i:03d}", agency_id="ag-1") for i in range(16)]

    def priced(client_id: str) -> PricedEvent:
        at = clock.now - timedelta(hours=1)
        usage = UsageEvent(uuid.uuid4().hex, client_id, Category.CALL_MINUTES, Decimal(1), at, "a call")
        return PricedEvent(usage, client_id, "ag-1", unit="minute", unit_price_micros=1, amount_micros=-1)

    known = {"ag-1": agency, **{c.account_id: c for c in clients}}
    group = alert_check.group_alerts(clients[:2], known)
    assert group is not None
    few = alert_check.read_plan(group._watched, known, [priced("c-000"), priced("c-001")])
    assert len(few.points) == 14 and few.scoped == {}  # 2 clients x 7 days of the week
    group = alert_check.group_alerts(clients, known)
    assert group is not None
    lots = alert_check.read_plan(group._watched, known, [priced(c.account_id) for c in clients])
    assert lots.points == set() and list(lots.scoped) == ["ag-1"]  # 112 keys: one scoped read instead
