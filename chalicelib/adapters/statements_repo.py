"""Statements and statement schedules in DynamoDB.

The statement item is written once with its numbers and afterwards only its
delivery moves (status, lease, SES message id). Claims are conditional updates:
whoever holds an unexpired lease on a statement is the only one sending it.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, cast

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from ..domain.ledger_check import StatementFacts
from ..domain.periods import format_instant
from ..domain.statement import Statement
from ..domain.statement_schedule import DEFAULT_HOUR, Cadence, Frequency
from ..domain.statements import document_seal
from .paging import take_page
from .secrets import ledger_key
from .storage_errors import error_code
from .tables.base import bind
from .tables.statement_schedules import StatementScheduleRecord
from .tables.statements import StatementRecord

DUE_SHARDS = 4


def _conditional_failed(exc: PutError | UpdateError) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"


def encode_numbers(doc: Mapping[str, Any]) -> bytes:
    return zlib.compress(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode(), 6)


def decode_numbers(data: bytes) -> dict[str, Any]:
    value = json.loads(zlib.decompress(data))
    assert isinstance(value, dict)
    return value


# -- statements ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredStatement:
    statement_id: str
    account_id: str
    origin: str
    frequency: str | None
    period_first: str
    period_last: str
    recipients: tuple[str, ...]
    status: str
    created_at: datetime
    built_at: datetime | None
    sent_at: datetime | None
    ses_message_id: str | None
    currency: str | None
    opening_balance_micros: int | None
    closing_balance_micros: int | None
    last_error: str | None
    document: dict[str, Any] | None = field(default=None, repr=False)  # the stored numbers; absent in list rows
    pdf_sha256: str | None = None
    requested_by: str | None = None

    @cached_property
    def numbers(self) -> Statement | None:
        """The stored numbers as a Statement, read when first asked for: a stored document that
        is not a statement raises StatementDoesNotReconcile where they are used, not here."""
        return None if self.document is None else Statement.from_json(self.document)


def _stored(r: StatementRecord, with_numbers: bool) -> StoredStatement:
    return StoredStatement(
        statement_id=r.statement_id,
        account_id=r.account_id,
        origin=r.origin,
        frequency=r.frequency,
        period_first=r.period_first,
        period_last=r.period_last,
        recipients=tuple(str(x) for x in r.recipients or ()),
        status=r.status,
        created_at=r.created_at,
        built_at=r.built_at,
        sent_at=r.sent_at,
        ses_message_id=r.ses_message_id,
        currency=r.currency,
        opening_balance_micros=None if r.opening_balance_micros is None else int(r.opening_balance_micros),
        closing_balance_micros=None if r.closing_balance_micros is None else int(r.closing_balance_micros),
        last_error=r.last_error,
        document=decode_numbers(r.numbers) if with_numbers and r.numbers is not None else None,
        pdf_sha256=getattr(r, "pdf_sha256", None) if with_numbers else None,
        requested_by=getattr(r, "requested_by", None) if with_numbers else None,
    )


@dataclass(frozen=True)
class StatementPage:
    items: list[StoredStatement]
    last_key: dict[str, Any] | None


@dataclass(frozen=True)
class Claim:
    """A lease on a statement: the holder (token) may build and send it until `until`."""

    statement: StoredStatement
    token: str
    until: datetime


class StatementRepository:
    def get(self, statement_id: str) -> StoredStatement | None:
        bind()
        try:
            return _stored(StatementRecord.get(statement_id, consistent_read=True), with_numbers=True)
        except DoesNotExist:
            return None

    def create_built(
        self,
        *,
        statement_id: str,
        account_id: str,
        statement: Statement,
        recipients: Sequence[str],
        requested_by: str | None,
        now: datetime,
    ) -> None:
        """An on-demand statement: built now, queued for the sender."""
        bind()
        doc = statement.to_json()
        record = StatementRecord(
            statement_id,
            account_id=account_id,
            created_key=f"{format_instant(now)}#{statement_id}",
            created_at=now,
            origin="on_demand",
            frequency=None,
            period_first=statement.period.first.isoformat(),
            period_last=statement.period.last.isoformat(),
            recipients=cast(Any, list(recipients)),
            requested_by=requested_by,
            numbers=encode_numbers(doc),
            numbers_seal=document_seal(ledger_key(), doc),
            built_at=now,
            currency=statement.currency,
            opening_balance_micros=statement.opening_balance_micros,
            closing_balance_micros=statement.closing_balance_micros,
            status="queued",
            attempts=0,
        )
        record.save(condition=StatementRecord.statement_id.does_not_exist())

    def claim(
        self,
        statement_id: str,
        *,
        token: str,
        now: datetime,
        lease: timedelta,
        new: Mapping[str, Any] | None = None,
    ) -> Claim | None:
        """Take the lease on a statement that is not sent yet and not leased by someone else.

        `new` (account_id, origin, frequency, period_first, period_last, recipients)
        creates the item when it does not exist (a scheduled run); without it the
        statement must exist already (an on-demand one). None when not ours to send.
        """
        bind()
        free = (StatementRecord.status.is_in("queued", "sending")) & (
            StatementRecord.lease_until.does_not_exist() | (StatementRecord.lease_until < now)
        )
        until = now + lease
        actions: list[Any] = [
            StatementRecord.status.set("sending"),
            StatementRecord.lease_until.set(until),
            StatementRecord.claim_token.set(token),
            StatementRecord.attempts.add(1),
        ]
        if new is not None:
            condition = StatementRecord.statement_id.does_not_exist() | free
            actions += [
                StatementRecord.account_id.set(StatementRecord.account_id | new["account_id"]),
                StatementRecord.created_key.set(StatementRecord.created_key | f"{format_instant(now)}#{statement_id}"),
                StatementRecord.created_at.set(StatementRecord.created_at | now),
                StatementRecord.origin.set(StatementRecord.origin | new["origin"]),
                StatementRecord.frequency.set(StatementRecord.frequency | new["frequency"]),
                StatementRecord.period_first.set(StatementRecord.period_first | new["period_first"]),
                StatementRecord.period_last.set(StatementRecord.period_last | new["period_last"]),
                StatementRecord.recipients.set(cast(Any, list(new["recipients"]))),
            ]
        else:
            condition = StatementRecord.statement_id.exists() & free
        record = StatementRecord(statement_id)
        try:
            record.update(actions=actions, condition=condition)
        except UpdateError as exc:
            if _conditional_failed(exc):
                return None
            raise
        return Claim(_stored(record, with_numbers=True), token, until)

    def save_numbers(self, claim: Claim, statement: Statement, now: datetime) -> bool:
        """Freeze the numbers of a claimed statement (once, ever); False if the lease was lost."""
        bind()
        doc = statement.to_json()
        try:
            StatementRecord(claim.statement.statement_id).update(
                actions=[
                    StatementRecord.numbers.set(encode_numbers(doc)),
                    StatementRecord.numbers_seal.set(document_seal(ledger_key(), doc)),
                    StatementRecord.built_at.set(now),
                    StatementRecord.currency.set(statement.currency),
                    StatementRecord.opening_balance_micros.set(statement.opening_balance_micros),
                    StatementRecord.closing_balance_micros.set(statement.closing_balance_micros),
                ],
                condition=StatementRecord.numbers.does_not_exist() & (StatementRecord.claim_token == claim.token),
            )
        except UpdateError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def finish(
        self,
        claim: Claim,
        status: str,
        now: datetime,
        *,
        ses_message_id: str | None = None,
        pdf_sha256: str | None = None,
        error: str | None = None,
    ) -> bool:
        """Record the outcome of a claimed send (sent, failed, refused); False if the lease was lost."""
        bind()
        actions: list[Any] = [
            StatementRecord.status.set(status),
            StatementRecord.lease_until.remove(),
            StatementRecord.claim_token.remove(),
        ]
        if ses_message_id is not None:
            actions += [StatementRecord.ses_message_id.set(ses_message_id), StatementRecord.sent_at.set(now)]
        if pdf_sha256 is not None:
            actions.append(StatementRecord.pdf_sha256.set(pdf_sha256))
        if error is not None:
            actions.append(StatementRecord.last_error.set(error[:1000]))
        try:
            StatementRecord(claim.statement.statement_id).update(
                actions=actions, condition=StatementRecord.claim_token == claim.token
            )
        except UpdateError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def release(self, claim: Claim, now: datetime, error: str) -> None:
        """Give the lease back after a failure, so a retry may take it at once."""
        bind()
        try:
            StatementRecord(claim.statement.statement_id).update(
                actions=[StatementRecord.lease_until.set(now), StatementRecord.last_error.set(error[:1000])],
                condition=StatementRecord.claim_token == claim.token,
            )
        except UpdateError as exc:
            if not _conditional_failed(exc):
                raise

    def all_built(self) -> Iterator[StatementFacts]:
        """Every statement whose numbers are stored (a scan: for the reconcile job only)."""
        bind()
        for r in StatementRecord.scan(filter_condition=StatementRecord.numbers.exists()):
            yield StatementFacts(
                statement_id=r.statement_id,
                account_id=r.account_id,
                doc=decode_numbers(r.numbers) if r.numbers is not None else None,
                seal=r.numbers_seal,
                opening_column=None if r.opening_balance_micros is None else int(r.opening_balance_micros),
                closing_column=None if r.closing_balance_micros is None else int(r.closing_balance_micros),
            )

    def seal_numbers(self, statement_id: str, doc: Mapping[str, Any]) -> None:
        """Seal the numbers of a statement built before seals were kept (make rebuild)."""
        bind()
        StatementRecord(statement_id).update(
            actions=[StatementRecord.numbers_seal.set(document_seal(ledger_key(), doc))],
            condition=StatementRecord.numbers_seal.does_not_exist(),
        )

    def built_of(self, account_id: str) -> list[StatementFacts]:
        """One account's statements whose numbers are stored (the rolling reconcile)."""
        bind()
        ids = [r.statement_id for r in StatementRecord.by_account_created.query(account_id)]
        records = StatementRecord.batch_get(ids) if ids else []
        return [
            StatementFacts(
                statement_id=r.statement_id,
                account_id=r.account_id,
                doc=decode_numbers(r.numbers),
                seal=r.numbers_seal,
                opening_column=None if r.opening_balance_micros is None else int(r.opening_balance_micros),
                closing_column=None if r.closing_balance_micros is None else int(r.closing_balance_micros),
            )
            for r in records
            if r.numbers is not None
        ]

    def page(self, account_id: str, limit: int, after: dict[str, Any] | None) -> StatementPage:
        """An account's statements, newest first."""
        bind()
        results = StatementRecord.by_account_created.query(
            account_id, scan_index_forward=False, last_evaluated_key=after, page_size=limit + 1
        )
        items, last_key = take_page(
            results,
            limit,
            lambda r: _stored(r, with_numbers=False),
            lambda r: {
                "statement_id": {"S": r.statement_id},
                "account_id": {"S": r.account_id},
                "created_key": {"S": r.created_key},
            },
        )
        return StatementPage(items, last_key)


# -- schedules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    account_id: str
    cadence: Cadence
    recipients: tuple[str, ...]
    enabled: bool
    time_zone: str
    revision: int
    next_run_at: str | None
    last_run_at: str | None
    created_at: datetime
    updated_at: datetime
    updated_by: str | None


def _schedule(r: StatementScheduleRecord) -> Schedule:
    return Schedule(
        account_id=r.account_id,
        cadence=Cadence(
            Frequency(r.frequency),
            None if r.weekday is None else int(r.weekday),
            None if r.day_of_month is None or r.frequency != Frequency.MONTHLY else int(r.day_of_month),
            DEFAULT_HOUR if r.hour is None else int(r.hour),
        ),
        recipients=tuple(str(x) for x in r.recipients or ()),
        enabled=bool(r.enabled),
        time_zone=r.time_zone,
        revision=int(r.revision or 1),
        next_run_at=r.next_run_at,
        last_run_at=r.last_run_at,
        created_at=r.created_at,
        updated_at=r.updated_at,
        updated_by=r.updated_by,
    )


def due_shard(account_id: str) -> str:
    return str(sum(account_id.encode()) % DUE_SHARDS)


class ScheduleRepository:
    def get(self, account_id: str) -> Schedule | None:
        bind()
        try:
            return _schedule(StatementScheduleRecord.get(account_id, consistent_read=True))
        except DoesNotExist:
            return None

    def put(
        self,
        *,
        account_id: str,
        cadence: Cadence,
        recipients: Sequence[str],
        enabled: bool,
        time_zone: str,
        next_run_at: datetime | None,
        now: datetime,
        updated_by: str | None,
    ) -> Schedule:
        """Replace the account's schedule (revision + 1); in the due index only when enabled."""
        bind()
        actions: list[Any] = [
            StatementScheduleRecord.frequency.set(cadence.frequency.value),
            StatementScheduleRecord.recipients.set(cast(Any, list(recipients))),
            StatementScheduleRecord.enabled.set(enabled),
            StatementScheduleRecord.time_zone.set(time_zone),
            StatementScheduleRecord.revision.add(1),
            StatementScheduleRecord.created_at.set(StatementScheduleRecord.created_at | now),
            StatementScheduleRecord.updated_at.set(now),
        ]
        for attribute, value in (
            (StatementScheduleRecord.weekday, cadence.weekday),
            (StatementScheduleRecord.day_of_month, cadence.day_of_month),
        ):
            actions.append(attribute.remove() if value is None else attribute.set(value))
        actions.append(StatementScheduleRecord.hour.set(cadence.hour))
        actions.append(
            StatementScheduleRecord.updated_by.remove()
            if updated_by is None
            else StatementScheduleRecord.updated_by.set(updated_by)
        )
        if enabled and next_run_at is not None:
            actions += [
                StatementScheduleRecord.due_shard.set(due_shard(account_id)),
                StatementScheduleRecord.next_run_at.set(format_instant(next_run_at)),
            ]
        else:
            actions += [StatementScheduleRecord.due_shard.remove(), StatementScheduleRecord.next_run_at.remove()]
        record = StatementScheduleRecord(account_id)
        record.update(actions=actions)
        return _schedule(record)

    def due(self, now: datetime) -> Iterator[Schedule]:
        """Enabled schedules whose next run is at or before `now`: one Query per shard, never a scan."""
        bind()
        bound = format_instant(now)
        for shard in range(DUE_SHARDS):
            for record in StatementScheduleRecord.by_next_run.query(
                str(shard), range_key_condition=StatementScheduleRecord.next_run_at <= bound
            ):
                yield _schedule(record)

    def advance(self, schedule: Schedule, *, ran: datetime | None, next_run_at: datetime) -> bool:
        """Move the next run on (and note the run handed to the sender, if any), if nobody did
        meanwhile (another scheduler, an edit)."""
        bind()
        assert schedule.next_run_at is not None
        actions: list[Any] = [StatementScheduleRecord.next_run_at.set(format_instant(next_run_at))]
        if ran is not None:
            actions.append(StatementScheduleRecord.last_run_at.set(format_instant(ran)))
        try:
            StatementScheduleRecord(schedule.account_id).update(
                actions=actions,
                condition=(StatementScheduleRecord.next_run_at == schedule.next_run_at)
                & (StatementScheduleRecord.revision == schedule.revision),
            )
        except UpdateError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True
