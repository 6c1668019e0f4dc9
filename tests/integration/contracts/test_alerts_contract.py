"""One contract, two implementations: the usage alerts, notices and webhook endpoints stores
(tests/fakes/alerts.py) against the DynamoDB adapters on DynamoDB Local.

Every condition the services rely on is asserted the same way for both: an alert and its
owner's watch written together or not at all (`WatchMoved`), a notice created once, a delivery
update that never creates a notice, the email claimed under a lease, firings newest first in
pages, the waiting notices oldest first.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.alerts_repo import FiringFacts, WatchMoved
from chalicelib.domain.accounts import Account, AccountKind, Billing
from chalicelib.domain.alerts import AlertPeriod, AlertScope, Firing, Measure, UsageAlert, Watch, window_of
from chalicelib.domain.categories import Category
from chalicelib.domain.periods import format_instant
from chalicelib.services.ports import AccountStore, AlertStore, NoticeStore, WebhookEndpointStore
from tests.fakes.accounts import FakeAccounts
from tests.fakes.alerts import FakeAlerts, FakeNotices, FakeWebhookEndpoints

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["fake", "dynamodb"])
def notices(request: pytest.FixtureRequest) -> NoticeStore:
    if request.param == "dynamodb":
        request.getfixturevalue("aws")
        from chalicelib.adapters.notices_repo import NoticeRepository

        return NoticeRepository()
    return FakeNotices()


@pytest.fixture(params=["fake", "dynamodb"])
def endpoints(request: pytest.FixtureRequest) -> WebhookEndpointStore:
    if request.param == "dynamodb":
        request.getfixturevalue("aws")
        from chalicelib.adapters.webhook_endpoints_repo import WebhookEndpointRepository

        return WebhookEndpointRepository()
    return FakeWebhookEndpoints()


@pytest.fixture(params=["fake", "dynamodb"])
def stores(request: pytest.FixtureRequest) -> tuple[AccountStore, AlertStore]:
    """The accounts store and the alerts store, which writes its owners' watches on their account items."""
    if request.param == "dynamodb":
        request.getfixturevalue("aws")
        from chalicelib.adapters.accounts_repo import AccountRepository
        from chalicelib.adapters.alerts_repo import AlertRepository

        return AccountRepository(), AlertRepository()
    accounts = FakeAccounts()
    return accounts, FakeAlerts(accounts)


def watch(alert_id: str, revision: int = 1, threshold: int = 10, **changes: Any) -> Watch:
    fields: dict[str, Any] = {
        "scope": AlertScope.ACCOUNT,
        "category": Category.CALL_MINUTES,
        "measure": Measure.COUNT,
        "period": AlertPeriod.DAY,
    }
    fields.update(changes)
    return Watch(alert_id=alert_id, revision=revision, threshold=threshold, **fields)


def firing(alert_id: str, day: date, *, revision: int = 1, subject: str = "acct", value: int = 12) -> Firing:
    return Firing("owner-1", watch(alert_id, revision), subject, window_of(AlertPeriod.DAY, day), value)


FACTS = FiringFacts(currency="USD", time_zone="Europe/Paris")


# -- notices: creates ------------------------------------------------------------------------------------


def test_a_firing_is_recorded_once_with_what_it_says(notices: NoticeStore) -> None:
    alert_id = new_id("ua")
    fired = firing(alert_id, date(2026, 3, 14), revision=2, subject="client-7", value=15)
    assert notices.record_firing(fired, FACTS, NOW) is True
    again = Firing(fired.owner_id, fired.watch, fired.subject_id, fired.window, 99)
    assert notices.record_firing(again, FACTS, NOW + timedelta(minutes=1)) is False

    notice = notices.get(f"alert#{alert_id}", fired.firing_id)
    assert notice is not None
    assert (notice.owner, notice.notice_id, notice.event_id) == (f"alert#{alert_id}", fired.firing_id, fired.event_id)
    assert (notice.event_type, notice.account_id, notice.created_at) == (
        "usage_alert.triggered",
        "client-7",
        format_instant(NOW),
    )
    assert (notice.alert_id, notice.revision, notice.value, notice.threshold) == (alert_id, 2, 15, 10)
    assert notice.data == {
        "alert_id": alert_id,
        "owner_id": "owner-1",
        "scope": "account",
        "category": "call_minutes",
        "measure": "count",
        "period": "day",
        "period_start": "2026-03-14",
        "period_end": "2026-03-14",
        "threshold": "10",
        "value": "15",
        "currency": None,
        "time_zone": "Europe/Paris",
    }
    assert (notice.email_status, notice.webhook_status, notice.pending) == ("pending", "pending", True)
    assert (notice.email_recipients, notice.email_at, notice.email_error) == ((), None, None)
    assert (notice.webhook_url, notice.webhook_attempts, notice.next_attempt_at) == (None, (), None)


def test_a_billing_event_is_recorded_once_per_endpoint(notices: NoticeStore) -> None:
    owner, event_id = new_id("acct"), new_id("evt")
    data = {"balance": "-2.00", "currency": "EUR", "note": "café"}
    assert notices.record_event(owner, event_id, "balance.low", "client-1", data, NOW) is True
    assert notices.record_event(owner, event_id, "balance.low", "client-1", {"other": 1}, NOW) is False
    assert notices.record_event(new_id("agency"), event_id, "balance.low", "client-1", data, NOW) is True

    notice = notices.get(f"hook#{owner}", event_id)
    assert notice is not None
    assert (notice.event_id, notice.event_type, notice.account_id) == (event_id, "balance.low", "client-1")
    assert notice.data == data
    assert (notice.alert_id, notice.revision, notice.value, notice.threshold) == (None, None, None, None)
    assert (notice.email_status, notice.webhook_status, notice.pending) == ("none", "pending", True)


def test_an_alerts_first_look_is_recorded_once_per_revision(notices: NoticeStore) -> None:
    alert_id = new_id("ua")
    assert notices.record_arm("owner-9", alert_id, 3, NOW) is True
    assert notices.record_arm("owner-9", alert_id, 3, NOW + timedelta(hours=1)) is False
    assert notices.record_arm("owner-9", alert_id, 4, NOW) is True

    notice = notices.get(f"arm#{alert_id}", "r000003")
    assert notice is not None
    assert (notice.event_type, notice.account_id, notice.created_at) == (
        "usage_alert.arm",
        "owner-9",
        format_instant(NOW),
    )
    assert notice.data == {"owner_id": "owner-9", "revision": 3}
    assert (notice.email_status, notice.webhook_status, notice.pending) == ("none", "none", True)


def test_a_missing_notice_is_none(notices: NoticeStore) -> None:
    assert notices.get(f"alert#{new_id('ua')}", "r000001#2026-03-14#acct") is None


# -- notices: reads -------------------------------------------------------------------------------------


def test_firings_come_newest_revision_and_period_first_in_pages(notices: NoticeStore) -> None:
    alert_id = new_id("ua")
    fired = [
        firing(alert_id, date(2026, 3, 1)),
        firing(alert_id, date(2026, 3, 2)),
        firing(alert_id, date(2026, 3, 1), revision=2),
        firing(alert_id, date(2026, 3, 3), subject="acct-b"),
        firing(alert_id, date(2026, 3, 3), subject="acct-a"),
    ]
    for f in fired:
        assert notices.record_firing(f, FACTS, NOW)
    notices.record_firing(firing(new_id("ua"), date(2026, 3, 9)), FACTS, NOW)  # another alert's
    newest_first = sorted((f.firing_id for f in fired), reverse=True)

    page, after = notices.firings(alert_id, 2, None)
    assert [n.notice_id for n in page] == newest_first[:2] and after == newest_first[1]
    page, after = notices.firings(alert_id, 2, after)
    assert [n.notice_id for n in page] == newest_first[2:4] and after == newest_first[3]
    page, after = notices.firings(alert_id, 2, after)
    assert [n.notice_id for n in page] == newest_first[4:] and after is None

    page, after = notices.firings(alert_id, 5, None)  # the query stopped at its limit: a cursor all the same
    assert [n.notice_id for n in page] == newest_first and after == newest_first[-1]
    assert notices.firings(alert_id, 5, after) == ([], None)
    assert notices.firings(new_id("ua"), 3, None) == ([], None)


def test_waiting_notices_are_the_pending_ones_created_before_oldest_first(notices: NoticeStore) -> None:
    # Only this test writes notices dated 1990, so the table's other waiting notices are newer than these.
    base = datetime(1990, 1, 1, tzinfo=UTC) + timedelta(seconds=uuid.uuid4().int % 10_000_000)
    owner = new_id("acct")
    for minute in (3, 1, 2, 4):
        assert notices.record_event(owner, f"evt-{minute}", "balance.low", owner, {}, base + timedelta(minutes=minute))
    alert_id = new_id("ua")
    assert notices.record_arm(owner, alert_id, 1, base + timedelta(minutes=5))
    boundary = format_instant(base + timedelta(minutes=5))  # strictly before: the arm is not waiting yet

    hook = f"hook#{owner}"
    assert notices.waiting(boundary) == [(hook, "evt-1"), (hook, "evt-2"), (hook, "evt-3"), (hook, "evt-4")]
    assert notices.waiting(boundary, limit=2) == [(hook, "evt-1"), (hook, "evt-2")]
    notices.received(hook, "evt-2")
    notices.received(hook, "evt-2")  # again: nothing left to remove, no error
    assert notices.waiting(boundary, limit=2) == [(hook, "evt-1"), (hook, "evt-3")]
    received = notices.get(hook, "evt-2")
    assert received is not None and received.pending is False
    later = format_instant(base + timedelta(minutes=6))
    assert notices.waiting(later)[-1] == (f"arm#{alert_id}", "r000001")


# -- notices: deliveries --------------------------------------------------------------------------------


def test_no_delivery_update_creates_a_notice(notices: NoticeStore) -> None:
    owner, notice_id = f"hook#{new_id('acct')}", new_id("evt")
    notices.received(owner, notice_id)
    notices.set_data(owner, notice_id, {"a": 1})
    assert notices.claim_email(owner, notice_id, NOW.timestamp(), 60) is False
    notices.email_done(owner, notice_id, "sent", ("a@example.com",), NOW, None)
    notices.webhook_attempted(owner, notice_id, ({"status": 500},), "retrying", "https://x.example", NOW)
    notices.webhook_settled(owner, notice_id, "none")
    assert notices.get(owner, notice_id) is None


def test_the_email_is_claimed_once_while_its_lease_holds(notices: NoticeStore) -> None:
    alert_id = new_id("ua")
    fired = firing(alert_id, date(2026, 3, 14))
    notices.record_firing(fired, FACTS, NOW)
    owner, notice_id = f"alert#{alert_id}", fired.firing_id
    now = NOW.timestamp()

    assert notices.claim_email(owner, notice_id, now, 120) is True
    claimed = notices.get(owner, notice_id)
    assert claimed is not None and claimed.email_status == "sending"
    assert notices.claim_email(owner, notice_id, now + 119, 120) is False  # another worker, the lease holds
    assert notices.claim_email(owner, notice_id, now + 121, 120) is True  # the lease ran out: taken over
    assert notices.claim_email(owner, notice_id, now + 122, 120) is False

    # SES refused it: back to pending with the error, claimable again at once.
    notices.email_done(owner, notice_id, "pending", ("a@example.com",), NOW, "throttled")
    failed = notices.get(owner, notice_id)
    assert failed is not None
    assert (failed.email_status, failed.email_recipients, failed.email_error) == (
        "pending",
        ("a@example.com",),
        "throttled",
    )
    assert notices.claim_email(owner, notice_id, now + 123, 120) is True

    sent_at = NOW + timedelta(seconds=5)
    notices.email_done(owner, notice_id, "sent", ("a@example.com", "b@example.com"), sent_at, None)
    sent = notices.get(owner, notice_id)
    assert sent is not None
    assert (sent.email_status, sent.email_recipients, sent.email_at, sent.email_error) == (
        "sent",
        ("a@example.com", "b@example.com"),
        format_instant(sent_at),
        None,
    )
    assert notices.claim_email(owner, notice_id, now + 10_000, 120) is False  # sent: never again

    notices.email_done(owner, notice_id, "none", (), sent_at, None)
    nobody = notices.get(owner, notice_id)
    assert nobody is not None and (nobody.email_status, nobody.email_recipients) == ("none", ())


def test_a_notice_without_email_is_never_claimed(notices: NoticeStore) -> None:
    owner, event_id = new_id("acct"), new_id("evt")
    notices.record_event(owner, event_id, "payment.failed", owner, {}, NOW)
    assert notices.claim_email(f"hook#{owner}", event_id, NOW.timestamp(), 60) is False


def test_webhook_attempts_are_kept_in_order_and_settled(notices: NoticeStore) -> None:
    owner, event_id = new_id("acct"), new_id("evt")
    notices.record_event(owner, event_id, "payment.failed", owner, {"amount": "5.00"}, NOW)
    hook = f"hook#{owner}"
    first = {"at": format_instant(NOW), "status": 500, "error": None, "ms": 12}
    next_at = NOW + timedelta(minutes=1)
    notices.webhook_attempted(hook, event_id, (first,), "retrying", "https://a.example/hook", next_at)
    retrying = notices.get(hook, event_id)
    assert retrying is not None
    assert (retrying.webhook_status, retrying.webhook_url, retrying.webhook_attempts, retrying.next_attempt_at) == (
        "retrying",
        "https://a.example/hook",
        (first,),
        format_instant(next_at),
    )

    second = {"at": format_instant(next_at), "status": None, "error": "timeout", "ms": 10_000}
    notices.webhook_attempted(hook, event_id, (first, second), "retrying", None, next_at + timedelta(minutes=5))
    kept = notices.get(hook, event_id)
    assert kept is not None and kept.webhook_url == "https://a.example/hook"  # no url given: the last one stays
    assert kept.webhook_attempts == (first, second)

    third = {"at": format_instant(next_at), "status": 204, "error": None, "ms": 40}
    notices.webhook_attempted(hook, event_id, (first, second, third), "delivered", "https://b.example/hook", None)
    delivered = notices.get(hook, event_id)
    assert delivered is not None
    assert (delivered.webhook_status, delivered.webhook_url, delivered.next_attempt_at) == (
        "delivered",
        "https://b.example/hook",
        None,
    )
    assert len(delivered.webhook_attempts) == 3

    notices.webhook_attempted(hook, event_id, (first,), "retrying", None, next_at)
    notices.webhook_settled(hook, event_id, "none")
    settled = notices.get(hook, event_id)
    assert settled is not None and (settled.webhook_status, settled.next_attempt_at) == ("none", None)


def test_data_is_replaced(notices: NoticeStore) -> None:
    owner, event_id = new_id("acct"), new_id("evt")
    notices.record_event(owner, event_id, "balance.low", owner, {"a": 1}, NOW)
    notices.set_data(f"hook#{owner}", event_id, {"b": "two", "c": [3]})
    notice = notices.get(f"hook#{owner}", event_id)
    assert notice is not None and notice.data == {"b": "two", "c": [3]}


# -- webhook endpoints ----------------------------------------------------------------------------------


def test_an_accounts_endpoint_is_set_replaced_and_removed(endpoints: WebhookEndpointStore) -> None:
    account, other, nobody = new_id("acct"), new_id("acct"), new_id("acct")
    assert endpoints.get(account) is None
    endpoints.put(account, "https://a.example/hook", "whsec_1", NOW)
    endpoints.put(other, "https://b.example/hook", "whsec_2", NOW)
    found = endpoints.get(account)
    assert found is not None and (found.account_id, found.url, found.secret) == (
        account,
        "https://a.example/hook",
        "whsec_1",
    )
    endpoints.put(account, "https://c.example/hook", "whsec_3", NOW)
    replaced = endpoints.get(account)
    assert replaced is not None and (replaced.url, replaced.secret) == ("https://c.example/hook", "whsec_3")

    many = endpoints.get_many([account, other, nobody, account])
    assert set(many) == {account, other}
    assert (many[other].account_id, many[other].url) == (other, "https://b.example/hook")
    assert endpoints.get_many([]) == {}

    endpoints.delete(account)
    endpoints.delete(nobody)  # nothing there: no error
    assert endpoints.get(account) is None
    assert set(endpoints.get_many([account, other])) == {other}


# -- usage alerts and their owner's watch ---------------------------------------------------------------


def owner_account(accounts: AccountStore) -> str:
    owner_id = new_id("owner")
    accounts.save(
        Account(
            account_id=owner_id,
            name="Owner",
            kind=AccountKind.ACCOUNT,
            time_zone="UTC",
            currency="USD",
            agency_id=None,
            billing=Billing.OWN,
            created_at=NOW,
            updated_at=NOW,
        )
    )
    return owner_id


def alert(owner_id: str, number: int, *, prefix: str = "ua_", **changes: Any) -> UsageAlert:
    fields: dict[str, Any] = {
        "scope": AlertScope.ACCOUNT,
        "name": f"Alert {number}",
        "category": Category.CALL_MINUTES,
        "measure": Measure.QUANTITY,
        "period": AlertPeriod.MONTH,
        "threshold": 1_000_000 * number,
        "recipients": ("ops@example.com",),
        "webhook_url": None,
        "enabled": True,
        "revision": 1,
        "created_at": NOW,
        "updated_at": NOW + timedelta(microseconds=number),
    }
    fields.update(changes)
    return UsageAlert(owner_id=owner_id, alert_id=f"{prefix}{number:020x}", **fields)


def watch_of(accounts: AccountStore, owner_id: str) -> tuple[Watch, ...]:
    owner = accounts.get(owner_id)
    assert owner is not None
    return owner.alert_watch


def test_an_alert_and_its_owners_watch_are_written_together(stores: tuple[AccountStore, AlertStore]) -> None:
    accounts, alerts = stores
    owner_id = owner_account(accounts)
    first = alert(owner_id, 1, webhook_url="https://hooks.example.com/a")
    alerts.save(first, "whsec_1", "user-1", (), (first.watch,), new=True)
    stored = alerts.get(owner_id, first.alert_id)
    assert stored is not None and stored.alert == first and stored.webhook_secret == "whsec_1"
    assert watch_of(accounts, owner_id) == (first.watch,)

    second = alert(owner_id, 2, category=None, measure=Measure.COST, period=AlertPeriod.DAY, recipients=())
    alerts.save(second, "whsec_unused", None, (first.watch,), (first.watch, second.watch), new=True)
    stored = alerts.get(owner_id, second.alert_id)
    assert stored is not None and stored.alert == second
    assert stored.webhook_secret is None  # no URL: no secret kept
    assert watch_of(accounts, owner_id) == (first.watch, second.watch)

    changed = replace(first, threshold=5, revision=2, webhook_url=None, enabled=False)
    alerts.save(changed, None, None, (first.watch, second.watch), (second.watch, changed.watch), new=False)
    stored = alerts.get(owner_id, first.alert_id)
    assert stored is not None and stored.alert == changed and stored.webhook_secret is None
    assert watch_of(accounts, owner_id) == (second.watch, changed.watch)
    assert alerts.get(owner_id, alert(owner_id, 3).alert_id) is None


def test_a_stale_watch_refuses_the_write_and_changes_nothing(stores: tuple[AccountStore, AlertStore]) -> None:
    accounts, alerts = stores
    owner_id = owner_account(accounts)
    first, second, third = alert(owner_id, 1), alert(owner_id, 2), alert(owner_id, 3)
    alerts.save(first, None, None, (), (first.watch,), new=True)
    alerts.save(second, None, None, (first.watch,), (first.watch, second.watch), new=True)

    with pytest.raises(WatchMoved):  # computed from a watch another request has changed since
        alerts.save(third, None, None, (first.watch,), (first.watch, third.watch), new=True)
    with pytest.raises(WatchMoved):  # "no watch yet", but there is one
        alerts.save(third, None, None, (), (third.watch,), new=True)
    with pytest.raises(WatchMoved):  # the same watches in another order are another watch
        alerts.save(third, None, None, (second.watch, first.watch), (first.watch, second.watch, third.watch), new=True)
    assert alerts.get(owner_id, third.alert_id) is None
    assert watch_of(accounts, owner_id) == (first.watch, second.watch)

    with pytest.raises(WatchMoved):
        alerts.delete(owner_id, first.alert_id, (first.watch,), ())
    assert alerts.get(owner_id, first.alert_id) is not None
    assert watch_of(accounts, owner_id) == (first.watch, second.watch)


def test_a_new_alert_must_be_new_and_a_changed_one_must_exist(stores: tuple[AccountStore, AlertStore]) -> None:
    accounts, alerts = stores
    owner_id = owner_account(accounts)
    first = alert(owner_id, 1)
    alerts.save(first, None, None, (), (first.watch,), new=True)
    renamed = replace(first, name="Renamed")
    with pytest.raises(WatchMoved):
        alerts.save(renamed, None, None, (first.watch,), (renamed.watch,), new=True)
    stored = alerts.get(owner_id, first.alert_id)
    assert stored is not None and stored.alert.name == "Alert 1"

    ghost = alert(owner_id, 2)
    with pytest.raises(WatchMoved):
        alerts.save(ghost, None, None, (first.watch,), (first.watch, ghost.watch), new=False)
    with pytest.raises(WatchMoved):
        alerts.delete(owner_id, ghost.alert_id, (first.watch,), (first.watch,))
    assert alerts.get(owner_id, ghost.alert_id) is None
    assert watch_of(accounts, owner_id) == (first.watch,)


def test_an_owner_that_does_not_exist_has_no_alerts_written(stores: tuple[AccountStore, AlertStore]) -> None:
    accounts, alerts = stores
    owner_id = new_id("nobody")
    lost = alert(owner_id, 1)
    with pytest.raises(WatchMoved):
        alerts.save(lost, None, None, (), (lost.watch,), new=True)
    assert alerts.get(owner_id, lost.alert_id) is None
    assert accounts.get(owner_id) is None


def test_deleting_the_last_alert_removes_the_watch(stores: tuple[AccountStore, AlertStore]) -> None:
    accounts, alerts = stores
    owner_id = owner_account(accounts)
    first, second = alert(owner_id, 1), alert(owner_id, 2)
    alerts.save(first, None, None, (), (first.watch,), new=True)
    alerts.save(second, None, None, (first.watch,), (first.watch, second.watch), new=True)
    alerts.delete(owner_id, first.alert_id, (first.watch, second.watch), (second.watch,))
    assert alerts.get(owner_id, first.alert_id) is None
    assert watch_of(accounts, owner_id) == (second.watch,)
    alerts.delete(owner_id, second.alert_id, (second.watch,), ())
    assert watch_of(accounts, owner_id) == ()
    third = alert(owner_id, 3)  # and "no watch" is what a new first alert is computed from again
    alerts.save(third, None, None, (), (third.watch,), new=True)
    assert watch_of(accounts, owner_id) == (third.watch,)


def test_an_owners_alerts_are_paged_by_id_within_their_prefix(stores: tuple[AccountStore, AlertStore]) -> None:
    accounts, alerts = stores
    owner_id = owner_account(accounts)
    own = [alert(owner_id, n) for n in (5, 1, 4, 2, 3)]
    agency = [alert(owner_id, n, prefix="ug_", scope=AlertScope.AGENCY) for n in (7, 6)]
    watches: list[Watch] = []
    for a in own + agency:
        alerts.save(a, None, None, tuple(watches), (*watches, a.watch), new=True)
        watches.append(a.watch)
    others = owner_account(accounts)
    elsewhere = alert(others, 9)
    alerts.save(elsewhere, None, None, (), (elsewhere.watch,), new=True)
    by_id = sorted(own, key=lambda a: a.alert_id)

    page, after = alerts.page(owner_id, "ua_", 2, None)
    assert page == by_id[:2] and after == by_id[1].alert_id
    page, after = alerts.page(owner_id, "ua_", 2, after)
    assert page == by_id[2:4] and after == by_id[3].alert_id
    page, after = alerts.page(owner_id, "ua_", 2, after)
    assert page == by_id[4:] and after is None
    page, after = alerts.page(owner_id, "ua_", 5, None)  # exactly a page's worth: no cursor
    assert page == by_id and after is None
    page, after = alerts.page(owner_id, "ua_", 2, by_id[2].alert_id)  # two left after it: no cursor
    assert page == by_id[3:] and after is None

    page, after = alerts.page(owner_id, "ug_", 10, None)
    assert [a.alert_id for a in page] == sorted(a.alert_id for a in agency) and after is None
    page, after = alerts.page(owner_id, "ug_", 1, None)
    assert page == [min(agency, key=lambda a: a.alert_id)] and after == page[0].alert_id
    assert alerts.page(new_id("owner"), "ua_", 10, None) == ([], None)
