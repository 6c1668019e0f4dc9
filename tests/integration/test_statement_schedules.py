"""Recurring statements: the schedule API, the due index, and exactly one email per (schedule, period)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from chalice.test import Client

from bench.counting import RequestCounter
from chalicelib.adapters.statements_repo import DUE_SHARDS, ScheduleRepository, StatementRepository, due_shard
from chalicelib.adapters.tables.base import all_models, bind
from chalicelib.adapters.tables.statement_schedules import StatementScheduleRecord
from chalicelib.config import get_settings
from chalicelib.domain.periods import format_instant
from chalicelib.domain.statement_schedule import Cadence, Frequency, period_for_run
from chalicelib.services.statement_schedules import enqueue_due
from chalicelib.services.statements import Busy, SendOutcome, process_message, scheduled_statement_id

from .email_helpers import read_sent_emails
from .http_helpers import admin, assert_error, drain_queue, make_client, new_id, ok_json, provision, send, viewer
from .statement_helpers import event, post_at, run_statement_queue

NY = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def client(aws: Any) -> Client:
    return make_client()


def inbox() -> str:
    return f"{new_id('sched')}@example.org"


class Crash(BaseException):
    """The process dies: nothing in the sender catches this, so no cleanup runs."""


def test_put_and_get_a_schedule(client):
    account = provision(client, new_id("acct"), time_zone="Australia/Sydney")
    url = f"/accounts/{account}/statement-schedule"
    empty = ok_json(send(client, "GET", url, viewer(account)))
    assert empty["configured"] is False and empty["enabled"] is False and empty["time_zone"] == "Australia/Sydney"
    to = inbox()
    body = {"frequency": "weekly", "weekday": "Monday", "recipients": [to, to.upper()]}
    saved = ok_json(send(client, "PUT", url, admin(account), body))
    assert saved["frequency"] == "weekly" and saved["weekday"] == "monday" and saved["enabled"] is True
    assert saved["recipients"] == [to]
    next_run = datetime.fromisoformat(saved["next_run_at"].replace("Z", "+00:00")).astimezone(
        ZoneInfo("Australia/Sydney")
    )
    assert (next_run.weekday(), next_run.hour, next_run.minute) == (0, 6, 0)
    assert next_run > datetime.now(UTC)
    first = datetime.fromisoformat(saved["next_period"]["from"]).date()
    last = datetime.fromisoformat(saved["next_period"]["to"]).date()
    assert (last - first).days == 6 and last == next_run.date() - timedelta(days=1)
    assert ok_json(send(client, "GET", url, viewer(account))) == saved

    quarterly = ok_json(send(client, "PUT", url, admin(account), {"frequency": "quarterly", "recipients": [to]}))
    assert quarterly["weekday"] is None and quarterly["next_run_at"][5:10] in ("12-31", "03-31", "06-30", "09-30")
    off = ok_json(
        send(client, "PUT", url, admin(account), {"frequency": "monthly", "recipients": [to], "enabled": False})
    )
    assert off["enabled"] is False and off["next_run_at"] is None and off["next_period"] is None
    # Switched off: out of the due index altogether (sparse).
    bind()
    record = StatementScheduleRecord.get(account, consistent_read=True)
    assert record.next_run_at is None and record.due_shard is None


def test_the_scheduler_reads_only_the_due_schedules(aws):
    """1,000 schedules, 100 of them due: the due query reads about 100 items, never scans."""
    bind()
    now = datetime(2026, 11, 26, 15, tzinfo=UTC)
    due_ids: set[str] = set()
    with StatementScheduleRecord.batch_write() as batch:
        for i in range(1000):
            account_id = new_id("bulk")
            due = i % 10 == 0
            enabled = i % 7 != 3 or due
            record = StatementScheduleRecord(
                account_id,
                frequency="monthly",
                recipients=["a@example.com"],
                enabled=enabled,
                time_zone="America/New_York",
                revision=1,
                created_at=now,
                updated_at=now,
            )
            if enabled:
                record.due_shard = due_shard(account_id)
                record.next_run_at = format_instant(
                    now - timedelta(hours=1) if due else now + timedelta(days=5 + i % 20)
                )
            if due:
                due_ids.add(account_id)
            batch.save(record)
    assert len(due_ids) == 100
    counter = RequestCounter()
    counter.attach_models(all_models())
    sent: list[Any] = []
    with counter.window() as tally:
        outcome = enqueue_due(now, send=lambda messages: sent.extend(messages))
    table = get_settings().table_name("statement_schedules")
    assert outcome == {"due": 100, "enqueued": 100, "advanced": 100, "held_back": 0}
    assert {m["account_id"] for m in sent} == due_ids
    assert tally.items_read_by_table[table] == 100
    assert tally.items_scanned["Query"] == 100
    assert tally.requests["Scan"] == 0
    assert tally.requests["Query"] == DUE_SHARDS
    # Moved on: the next tick finds none of them.
    assert enqueue_due(now + timedelta(minutes=15), send=lambda messages: None)["due"] == 0


def _scheduled_account(client: Client, to: str, *, zone: str = "America/New_York") -> str:
    account = provision(client, new_id("acct"), time_zone=zone, name=f"Scheduled {to}")
    yesterday = datetime.now(UTC) - timedelta(days=1)
    post_at(yesterday - timedelta(days=40), [event(account, "recharge", yesterday - timedelta(days=40), amount="50")])
    post_at(yesterday, [event(account, "call_minutes", yesterday - timedelta(days=10), quantity="30")])
    ok_json(
        send(
            client,
            "PUT",
            f"/accounts/{account}/statement-schedule",
            admin(account),
            {"frequency": "monthly", "recipients": [to]},
        )
    )
    return account


def _make_due(account: str, at: datetime) -> None:
    bind()
    StatementScheduleRecord(account).update(actions=[StatementScheduleRecord.next_run_at.set(format_instant(at))])


def test_three_concurrent_scheduler_runs_send_one_email_per_schedule_and_period(client, moto_endpoint):
    inboxes = [inbox() for _ in range(4)]
    accounts = [_scheduled_account(client, to) for to in inboxes]
    # Due since the last monthly run (06:00 on the 1st, New York), which the scheduler missed.
    schedule = ScheduleRepository().get(accounts[0])
    assert schedule is not None and schedule.next_run_at is not None
    tick = datetime.now(UTC).replace(second=0, microsecond=0)
    for account in accounts:
        _make_due(account, tick - timedelta(days=70))  # off for two months: only the latest period goes out
    threads = [threading.Thread(target=enqueue_due, args=(tick,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Only this test's schedules: others made earlier in the run fall due too on some days
    # (every monthly schedule's first run is 06:00 New York on the 1st).
    messages = [
        m for m in drain_queue(get_settings().statements_queue_name) if json.loads(m["Body"])["account_id"] in accounts
    ]
    assert len(accounts) <= len(messages) <= 3 * len(accounts)
    # The sender gets every copy (and some twice more: SQS redelivers), concurrently.
    results: list[SendOutcome] = []
    lock = threading.Lock()

    retried: list[str] = []

    def deliver(body: str) -> None:
        try:
            outcome = process_message(body)
        except Busy:  # another copy holds the lease: the queue retries this one later
            with lock:
                retried.append(body)
            return
        with lock:
            results.append(outcome)

    bodies = [m["Body"] for m in messages] * 2
    workers = [threading.Thread(target=deliver, args=(b,)) for b in bodies]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    results += [process_message(body) for body in retried]  # the retries, once the senders are done
    assert results.count(SendOutcome.SENT) == len(accounts)
    assert set(results) == {SendOutcome.SENT, SendOutcome.ALREADY_DONE}
    cadence = Cadence(Frequency.MONTHLY)
    first, last = period_for_run(cadence, NY, tick)
    for account, to in zip(accounts, inboxes, strict=True):
        mails = read_sent_emails(moto_endpoint, to=to)
        assert len(mails) == 1, (to, len(mails))
        assert mails[0]["leaf_types"] == ["text/plain", "text/html", "application/pdf"]
        stored = StatementRepository().get(scheduled_statement_id(account, "monthly", first, last))
        assert stored is not None and stored.status == "sent" and stored.origin == "scheduled"
        assert stored.ses_message_id == mails[0]["message_id"]
        listed = ok_json(send(client, "GET", f"/accounts/{account}/statements", viewer(account)))["items"]
        assert [(i["from"], i["to"], i["status"]) for i in listed] == [(first.isoformat(), last.isoformat(), "sent")]
        after = ScheduleRepository().get(account)
        assert after is not None and after.next_run_at is not None and after.next_run_at > format_instant(tick)


def test_a_crash_between_claim_and_send_is_retried_after_the_lease(client, moto_endpoint):
    to = inbox()
    account = _scheduled_account(client, to)
    tick = datetime.now(UTC)
    _make_due(account, tick - timedelta(minutes=1))
    enqueue_due(tick)
    [message] = drain_queue(get_settings().statements_queue_name)

    def crash(**_: Any) -> str:
        raise Crash

    with pytest.raises(Crash):
        process_message(message["Body"], clock=lambda: tick, send=crash)
    assert read_sent_emails(moto_endpoint, to=to) == []
    # Redelivered while the lease holds: not sent, left for a later retry.
    with pytest.raises(Busy):
        process_message(message["Body"], clock=lambda: tick + timedelta(minutes=1))
    assert read_sent_emails(moto_endpoint, to=to) == []
    # After the lease: sent, with the numbers frozen by the first attempt.
    later = tick + timedelta(minutes=6)
    assert process_message(message["Body"], clock=lambda: later) is SendOutcome.SENT
    assert process_message(message["Body"], clock=lambda: later + timedelta(hours=1)) is SendOutcome.ALREADY_DONE
    assert len(read_sent_emails(moto_endpoint, to=to)) == 1


def test_an_on_demand_statement_is_sent_once_under_duplicate_messages(client, moto_endpoint):
    to = inbox()
    account = _scheduled_account(client, to)
    today = datetime.now(NY).date()
    body = {"from": (today - timedelta(days=20)).isoformat(), "to": today.isoformat(), "recipients": [to]}
    sid = ok_json(send(client, "POST", f"/accounts/{account}/statements", admin(account), body), 202)["statement_id"]
    [message] = drain_queue(get_settings().statements_queue_name)
    outcomes = [process_message(message["Body"]) for _ in range(3)]
    assert outcomes == [SendOutcome.SENT, SendOutcome.ALREADY_DONE, SendOutcome.ALREADY_DONE]
    assert len(read_sent_emails(moto_endpoint, to=to)) == 1
    listed = ok_json(send(client, "GET", f"/accounts/{account}/statements", viewer(account)))["items"]
    assert listed[0]["id"] == sid and listed[0]["status"] == "sent"


def test_a_switched_off_schedule_sends_nothing_and_the_handler_reports_failures(client, moto_endpoint):
    from app import send_statements

    to = inbox()
    account = _scheduled_account(client, to)
    tick = datetime.now(UTC)
    _make_due(account, tick - timedelta(minutes=1))
    enqueue_due(tick)
    url = f"/accounts/{account}/statement-schedule"
    ok_json(send(client, "PUT", url, admin(account), {"frequency": "monthly", "recipients": [to], "enabled": False}))
    assert run_statement_queue() == [SendOutcome.SKIPPED]
    assert read_sent_emails(moto_endpoint, to=to) == []

    # Through the Lambda handler: a malformed message is dead-lettered, not retried.
    records = [
        {"messageId": "m-1", "receiptHandle": "r", "body": "not json", "attributes": {}, "messageAttributes": {},
         "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:1:q", "awsRegion": "us-east-1"},
    ]  # fmt: skip
    assert send_statements({"Records": records}, None) == {"batchItemFailures": []}
    assert len(drain_queue(get_settings().statements_dlq_name)) == 1


def test_the_schedule_endpoints_need_reach_and_the_admin_role(client):
    agency = provision(client, new_id("agency"), kind="agency")
    other = provision(client, new_id("acct"))
    body = {"frequency": "daily", "recipients": ["a@example.com"]}
    assert_error(send(client, "PUT", f"/accounts/{other}/statement-schedule", admin(agency), body), 404)
    assert_error(send(client, "GET", f"/accounts/{other}/statement-schedule", viewer(agency)), 404)
    assert_error(send(client, "PUT", f"/accounts/{agency}/statement-schedule", viewer(agency), body), 403)
    assert ok_json(send(client, "PUT", f"/accounts/{agency}/statement-schedule", admin(agency), body))["enabled"]


# -- a chosen day of the month, a chosen hour, yearly; schedules stored before them -------------


def test_monthly_on_a_chosen_day_at_a_chosen_hour_and_yearly(client):
    account = provision(client, new_id("acct"), time_zone="Europe/London")
    url = f"/accounts/{account}/statement-schedule"
    to = inbox()
    body = {"frequency": "monthly", "day_of_month": "last", "hour": 18, "recipients": [to]}
    saved = ok_json(send(client, "PUT", url, admin(account), body))
    assert (saved["day_of_month"], saved["hour"], saved["weekday"]) == ("last", 18, None)
    run = datetime.fromisoformat(saved["next_run_at"].replace("Z", "+00:00")).astimezone(ZoneInfo("Europe/London"))
    assert (run.hour, run.minute) == (18, 0) and (run + timedelta(days=1)).day == 1  # the last day of a month
    first = datetime.fromisoformat(saved["next_period"]["from"]).date()
    assert (first + timedelta(days=1)).day == 1 and saved["next_period"]["to"] == (
        run.date() - timedelta(days=1)
    ).isoformat()
    assert ok_json(send(client, "GET", url, viewer(account))) == saved

    on_the_15th = ok_json(send(client, "PUT", url, admin(account), {**body, "day_of_month": 15, "hour": 0}))
    run = datetime.fromisoformat(on_the_15th["next_run_at"].replace("Z", "+00:00")).astimezone(
        ZoneInfo("Europe/London")
    )
    assert (run.day, run.hour) == (15, 0) and on_the_15th["next_period"]["from"][8:] == "15"

    yearly = ok_json(send(client, "PUT", url, admin(account), {"frequency": "yearly", "hour": 7, "recipients": [to]}))
    assert yearly["next_run_at"][5:10] in ("01-01",) and yearly["next_period"]["from"][5:] == "01-01"
    assert yearly["day_of_month"] is None and yearly["next_period"]["to"][5:] == "12-31"

    for bad, mentions in [
        ({**body, "day_of_month": 29}, "day_of_month"),
        ({**body, "day_of_month": "first"}, "day_of_month"),
        ({**body, "hour": 24}, "hour"),
        ({**body, "hour": "6"}, "hour"),
        ({"frequency": "weekly", "weekday": "monday", "day_of_month": 3, "recipients": [to]}, "monthly"),
        ({"frequency": "fortnightly", "recipients": [to]}, "frequency"),
    ]:
        assert_error(send(client, "PUT", url, admin(account), bad), 400, mentions=mentions)
    assert ok_json(send(client, "GET", url, viewer(account)))["frequency"] == "yearly"  # nothing changed


def test_a_schedule_stored_before_days_and_hours_still_runs_on_the_1st_at_six(client, moto_endpoint):
    to = inbox()
    account = _scheduled_account(client, to)
    bind()
    record = StatementScheduleRecord.get(account, consistent_read=True)
    # As an older version stored it: no day of the month, no hour.
    record.update(actions=[StatementScheduleRecord.day_of_month.remove(), StatementScheduleRecord.hour.remove()])
    view = ok_json(send(client, "GET", f"/accounts/{account}/statement-schedule", viewer(account)))
    assert (view["frequency"], view["day_of_month"], view["hour"]) == ("monthly", 1, 6)
    local = datetime.fromisoformat(view["next_run_at"].replace("Z", "+00:00")).astimezone(NY)
    assert (local.day, local.hour) == (1, 6)
    tick = datetime.now(UTC)
    _make_due(account, tick - timedelta(minutes=1))
    assert enqueue_due(tick)["enqueued"] == 1
    # A message queued by the older version (no hour, no day of the month) is sent too.
    [message] = drain_queue(get_settings().statements_queue_name)
    body = json.loads(message["Body"])
    for key in ("hour", "day_of_month"):
        body.pop(key)
    assert process_message(json.dumps(body)) is SendOutcome.SENT
    assert len(read_sent_emails(moto_endpoint, to=to)) == 1


# -- make statements-now AT=<future>: pretending a time ----------------------------------------


def test_a_pretended_future_tick_sends_no_unfinished_period_and_keeps_the_real_schedule(client, moto_endpoint):
    from devtools.statements_now import _fire

    to = inbox()
    account = _scheduled_account(client, to)
    # Runs at midnight: the next run's period (this month) is running until that very run, whatever the date.
    schedule = {"frequency": "monthly", "hour": 0, "recipients": [to]}
    ok_json(send(client, "PUT", f"/accounts/{account}/statement-schedule", admin(account), schedule))
    midnight = Cadence(Frequency.MONTHLY, hour=0)
    before = ScheduleRepository().get(account)
    assert before is not None and before.next_run_at is not None
    real_next = datetime.fromisoformat(before.next_run_at.replace("Z", "+00:00"))
    assert real_next > datetime.now(UTC)
    # `make statements-now AT=<a week after the next run>`: the period of that run is still running.
    pretended = real_next + timedelta(days=7)
    assert _fire(pretended, send=True) == 0
    after = ScheduleRepository().get(account)
    assert after is not None
    assert after.next_run_at == before.next_run_at and after.last_run_at == before.last_run_at
    assert read_sent_emails(moto_endpoint, to=to) == []
    first, last = period_for_run(midnight, NY, real_next)
    assert StatementRepository().get(scheduled_statement_id(account, "monthly", first, last)) is None

    # A message naming that run anyway (an older tick) is not sent before its period ends...
    from chalicelib.services.statements import ScheduledRun

    early = ScheduledRun(account, midnight, "America/New_York", real_next)
    assert process_message(json.dumps(early.to_json())) is SendOutcome.SKIPPED
    assert StatementRepository().get(scheduled_statement_id(account, "monthly", first, last)) is None
    # ...and is, once it has (the clock at the run), exactly once.
    at_run = lambda: real_next + timedelta(minutes=5)  # noqa: E731
    assert process_message(json.dumps(early.to_json()), clock=at_run) is SendOutcome.SENT
    assert process_message(json.dumps(early.to_json()), clock=at_run) is SendOutcome.ALREADY_DONE
    assert len(read_sent_emails(moto_endpoint, to=to)) == 1
