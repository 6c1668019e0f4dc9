"""services/statements/send.py on the fakes: each statement sent once, under a lease, whatever the queue does."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.adapters.email import MailRefused
from chalicelib.adapters.statements_repo import Claim
from chalicelib.domain.statement import Statement
from chalicelib.domain.statement_schedule import Cadence, Frequency
from chalicelib.services.statements import (
    LEASE,
    Busy,
    InvalidMessage,
    ScheduledRun,
    SendOutcome,
    process_message,
    request_statement,
    scheduled_statement_id,
)
from chalicelib.services.statements import send as send_module
from chalicelib.services.statements.build import build_numbers
from tests.fakes.world import admin
from tests.unit.services.statements.conftest import World

MARCH_5 = datetime(2026, 3, 5, 10, tzinfo=UTC)
DAILY = Cadence(Frequency.DAILY)


def fund_and_use(world: World, account_id: str, at: datetime = MARCH_5) -> None:
    world.record_at(
        at,
        world.event(account_id, "recharge", amount="50", occurred_at=at),
        world.event(account_id, occurred_at=at),
        world.event(account_id, "text_messages", occurred_at=at),
    )


def on_demand(world: World, account_id: str = "acme", recipients: tuple[str, ...] = ("a@x.io",)) -> str:
    """A statement requested on demand: built and queued. Returns the queue message's body."""
    if world.accounts.get(account_id) is None:
        world.provision(account_id)
        fund_and_use(world, account_id)
    body = {"from": "2026-03-01", "to": "2026-03-14", "recipients": list(recipients)}
    request_statement(admin(account_id), account_id, body)
    return json.dumps(world.queues.statements[-1])


def statement_of(body: str) -> str:
    return str(json.loads(body)["statement_id"])


def throttled() -> ClientError:
    return ClientError({"Error": {"Code": "Throttling", "Message": "Maximum sending rate exceeded"}}, "SendRawEmail")


def test_a_built_statement_is_sent_once_with_its_pdf(world: World) -> None:
    body = on_demand(world, recipients=("a@x.io", "b@x.io"))
    assert process_message(body) is SendOutcome.SENT
    (mail,) = world.mailer.sent
    assert mail.to == ["a@x.io", "b@x.io"] and "Mar 1, 2026" in mail.subject
    (pdf,) = mail.attachments
    assert pdf.content_type == "application/pdf" and pdf.data.startswith(b"%PDF")
    stored = world.statements.get(statement_of(body))
    assert stored is not None
    assert (stored.status, stored.ses_message_id, stored.sent_at) == ("sent", mail.message_id, world.clock.now)
    assert stored.pdf_sha256 is not None and len(stored.pdf_sha256) == 64
    # The queue delivers it again: nothing more goes out.
    assert process_message(body) is SendOutcome.ALREADY_DONE
    assert len(world.mailer.sent) == 1


def test_a_statement_leased_by_another_sender_waits_for_the_lease(world: World) -> None:
    body = on_demand(world)
    other = world.statements.claim(statement_of(body), token="other", now=world.clock.now, lease=LEASE)
    assert other is not None
    with pytest.raises(Busy):
        process_message(body)
    assert world.mailer.sent == []
    world.clock.advance(seconds=LEASE.total_seconds() + 1)  # the other sender died
    assert process_message(body) is SendOutcome.SENT
    assert len(world.mailer.sent) == 1
    assert world.statements.finish(other, "sent", world.clock.now) is False  # its lease is gone


def test_a_mail_failure_releases_the_lease_and_a_retry_sends_it(world: World) -> None:
    body = on_demand(world)
    world.mailer.fail_with = RuntimeError("connection reset")
    with pytest.raises(RuntimeError):
        process_message(body)
    stored = world.statements.get(statement_of(body))
    assert stored is not None and stored.status == "sending" and stored.ses_message_id is None
    assert stored.last_error == "RuntimeError('connection reset')"
    world.mailer.fail_with = None
    world.clock.advance(seconds=1)  # the queue's retry: the lease was given back, no need to wait it out
    assert process_message(body) is SendOutcome.SENT
    assert len(world.mailer.sent) == 1


def test_a_throttled_send_is_released_and_raised_for_the_queue(world: World) -> None:
    body = on_demand(world)
    world.mailer.fail_with = throttled()
    with pytest.raises(ClientError):
        process_message(body)
    stored = world.statements.get(statement_of(body))
    assert stored is not None and stored.status == "sending"
    assert stored.last_error is not None and "(Throttling)" in stored.last_error
    world.mailer.fail_with = None
    world.clock.advance(seconds=1)
    assert process_message(body) is SendOutcome.SENT


@pytest.mark.parametrize(
    ("error", "recorded"),
    [
        (MailRefused("MessageRejected", "Email address is not verified"), "MessageRejected: "),
        (ValueError("not a valid address"), "not a valid address"),
    ],
)  # fmt: skip
def test_a_message_ses_refuses_for_good_is_recorded_failed(world: World, error: Exception, recorded: str) -> None:
    body = on_demand(world)
    world.mailer.fail_with = error
    assert process_message(body) is SendOutcome.FAILED
    stored = world.statements.get(statement_of(body))
    assert stored is not None and stored.status == "failed" and stored.sent_at is None
    assert stored.last_error is not None and stored.last_error.startswith(recorded)
    world.mailer.fail_with = None
    assert process_message(body) is SendOutcome.ALREADY_DONE
    assert world.mailer.sent == []


def test_stored_numbers_that_do_not_add_up_are_refused_not_sent(world: World) -> None:
    body = on_demand(world)
    item = world.statements.items[statement_of(body)]
    assert item.numbers is not None
    item.numbers["closing_balance_micros"] += 1  # a stored number changed after the build
    assert process_message(body) is SendOutcome.REFUSED
    stored = world.statements.get(statement_of(body))
    assert stored is not None and stored.status == "refused" and stored.last_error is not None
    assert "opening" in stored.last_error and world.mailer.sent == []
    assert process_message(body) is SendOutcome.ALREADY_DONE


def test_a_send_that_outlives_its_lease_still_counts_as_sent(world: World) -> None:
    body = on_demand(world)
    sid = statement_of(body)
    taken: list[Claim] = []

    def slow_mailer(**message: Any) -> str:
        world.clock.advance(seconds=LEASE.total_seconds() + 1)
        claim = world.statements.claim(sid, token="late", now=world.clock.now, lease=LEASE)
        assert claim is not None
        taken.append(claim)
        return world.mailer.send(**message)

    assert process_message(body, send=slow_mailer) is SendOutcome.SENT
    stored = world.statements.get(sid)
    # Recorded by nobody: the other sender holds the lease (the one case of a second send).
    assert stored is not None and stored.status == "sending" and stored.ses_message_id is None
    assert len(taken) == 1 and len(world.mailer.sent) == 1


def test_statement_sent_is_told_to_the_accounts_webhook(world: World) -> None:
    body = on_demand(world)
    world.endpoints.put("acme", "https://hooks.example/acme", "whsec_0123456789abcdef", world.clock.now)
    assert process_message(body) is SendOutcome.SENT
    notices = [n for (owner, _), n in world.notices.items.items() if owner.endswith("acme")]
    assert len(notices) == 1
    assert notices[0]["event_type"] == "statement.sent"
    assert [m["type"] for m in world.queues.notices] == ["deliver"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"type": "send", "statement_id": "x"}', "not a statement id"),
        ('{"type": "send", "statement_id": "st_000000000000000000000000"}', "does not exist"),
        ('{"type": "resend"}', "unknown message type"),
        ('{"type": "scheduled", "account_id": "acme"}', "not a scheduled run"),
        ('{"type": "scheduled", "account_id": "a", "frequency": "hourly", "time_zone": "UTC",'
         ' "scheduled_at": "2026-03-15T06:00:00.000000Z"}', "not a scheduled run"),
        ('{"type": "scheduled", "account_id": "a", "frequency": "daily", "time_zone": "Mars/Base",'
         ' "scheduled_at": "2026-03-15T06:00:00.000000Z"}', "not a scheduled run"),
    ],
)  # fmt: skip
def test_a_message_that_names_no_statement_is_invalid(world: World, body: str, message: str) -> None:
    with pytest.raises(InvalidMessage, match=message):
        process_message(body)


# -- scheduled runs ----------------------------------------------------------------------------


def scheduled(world: World, account_id: str = "acme", cadence: Cadence = DAILY, **fields: Any) -> ScheduledRun:
    """A daily schedule of the account and its run for March 14 (sent on the 15th at 06:00 Berlin)."""
    if world.accounts.get(account_id) is None:
        world.provision(account_id)
    world.schedules.put(
        account_id=account_id, cadence=cadence, recipients=["ops@x.io"], enabled=True, time_zone="Europe/Berlin",
        next_run_at=world.clock.now, now=world.clock.now, updated_by=None,
    )  # fmt: skip
    run = ScheduledRun(account_id, cadence, "Europe/Berlin", datetime(2026, 3, 15, 5, tzinfo=UTC))
    assert run.period == (date(2026, 3, 14), date(2026, 3, 14))
    return ScheduledRun(**{**run.__dict__, **fields})


def test_a_scheduled_run_builds_sends_and_freezes_its_numbers_once(world: World) -> None:
    world.provision("acme")
    fund_and_use(world, "acme", datetime(2026, 3, 14, 9, tzinfo=UTC))
    run = scheduled(world)
    body = json.dumps(run.to_json())
    assert process_message(body) is SendOutcome.SENT
    sid = scheduled_statement_id("acme", "daily", date(2026, 3, 14), date(2026, 3, 14))
    stored = world.statements.get(sid)
    assert stored is not None and stored.status == "sent" and stored.origin == "scheduled"
    assert stored.document is not None and stored.document["frequency"] == "daily"
    assert stored.recipients == ("ops@x.io",) and world.mailer.sent[0].to == ["ops@x.io"]
    assert stored.document["closing_balance_micros"] == world.balance("acme") != 0
    assert process_message(body) is SendOutcome.ALREADY_DONE  # the scheduler's tick ran twice
    assert len(world.mailer.sent) == 1


def test_a_retry_after_a_failed_send_reuses_the_frozen_numbers(world: World) -> None:
    world.provision("acme")
    fund_and_use(world, "acme", datetime(2026, 3, 14, 9, tzinfo=UTC))
    body = json.dumps(scheduled(world).to_json())
    world.mailer.fail_with = RuntimeError("SES down")
    with pytest.raises(RuntimeError):
        process_message(body)
    sid = scheduled_statement_id("acme", "daily", date(2026, 3, 14), date(2026, 3, 14))
    frozen = world.statements.get(sid)
    assert frozen is not None and frozen.numbers is not None
    # A late event for the 14th arrives before the retry: the statement already built does not change.
    world.record(world.event("acme", occurred_at=datetime(2026, 3, 14, 20, tzinfo=UTC)))
    world.mailer.fail_with = None
    world.clock.advance(seconds=1)
    assert process_message(body) is SendOutcome.SENT
    sent = world.statements.get(sid)
    assert sent is not None and sent.numbers == frozen.numbers and sent.built_at == frozen.built_at


def test_a_lease_lost_while_building_leaves_the_statement_to_its_holder(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = json.dumps(scheduled(world).to_json())
    sid = scheduled_statement_id("acme", "daily", date(2026, 3, 14), date(2026, 3, 14))
    build = build_numbers

    def slow_build(*args: Any, **kwargs: Any) -> Statement:
        world.clock.advance(seconds=LEASE.total_seconds() + 1)
        assert world.statements.claim(sid, token="other", now=world.clock.now, lease=LEASE) is not None
        return build(*args, **kwargs)

    monkeypatch.setattr(send_module, "build_numbers", slow_build)
    with pytest.raises(Busy, match="lease was lost"):
        process_message(body)
    stored = world.statements.get(sid)
    assert stored is not None and stored.numbers is None and world.mailer.sent == []


def test_a_scheduled_statement_that_does_not_reconcile_is_refused(world: World) -> None:
    world.provision("acme")
    fund_and_use(world, "acme", datetime(2026, 3, 14, 9, tzinfo=UTC))
    # The balance head no longer agrees with its posting days: the ledger does not link up.
    head = world.ledger.tables.head_record("acme")
    assert head is not None
    world.ledger.tables.update_head(head, {"balance_micros": int(head.balance_micros) + 10_000})
    body = json.dumps(scheduled(world).to_json())
    assert process_message(body) is SendOutcome.REFUSED
    stored = world.statements.get(scheduled_statement_id("acme", "daily", date(2026, 3, 14), date(2026, 3, 14)))
    assert stored is not None and stored.status == "refused" and stored.numbers is None
    assert stored.last_error is not None and world.mailer.sent == []
    assert process_message(body) is SendOutcome.ALREADY_DONE


def test_a_run_of_a_switched_off_or_changed_schedule_is_skipped(world: World) -> None:
    run = scheduled(world)
    changed = ScheduledRun(run.account_id, Cadence(Frequency.WEEKLY, 0), run.time_zone, run.scheduled_at)
    assert process_message(json.dumps(changed.to_json())) is SendOutcome.SKIPPED
    world.schedules.put(
        account_id="acme", cadence=DAILY, recipients=["ops@x.io"], enabled=False, time_zone="Europe/Berlin",
        next_run_at=None, now=world.clock.now, updated_by=None,
    )  # fmt: skip
    assert process_message(json.dumps(run.to_json())) is SendOutcome.SKIPPED
    nobody = ScheduledRun("nobody", DAILY, "UTC", run.scheduled_at)
    assert process_message(json.dumps(nobody.to_json())) is SendOutcome.SKIPPED
    assert world.statements.items == {} and world.mailer.sent == []


def test_a_run_for_a_shared_billing_or_missing_account_is_skipped(world: World) -> None:
    world.provision("agency", kind="agency")
    world.provision("client", agency_id="agency", billing="agency")
    shared = scheduled(world, "client")
    assert process_message(json.dumps(shared.to_json())) is SendOutcome.SKIPPED
    gone = scheduled(world, "ghost")
    world.accounts.items.pop("ghost")
    assert process_message(json.dumps(gone.to_json())) is SendOutcome.SKIPPED
    assert world.statements.items == {}


def test_a_run_whose_period_has_not_ended_is_skipped(world: World) -> None:
    early = scheduled(world, scheduled_at=datetime(2026, 3, 16, 5, tzinfo=UTC))  # the 15th: still running
    assert process_message(json.dumps(early.to_json())) is SendOutcome.SKIPPED
    assert world.statements.items == {}


def test_a_run_queued_before_runs_had_an_hour_runs_at_six(world: World) -> None:
    run = scheduled(world)
    data = run.to_json()
    del data["hour"]
    assert ScheduledRun.from_json(data) == run and run.cadence.hour == 6
    fund_and_use(world, "acme", datetime(2026, 3, 14, 9, tzinfo=UTC))
    assert process_message(json.dumps(data)) is SendOutcome.SENT


def test_period_end_is_local_midnight_after_the_period(world: World) -> None:
    run = scheduled(world)
    assert run.period_end == datetime(2026, 3, 14, 23, tzinfo=UTC)  # 00:00 on the 15th in Berlin (CET)
