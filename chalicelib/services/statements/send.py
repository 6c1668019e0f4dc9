"""Sending statements from the statements queue: at least once from the queue, exactly once per statement.

The sender takes a lease on the statement item (a conditional update) before it builds
or sends, and marks it sent with SES's message id under the same lease. A sender
that dies between the claim and the send leaves a lease that expires; the queue's
retry then takes it over. (A crash after SES accepted the message but before it
was marked sent is the one case that sends twice: SES has no idempotency key.)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from ...adapters.statements_repo import Claim
from ...domain.accounts import Billing
from ...domain.periods import format_instant, parse_instant
from ...domain.statement import Statement
from ...domain.statement_schedule import DEFAULT_HOUR, Cadence, Frequency, period_end, period_for_run
from ...domain.statements import StatementDoesNotReconcile, check_statement_arithmetic
from ...observability import get_logger, record_statement_sent
from ..ports import Clock, StatementStore
from ..stores import stores
from .build import STATEMENT_ID, build_numbers, scheduled_statement_id, utc_now

LEASE = timedelta(minutes=5)


class SendOutcome(StrEnum):
    SENT = "sent"
    ALREADY_DONE = "already_done"  # sent (or finally failed/refused) by an earlier delivery
    REFUSED = "refused"  # did not reconcile: recorded, never sent
    FAILED = "failed"  # SES or the address refused it for good: recorded
    SKIPPED = "skipped"  # the schedule was switched off or changed, or the account cannot have one


class Busy(Exception):
    """Another sender holds the lease: let the queue retry later."""


class InvalidMessage(ValueError):
    pass


@dataclass(frozen=True)
class ScheduledRun:
    account_id: str
    cadence: Cadence
    time_zone: str
    scheduled_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "scheduled",
            "account_id": self.account_id,
            "frequency": self.cadence.frequency.value,
            "weekday": self.cadence.weekday,
            "day_of_month": self.cadence.day_of_month,
            "hour": self.cadence.hour,
            "time_zone": self.time_zone,
            "scheduled_at": format_instant(self.scheduled_at),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScheduledRun:
        try:
            weekday, day_of_month = data.get("weekday"), data.get("day_of_month")
            cadence = Cadence(
                Frequency(str(data["frequency"])),
                None if weekday is None else int(weekday),
                None if day_of_month is None else int(day_of_month),
                int(data.get("hour", DEFAULT_HOUR)),  # a message queued before runs had an hour: 06:00
            )
            ZoneInfo(str(data["time_zone"]))
            return cls(
                str(data["account_id"]), cadence, str(data["time_zone"]), parse_instant(str(data["scheduled_at"]))
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidMessage(f"not a scheduled run: {exc}") from None

    @property
    def period(self) -> tuple[date, date]:
        return period_for_run(self.cadence, ZoneInfo(self.time_zone), self.scheduled_at)

    @property
    def period_end(self) -> datetime:
        return period_end(self.cadence, ZoneInfo(self.time_zone), self.scheduled_at)


Sender = Callable[..., str]


def process_message(body: str, clock: Clock = utc_now, send: Sender | None = None) -> SendOutcome:
    """One queue message: build (if needed) and send the statement it names, once."""
    try:
        data = json.loads(body)
    except ValueError:
        raise InvalidMessage("not JSON") from None
    if not isinstance(data, dict):
        raise InvalidMessage("not a JSON object")
    if data.get("type") == "send":
        statement_id = str(data.get("statement_id", ""))
        if not STATEMENT_ID.match(statement_id):
            raise InvalidMessage("statement_id is not a statement id")
        return _send_built(statement_id, clock, send)
    if data.get("type") == "scheduled":
        return _send_scheduled(ScheduledRun.from_json(data), clock, send)
    raise InvalidMessage(f"unknown message type {data.get('type')!r}")


def _not_claimed(statements: StatementStore, statement_id: str) -> SendOutcome:
    stored = statements.get(statement_id)
    if stored is None:
        raise InvalidMessage(f"statement {statement_id} does not exist")
    if stored.status in ("sent", "failed", "refused"):
        return SendOutcome.ALREADY_DONE
    raise Busy(f"statement {statement_id} is being sent by another worker")


def _send_built(statement_id: str, clock: Clock, send: Sender | None) -> SendOutcome:
    statements = stores().statements
    claim = statements.claim(statement_id, token=uuid.uuid4().hex, now=clock(), lease=LEASE)
    if claim is None:
        return _not_claimed(statements, statement_id)
    try:
        statement = claim.statement.numbers
    except StatementDoesNotReconcile as exc:
        return _refuse(statements, claim, clock, exc)
    assert statement is not None
    return _deliver(statements, claim, statement, clock, send)


def _send_scheduled(run: ScheduledRun, clock: Clock, send: Sender | None) -> SendOutcome:
    log = get_logger()
    schedule = stores().schedules.get(run.account_id)
    if schedule is None or not schedule.enabled or schedule.cadence != run.cadence:
        log.info("scheduled statement skipped: schedule off or changed", extra=run.to_json())
        return SendOutcome.SKIPPED
    account = stores().accounts.get(run.account_id)
    if account is None or (account.billing is Billing.AGENCY and account.agency_id):
        log.info("scheduled statement skipped: no account or shared billing", extra=run.to_json())
        return SendOutcome.SKIPPED
    first, last = run.period
    frequency = run.cadence.frequency.value
    statement_id = scheduled_statement_id(run.account_id, frequency, first, last)
    statements = stores().statements
    now = clock()
    if run.period_end > now:  # a run named ahead of time (a pretended tick): never a period still running
        log.info("scheduled statement skipped: its period has not ended", extra=run.to_json())
        return SendOutcome.SKIPPED
    claim = statements.claim(
        statement_id,
        token=uuid.uuid4().hex,
        now=now,
        lease=LEASE,
        new={
            "account_id": run.account_id,
            "origin": "scheduled",
            "frequency": frequency,
            "period_first": first.isoformat(),
            "period_last": last.isoformat(),
            "recipients": list(schedule.recipients),
        },
    )
    if claim is None:
        return _not_claimed(statements, statement_id)
    try:
        statement = claim.statement.numbers
    except StatementDoesNotReconcile as exc:
        return _refuse(statements, claim, clock, exc)
    if statement is None:  # the first attempt builds; a retry after a crash reuses what it froze
        try:
            statement = build_numbers(
                account, first, last, statement_id=statement_id, now=now, origin="scheduled", frequency=frequency
            )
        except StatementDoesNotReconcile as exc:
            log.error("scheduled statement refused", extra={**run.to_json(), "reason": str(exc)})
            statements.finish(claim, "refused", clock(), error=str(exc))
            return SendOutcome.REFUSED
        if not statements.save_numbers(claim, statement, now):
            raise Busy(f"statement {statement_id}: the lease was lost while building")
    return _deliver(statements, claim, statement, clock, send)


def _refuse(statements: StatementStore, claim: Claim, clock: Clock, exc: StatementDoesNotReconcile) -> SendOutcome:
    statements.finish(claim, "refused", clock(), error=str(exc))
    return SendOutcome.REFUSED


def _deliver(
    statements: StatementStore, claim: Claim, statement: Statement, clock: Clock, send: Sender | None
) -> SendOutcome:
    """Render and send under the lease; record the outcome."""
    from ...adapters.email import Attachment
    from ...statement_render import render_email

    try:
        check_statement_arithmetic(statement)
    except StatementDoesNotReconcile as exc:
        return _refuse(statements, claim, clock, exc)
    rendered = render_email(statement)
    sender = send or stores().mailer.send
    try:
        message_id = sender(
            to=list(claim.statement.recipients),
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            attachments=[Attachment(rendered.filename, "application/pdf", rendered.pdf)],
        )
    except ValueError as exc:  # an address or the message can never be sent, or SES refused it for good
        statements.finish(claim, "failed", clock(), error=str(exc))
        return SendOutcome.FAILED
    except Exception as exc:  # throttled, the network: the lease is released and SQS tries again
        statements.release(claim, clock(), repr(exc))
        raise
    record_statement_sent()
    from ..notifications import notify_statement_sent

    notify_statement_sent(claim.statement)
    if not statements.finish(claim, "sent", clock(), ses_message_id=message_id, pdf_sha256=rendered.pdf_sha256):
        get_logger().warning(
            "statement sent after its lease expired", extra={"statement_id": claim.statement.statement_id}
        )
    return SendOutcome.SENT
