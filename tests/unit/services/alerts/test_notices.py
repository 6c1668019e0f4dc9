"""services/notices.py on fakes: delivering a firing's email and webhook and a billing event's
webhook, retries with the backoff of RETRY_DELAYS, the dead letter after the last, a redelivered
message that sends nothing twice, the redrive of notices whose message was lost, and arming."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.adapters.alerts_repo import FiringFacts
from chalicelib.adapters.webhook_client import Attempt
from chalicelib.domain.access import Principal, Role
from chalicelib.domain.accounts import AccountKind, Billing
from chalicelib.domain.alerts import AlertPeriod, Firing, window_of
from chalicelib.domain.categories import Category
from chalicelib.domain.periods import format_instant
from chalicelib.domain.rollups import DAY, MONTH, RollupKey, RollupTotals
from chalicelib.domain.webhooks import MAX_ATTEMPTS, RETRY_DELAYS, SIGNATURE_HEADER
from chalicelib.services import notices as service
from chalicelib.services import usage_alerts
from chalicelib.services.notices import Outcome, Received
from tests.fakes.accounts import FakeAccounts
from tests.fakes.alerts import FakeAlerts, FakeNotices, FakeWebhookEndpoints
from tests.fakes.ledger import FakeRollups, LedgerTables
from tests.fakes.outside import FakeClock, FakeMailer, FakeQueues, FakeWebhooks

from .conftest import account

URL = "http://127.0.0.1:8080/hook"
pytestmark = pytest.mark.usefixtures("bound")


@pytest.fixture(autouse=True)
def owners(accounts: FakeAccounts) -> FakeAccounts:
    accounts.save(account("acct-1", name="Acme", emails=("billing@acme.example",)))
    accounts.save(account("ag-1", kind=AccountKind.AGENCY))
    accounts.save(account("sub-1", agency_id="ag-1", billing=Billing.AGENCY))
    accounts.save(account("sub-2", agency_id="ag-1", billing=Billing.OWN, time_zone="America/New_York"))
    accounts.save(account("sub-3", agency_id="ag-1", billing=Billing.OWN, currency="EUR"))
    return accounts


def new_alert(owner_id: str = "acct-1", *, agency: bool = False, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Calls today",
        "category": "call_minutes",
        "measure": "count",
        "period": "day",
        "threshold": "3",
        "recipients": ["ops@example.com"],
        "webhook_url": URL,
    }
    body.update(changes)
    principal = Principal("admin", owner_id, Role.ADMIN)
    return usage_alerts.create_alert(
        principal, owner_id, {k: v for k, v in body.items() if v is not None}, agency=agency
    )


def fire(
    alerts: FakeAlerts, notices: FakeNotices, clock: FakeClock, view: dict[str, Any], subject: str = "acct-1"
) -> tuple[str, str]:
    stored = alerts.get(view["owner_id"], view["id"])
    assert stored is not None
    firing = Firing(view["owner_id"], stored.alert.watch, subject, window_of(AlertPeriod.DAY, clock.now.date()), 4)
    assert notices.record_firing(firing, FiringFacts("USD", "UTC"), clock.now)
    return f"alert#{view['id']}", firing.firing_id


def message(owner: str, notice_id: str, receipt: str = "rh-1") -> Received:
    return Received(json.dumps({"type": "deliver", "owner": owner, "id": notice_id}), "mid-1", receipt)


def deliver(owner: str, notice_id: str, receipt: str = "rh-1") -> Outcome:
    return service.handle(message(owner, notice_id, receipt))


def got(notices: FakeNotices, key: tuple[str, str]) -> Any:
    notice = notices.get(*key)
    assert notice is not None
    return notice


# -- a firing's email and webhook -----------------------------------------------------------------------


def test_a_firing_is_emailed_and_posted_signed_once(
    alerts: FakeAlerts, notices: FakeNotices, clock: FakeClock, mailer: FakeMailer, webhooks: FakeWebhooks
) -> None:
    view = new_alert()
    key = fire(alerts, notices, clock, view)
    clock.advance(seconds=30)
    assert deliver(*key) is Outcome.DONE

    (mail,) = mailer.sent
    assert mail.to == ["ops@example.com"] and mail.subject.startswith("Usage alert: Calls today reached 3")
    assert "Acme" in mail.text
    ((url, body, headers),) = webhooks.posted
    assert url == URL
    sent = json.loads(body)
    assert (sent["type"], sent["account_id"], sent["id"]) == (
        "usage_alert.triggered",
        "acct-1",
        got(notices, key).event_id,
    )
    assert sent["data"]["alert_name"] == "Calls today" and sent["data"]["subject_account_id"] == "acct-1"
    assert sent["data"]["value"] == "4" and sent["data"]["threshold"] == "3"
    secret = view["webhook_secret"]
    timestamp = int(clock.now.timestamp())
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"t={timestamp},v1={digest}"

    notice = got(notices, key)
    assert (notice.email_status, notice.email_recipients, notice.email_at) == (
        "sent",
        ("ops@example.com",),
        format_instant(clock.now),
    )
    assert (notice.webhook_status, notice.webhook_url, notice.next_attempt_at) == ("delivered", URL, None)
    assert [a["status"] for a in notice.webhook_attempts] == [200]
    assert notice.pending is False and notice.data["alert_name"] == "Calls today"  # the data as sent is kept

    assert deliver(*key) is Outcome.DONE  # SQS delivered the message again: nothing is sent twice
    assert len(mailer.sent) == 1 and len(webhooks.posted) == 1


def test_a_failed_webhook_comes_back_after_each_delay_and_is_dead_lettered_after_the_last(
    alerts: FakeAlerts,
    notices: FakeNotices,
    clock: FakeClock,
    mailer: FakeMailer,
    webhooks: FakeWebhooks,
    queues: FakeQueues,
) -> None:
    key = fire(alerts, notices, clock, new_alert())
    webhooks.answers = [Attempt(500, None, 12), Attempt(None, "timeout", 5000)] + [Attempt(503, None, 3)] * 6
    for attempt in range(1, MAX_ATTEMPTS):
        assert deliver(*key, receipt=f"rh-{attempt}") is Outcome.RETRY
        notice = got(notices, key)
        assert notice.webhook_status == "retrying" and len(notice.webhook_attempts) == attempt
        assert notice.next_attempt_at == format_instant(clock.now + timedelta(seconds=RETRY_DELAYS[attempt - 1]))
        clock.advance(seconds=RETRY_DELAYS[attempt - 1])
    assert queues.notice_retries == [(f"rh-{n}", delay) for n, delay in enumerate(RETRY_DELAYS, start=1)]
    assert len(mailer.sent) == 1  # the email went on the first delivery, and only then
    assert got(notices, key).webhook_attempts[1]["error"] == "timeout"

    assert deliver(*key, receipt="rh-last") is Outcome.DONE
    notice = got(notices, key)
    assert (notice.webhook_status, notice.next_attempt_at) == ("dead_lettered", None)
    assert len(notice.webhook_attempts) == MAX_ATTEMPTS == len(webhooks.posted)
    ((body, reason, message_id),) = queues.dead_notices
    assert json.loads(body) == {"type": "deliver", "owner": key[0], "id": key[1]} and message_id == "mid-1"
    assert reason == f"webhook not delivered after {MAX_ATTEMPTS} attempts: 503"
    assert len({json.loads(b)["id"] for _, b, _ in webhooks.posted}) == 1  # the same event id on every attempt

    assert deliver(*key) is Outcome.DONE  # dead-lettered: never tried again
    assert len(webhooks.posted) == MAX_ATTEMPTS


def test_a_webhook_that_succeeds_on_a_retry_is_delivered(
    alerts: FakeAlerts, notices: FakeNotices, clock: FakeClock, webhooks: FakeWebhooks, queues: FakeQueues
) -> None:
    key = fire(alerts, notices, clock, new_alert())
    webhooks.answers = [Attempt(502, None, 4)]
    assert deliver(*key) is Outcome.RETRY
    assert deliver(*key) is Outcome.DONE
    notice = got(notices, key)
    assert notice.webhook_status == "delivered" and [a["status"] for a in notice.webhook_attempts] == [502, 200]
    assert len(queues.notice_retries) == 1 and queues.dead_notices == []


def test_an_email_ses_refused_is_tried_again_and_sent_once(
    alerts: FakeAlerts, notices: FakeNotices, clock: FakeClock, mailer: FakeMailer
) -> None:
    key = fire(alerts, notices, clock, new_alert(webhook_url=None))
    mailer.fail_with = ConnectionError("SES throttled")
    assert deliver(*key) is Outcome.RETRY
    notice = got(notices, key)
    assert notice.email_status == "pending" and "SES throttled" in notice.email_error
    assert notice.webhook_status == "none"  # no URL: nothing to post

    mailer.fail_with = None
    assert deliver(*key) is Outcome.DONE
    notice = got(notices, key)
    assert (notice.email_status, notice.email_error) == ("sent", None) and len(mailer.sent) == 1


def test_an_email_another_worker_is_sending_is_left_to_it(
    alerts: FakeAlerts, notices: FakeNotices, clock: FakeClock, mailer: FakeMailer
) -> None:
    key = fire(alerts, notices, clock, new_alert(webhook_url=None))
    assert notices.claim_email(*key, clock.now.timestamp(), service.EMAIL_LEASE_SECONDS)
    assert deliver(*key) is Outcome.DONE and mailer.sent == []
    clock.advance(seconds=service.EMAIL_LEASE_SECONDS + 1)  # that worker died: its lease runs out
    assert deliver(*key) is Outcome.DONE and len(mailer.sent) == 1


def test_a_webhook_only_alert_sends_no_email(
    alerts: FakeAlerts, notices: FakeNotices, clock: FakeClock, mailer: FakeMailer, webhooks: FakeWebhooks
) -> None:
    key = fire(alerts, notices, clock, new_alert(recipients=[]))
    assert deliver(*key) is Outcome.DONE
    notice = got(notices, key)
    assert (notice.email_status, notice.webhook_status) == ("none", "delivered")
    assert mailer.sent == [] and len(webhooks.posted) == 1


def test_a_deleted_alerts_firing_is_settled_with_nothing_sent(
    alerts: FakeAlerts, notices: FakeNotices, clock: FakeClock, mailer: FakeMailer, webhooks: FakeWebhooks
) -> None:
    view = new_alert()
    key = fire(alerts, notices, clock, view)
    usage_alerts.delete_alert(Principal("admin", "acct-1", Role.ADMIN), "acct-1", view["id"], agency=False)
    assert deliver(*key) is Outcome.DONE
    notice = got(notices, key)
    assert (notice.email_status, notice.email_error, notice.webhook_status) == (
        "none",
        "the alert was deleted",
        "none",
    )
    assert mailer.sent == [] and webhooks.posted == []
    assert deliver(*key) is Outcome.DONE  # settled: nothing left to change


def test_an_agency_firing_for_a_client_names_the_client(
    alerts: FakeAlerts, notices: FakeNotices, clock: FakeClock, mailer: FakeMailer, webhooks: FakeWebhooks
) -> None:
    view = new_alert("ag-1", agency=True, each_account=True)
    key = fire(alerts, notices, clock, view, subject="sub-2")
    assert deliver(*key) is Outcome.DONE
    sent = json.loads(webhooks.posted[0][1])
    assert (sent["account_id"], sent["data"]["subject_account_id"], sent["data"]["owner_id"]) == (
        "sub-2",
        "sub-2",
        "ag-1",
    )
    assert "Account sub-2" in mailer.sent[0].text


# -- a billing event's webhook --------------------------------------------------------------------------


def test_a_billing_event_is_posted_to_the_accounts_endpoint(
    endpoints: FakeWebhookEndpoints, notices: FakeNotices, clock: FakeClock, webhooks: FakeWebhooks, mailer: FakeMailer
) -> None:
    endpoints.put("acct-1", URL, "whsec_acct", clock.now)
    assert notices.record_event("acct-1", "evt_1", "balance.low", "acct-1", {"balance": "1.00"}, clock.now)
    assert deliver("hook#acct-1", "evt_1") is Outcome.DONE
    ((url, body, headers),) = webhooks.posted
    assert url == URL and json.loads(body)["data"] == {"balance": "1.00"}
    digest = hmac.new(b"whsec_acct", f"{int(clock.now.timestamp())}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER].endswith(digest)
    notice = got(notices, ("hook#acct-1", "evt_1"))
    assert (notice.webhook_status, notice.email_status) == ("delivered", "none") and mailer.sent == []


def test_a_billing_event_whose_endpoint_was_removed_is_settled(
    notices: FakeNotices, clock: FakeClock, webhooks: FakeWebhooks
) -> None:
    notices.record_event("acct-1", "evt_2", "balance.low", "acct-1", {}, clock.now)
    assert deliver("hook#acct-1", "evt_2") is Outcome.DONE
    assert got(notices, ("hook#acct-1", "evt_2")).webhook_status == "none" and webhooks.posted == []


def test_a_notice_that_is_not_there_is_done(notices: FakeNotices, webhooks: FakeWebhooks) -> None:
    assert deliver("hook#acct-1", "evt_missing") is Outcome.DONE
    assert notices.items == {} and webhooks.posted == []


@pytest.mark.parametrize(
    ("body", "error"),
    [("{not json", "Expecting property name"), ("[1]", "not a JSON object"), ('{"type": "shout"}', "unknown notice")],
)
def test_a_message_nobody_can_read_is_a_value_error(body: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        service.handle(Received(body, "mid", "rh"))


# -- the redrive --------------------------------------------------------------------------------------


def test_the_redrive_queues_again_what_the_worker_never_received(
    alerts: FakeAlerts, notices: FakeNotices, clock: FakeClock, queues: FakeQueues
) -> None:
    first = new_alert()
    old = fire(alerts, notices, clock, first)
    notices.record_event("acct-1", "evt_old", "balance.low", "acct-1", {}, clock.now)
    notices.received("hook#acct-1", "evt_old")
    clock.advance(minutes=4)
    second = new_alert(name="another")
    fire(alerts, notices, clock, second)
    assert service.redrive() == 0 and queues.notices == []  # nothing five minutes old yet
    clock.advance(minutes=2)
    # The first alert's firing and first look (oldest first); not the received event, not the newer ones.
    assert service.redrive() == 2
    assert [(m["type"], m["owner"], m["id"]) for m in queues.notices] == [
        ("deliver", *old),
        ("deliver", *arm_key(first)),
    ]
    clock.advance(minutes=4)
    assert service.redrive() == 4  # until the worker has them, they are queued again


def test_arming_is_scheduled_as_a_waiting_notice(notices: FakeNotices, clock: FakeClock) -> None:
    service.schedule_arming("acct-1", "ua_" + "1" * 20, 7)
    arm = got(notices, ("arm#ua_" + "1" * 20, "r000007"))
    assert arm.created_at == format_instant(clock.now) and arm.pending
    assert arm.data == {"owner_id": "acct-1", "revision": 7}


# -- arming --------------------------------------------------------------------------------------------


def put(tables: LedgerTables, scope: str, account_id: str, period: str, bucket: str, **totals: int) -> None:
    FakeRollups(tables).put_rollups(
        scope, {RollupKey(account_id, period, bucket, Category.CALL_MINUTES): RollupTotals(**totals)}
    )


def arm_key(view: dict[str, Any], revision: int = 1) -> tuple[str, str]:
    return f"arm#{view['id']}", f"r{revision:06d}"


def firings_of(notices: FakeNotices, view: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted(k for k in notices.items if k[0] == f"alert#{view['id']}")


def test_an_alert_already_past_its_threshold_fires_on_its_first_look(
    notices: FakeNotices, tables: LedgerTables, clock: FakeClock, queues: FakeQueues
) -> None:
    today = clock.now.date().isoformat()
    put(tables, "acct-1", "acct-1", DAY, today, count=5, quantity_micros=300_000_000, amount_micros=-4_000_000)
    view = new_alert()
    quiet = new_alert(threshold="6", name="not yet")
    assert got(notices, arm_key(view)).pending

    assert deliver(*arm_key(view)) is Outcome.DONE
    assert deliver(*arm_key(quiet)) is Outcome.DONE
    (key,) = firings_of(notices, view)
    assert key[1] == f"r000001#{today}#acct-1"
    fired = got(notices, key)
    assert (fired.value, fired.threshold, fired.data["value"]) == (5, 3, "5")
    assert firings_of(notices, quiet) == []
    assert got(notices, arm_key(view)).pending is False
    assert {"type": "deliver", "owner": key[0], "id": key[1]} in queues.notices

    assert deliver(*arm_key(view)) is Outcome.DONE  # a second look records nothing new
    assert firings_of(notices, view) == [key]


def test_an_alert_changed_disabled_or_deleted_since_is_not_armed(
    alerts: FakeAlerts, notices: FakeNotices, tables: LedgerTables, clock: FakeClock
) -> None:
    put(tables, "acct-1", "acct-1", DAY, clock.now.date().isoformat(), count=10)
    principal = Principal("admin", "acct-1", Role.ADMIN)
    changed = new_alert()
    usage_alerts.update_alert(principal, "acct-1", changed["id"], {"threshold": "4"}, agency=False)
    assert service.arm("acct-1", changed["id"], 1, clock.now) == []  # revision 1 is not the alert now
    assert len(service.arm("acct-1", changed["id"], 2, clock.now)) == 1

    disabled = new_alert()
    usage_alerts.update_alert(principal, "acct-1", disabled["id"], {"enabled": False}, agency=False)
    assert service.arm("acct-1", disabled["id"], 1, clock.now) == []
    assert service.arm("acct-1", "ua_" + "0" * 20, 1, clock.now) == []  # deleted
    assert service.arm("nobody", changed["id"], 2, clock.now) == []


def test_an_alert_whose_owner_is_gone_is_not_armed(
    accounts: FakeAccounts, alerts: FakeAlerts, tables: LedgerTables, clock: FakeClock
) -> None:
    view = new_alert()
    accounts.items.pop("acct-1")
    assert service.arm("acct-1", view["id"], 1, clock.now) == []


def test_an_agency_alert_for_each_client_fires_for_each_client_past_it_in_its_own_day(
    notices: FakeNotices, tables: LedgerTables, clock: FakeClock
) -> None:
    clock.now = clock.now.replace(hour=2)  # 02:00 UTC: still yesterday in New York
    today, yesterday = clock.now.date(), clock.now.date() - timedelta(days=1)
    put(tables, "ag-1", "sub-1", DAY, today.isoformat(), count=3)
    put(tables, "ag-1", "sub-2", DAY, yesterday.isoformat(), count=9)
    put(tables, "ag-1", "sub-2", DAY, today.isoformat(), count=1)  # its tomorrow: not counted
    put(tables, "ag-1", "sub-3", DAY, today.isoformat(), count=2)
    view = new_alert("ag-1", agency=True, each_account=True)
    fired = service.arm("ag-1", view["id"], 1, clock.now)
    assert sorted((f.subject_id, f.window.start, f.value) for f in fired) == [
        ("sub-1", today, 3),
        ("sub-2", yesterday, 9),
    ]
    assert len(firings_of(notices, view)) == 2


def test_an_agency_total_counts_its_clients_and_its_cost_only_in_its_currency(
    notices: FakeNotices, tables: LedgerTables, clock: FakeClock
) -> None:
    month = clock.now.date().strftime("%Y-%m")
    put(tables, "ag-1", "ag-1", MONTH, month, count=1, amount_micros=-1_000_000)
    put(tables, "ag-1", "sub-1", MONTH, month, count=1, amount_micros=-2_000_000)
    put(
        tables, "ag-1", "sub-3", MONTH, month, count=1, amount_micros=-50_000_000
    )  # euros (charges are stored negative)
    count = new_alert("ag-1", agency=True, period="month", threshold="3")
    cost = new_alert("ag-1", agency=True, period="month", measure="cost", threshold="3.00")
    too_high = new_alert("ag-1", agency=True, period="month", measure="cost", threshold="3.01")
    (by_count,) = service.arm("ag-1", count["id"], 1, clock.now)
    assert (by_count.subject_id, by_count.value) == ("ag-1", 3)
    (by_cost,) = service.arm("ag-1", cost["id"], 1, clock.now)
    assert by_cost.value == 3_000_000  # the client billed in EUR is not added to USD
    assert service.arm("ag-1", too_high["id"], 1, clock.now) == []
    assert got(notices, (f"alert#{cost['id']}", by_cost.firing_id)).data["currency"] == "USD"


def test_clients_with_no_usage_in_the_period_do_not_fire(notices: FakeNotices, clock: FakeClock) -> None:
    view = new_alert("ag-1", agency=True, each_account=True, threshold="1")
    assert service.arm("ag-1", view["id"], 1, clock.now) == []
    assert firings_of(notices, view) == []
