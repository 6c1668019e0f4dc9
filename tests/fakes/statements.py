"""In-memory `StatementStore` and `ScheduleStore` (chalicelib/adapters/statements_repo.py).

Each method copies its adapter's DynamoDB request: the same conditions (a statement is
created once, a claim needs an unleased statement not sent yet, the numbers are frozen once
and only by the lease holder, the outcome is recorded only under the lease, a schedule moves
on only from the run and revision it was read at), the same answers when a condition fails
(None, False, or PynamoDB's PutError/UpdateError with ConditionalCheckFailedException), and the
same orders (an account's statements newest first by "<created>#<id>", resumed from the same
key; due schedules shard by shard, earliest first). tests/integration/contracts holds them to it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.adapters.statements_repo import (
    DUE_SHARDS,
    Claim,
    Schedule,
    StatementPage,
    StoredStatement,
    decode_numbers,
    due_shard,
    encode_numbers,
)
from chalicelib.domain.ledger_check import StatementFacts
from chalicelib.domain.periods import format_instant
from chalicelib.domain.statement import Statement
from chalicelib.domain.statement_schedule import DEFAULT_HOUR, Cadence, Frequency
from chalicelib.domain.statements import document_seal
from tests.fakes.conditions import condition_failed
from tests.fakes.outside import FakeSecrets

ERROR_LENGTH = 1000  # the adapter keeps the first 1,000 characters of an error


def _utc(instant: datetime) -> datetime:
    """As UTCDateTimeAttribute gives it back: UTC, to the microsecond."""
    return instant.astimezone(UTC)


def _stored_copy(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The document as the table gives it back: through the adapter's own encoding."""
    return decode_numbers(encode_numbers(doc))


@dataclass
class _StatementItem:
    """One item of the `statements` table, attributes as the record has them (None: absent)."""

    statement_id: str
    account_id: str
    created_key: str
    created_at: datetime
    origin: str
    frequency: str | None
    period_first: str
    period_last: str
    recipients: list[str]
    status: str
    requested_by: str | None = None
    numbers: dict[str, Any] | None = None
    numbers_seal: str | None = None
    built_at: datetime | None = None
    currency: str | None = None
    opening_balance_micros: int | None = None
    closing_balance_micros: int | None = None
    lease_until: datetime | None = None
    claim_token: str | None = None
    attempts: int = 0
    ses_message_id: str | None = None
    sent_at: datetime | None = None
    pdf_sha256: str | None = None
    last_error: str | None = None

    def stored(self, with_numbers: bool) -> StoredStatement:
        return StoredStatement(
            statement_id=self.statement_id,
            account_id=self.account_id,
            origin=self.origin,
            frequency=self.frequency,
            period_first=self.period_first,
            period_last=self.period_last,
            recipients=tuple(self.recipients),
            status=self.status,
            created_at=self.created_at,
            built_at=self.built_at,
            sent_at=self.sent_at,
            ses_message_id=self.ses_message_id,
            currency=self.currency,
            opening_balance_micros=self.opening_balance_micros,
            closing_balance_micros=self.closing_balance_micros,
            last_error=self.last_error,
            document=copy.deepcopy(self.numbers) if with_numbers else None,
            pdf_sha256=self.pdf_sha256 if with_numbers else None,
            requested_by=self.requested_by if with_numbers else None,
        )

    def facts(self) -> StatementFacts:
        return StatementFacts(
            statement_id=self.statement_id,
            account_id=self.account_id,
            doc=copy.deepcopy(self.numbers),
            seal=self.numbers_seal,
            opening_column=self.opening_balance_micros,
            closing_column=self.closing_balance_micros,
        )

    def page_key(self) -> dict[str, Any]:
        """The index's LastEvaluatedKey after this item, as the adapter hands it out."""
        return {
            "statement_id": {"S": self.statement_id},
            "account_id": {"S": self.account_id},
            "created_key": {"S": self.created_key},
        }


@dataclass
class FakeStatements:
    """The `statements` table in a dict. `key` seals the numbers (the ledger key: FakeSecrets')."""

    key: bytes = field(default_factory=lambda: FakeSecrets().ledger)
    items: dict[str, _StatementItem] = field(default_factory=dict)

    def get(self, statement_id: str) -> StoredStatement | None:
        item = self.items.get(statement_id)
        return None if item is None else item.stored(with_numbers=True)

    def _freeze(self, item: _StatementItem, statement: Statement, now: datetime) -> None:
        doc = statement.to_json()
        item.numbers = _stored_copy(doc)
        item.numbers_seal = document_seal(self.key, doc)
        item.built_at = _utc(now)
        item.currency = statement.currency
        item.opening_balance_micros = statement.opening_balance_micros
        item.closing_balance_micros = statement.closing_balance_micros

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
        if statement_id in self.items:
            raise condition_failed(PutError, "PutItem")
        item = _StatementItem(
            statement_id=statement_id,
            account_id=account_id,
            created_key=f"{format_instant(now)}#{statement_id}",
            created_at=_utc(now),
            origin="on_demand",
            frequency=None,
            period_first=statement.period.first.isoformat(),
            period_last=statement.period.last.isoformat(),
            recipients=list(recipients),
            status="queued",
            requested_by=requested_by,
        )
        self._freeze(item, statement, now)
        self.items[statement_id] = item

    def claim(
        self,
        statement_id: str,
        *,
        token: str,
        now: datetime,
        lease: timedelta,
        new: Mapping[str, Any] | None = None,
    ) -> Claim | None:
        item = self.items.get(statement_id)
        free = (
            item is not None
            and item.status in ("queued", "sending")
            and (item.lease_until is None or item.lease_until < now)
        )
        if new is None:
            if item is None or not free:
                return None
        elif item is None:
            # Every attribute the update sets "if it does not exist yet".
            item = _StatementItem(
                statement_id=statement_id,
                account_id=new["account_id"],
                created_key=f"{format_instant(now)}#{statement_id}",
                created_at=_utc(now),
                origin=new["origin"],
                frequency=new["frequency"],
                period_first=new["period_first"],
                period_last=new["period_last"],
                recipients=[],
                status="sending",
            )
            self.items[statement_id] = item
        elif not free:
            return None
        if new is not None:
            item.recipients = list(new["recipients"])
        until = now + lease
        item.status = "sending"
        item.lease_until = _utc(until)
        item.claim_token = token
        item.attempts += 1
        return Claim(item.stored(with_numbers=True), token, until)

    def _held(self, claim: Claim) -> _StatementItem | None:
        """The item, if `claim` still holds its lease token (the condition of every write under a lease)."""
        item = self.items.get(claim.statement.statement_id)
        return item if item is not None and item.claim_token == claim.token else None

    def save_numbers(self, claim: Claim, statement: Statement, now: datetime) -> bool:
        item = self._held(claim)
        if item is None or item.numbers is not None:
            return False
        self._freeze(item, statement, now)
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
        item = self._held(claim)
        if item is None:
            return False
        item.status = status
        item.lease_until = None
        item.claim_token = None
        if ses_message_id is not None:
            item.ses_message_id = ses_message_id
            item.sent_at = _utc(now)
        if pdf_sha256 is not None:
            item.pdf_sha256 = pdf_sha256
        if error is not None:
            item.last_error = error[:ERROR_LENGTH]
        return True

    def release(self, claim: Claim, now: datetime, error: str) -> None:
        item = self._held(claim)
        if item is not None:
            item.lease_until = _utc(now)
            item.last_error = error[:ERROR_LENGTH]

    def all_built(self) -> Iterator[StatementFacts]:
        for item in list(self.items.values()):
            if item.numbers is not None:
                yield item.facts()

    def seal_numbers(self, statement_id: str, doc: Mapping[str, Any]) -> None:
        # The adapter's update would create a bare item for an unknown id; no caller asks for one.
        item = self.items[statement_id]
        if item.numbers_seal is not None:
            raise condition_failed(UpdateError)
        item.numbers_seal = document_seal(self.key, doc)

    def built_of(self, account_id: str) -> list[StatementFacts]:
        mine = sorted((i for i in self.items.values() if i.account_id == account_id), key=lambda i: i.created_key)
        return [i.facts() for i in mine if i.numbers is not None]

    def page(self, account_id: str, limit: int, after: dict[str, Any] | None) -> StatementPage:
        newest_first = sorted(
            (i for i in self.items.values() if i.account_id == account_id),
            key=lambda i: (i.created_key, i.statement_id),
            reverse=True,
        )
        if after is not None:
            resume = (after["created_key"]["S"], after["statement_id"]["S"])
            newest_first = [i for i in newest_first if (i.created_key, i.statement_id) < resume]
        shown = newest_first[:limit]
        more = len(newest_first) > limit
        return StatementPage(
            [i.stored(with_numbers=False) for i in shown], shown[-1].page_key() if more and shown else None
        )


# -- schedules -------------------------------------------------------------------------------


@dataclass
class _ScheduleItem:
    account_id: str
    frequency: str
    weekday: int | None
    day_of_month: int | None
    hour: int | None
    recipients: list[str]
    enabled: bool
    time_zone: str
    revision: int
    due_shard: str | None
    next_run_at: str | None
    last_run_at: str | None
    created_at: datetime
    updated_at: datetime
    updated_by: str | None

    def schedule(self) -> Schedule:
        frequency = Frequency(self.frequency)
        return Schedule(
            account_id=self.account_id,
            cadence=Cadence(
                frequency,
                self.weekday,
                None if self.day_of_month is None or frequency != Frequency.MONTHLY else self.day_of_month,
                DEFAULT_HOUR if self.hour is None else self.hour,
            ),
            recipients=tuple(self.recipients),
            enabled=self.enabled,
            time_zone=self.time_zone,
            revision=self.revision or 1,
            next_run_at=self.next_run_at,
            last_run_at=self.last_run_at,
            created_at=self.created_at,
            updated_at=self.updated_at,
            updated_by=self.updated_by,
        )


@dataclass
class FakeSchedules:
    """The `statement_schedules` table in a dict, with its sparse `by_next_run` index."""

    items: dict[str, _ScheduleItem] = field(default_factory=dict)

    def get(self, account_id: str) -> Schedule | None:
        item = self.items.get(account_id)
        return None if item is None else item.schedule()

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
        before = self.items.get(account_id)
        runs = enabled and next_run_at is not None
        item = _ScheduleItem(
            account_id=account_id,
            frequency=cadence.frequency.value,
            weekday=cadence.weekday,
            day_of_month=cadence.day_of_month,
            hour=cadence.hour,
            recipients=list(recipients),
            enabled=enabled,
            time_zone=time_zone,
            revision=(before.revision if before else 0) + 1,
            due_shard=due_shard(account_id) if runs else None,
            next_run_at=format_instant(next_run_at) if runs and next_run_at is not None else None,
            last_run_at=before.last_run_at if before else None,  # the update leaves it as it was
            created_at=before.created_at if before else _utc(now),
            updated_at=_utc(now),
            updated_by=updated_by,
        )
        self.items[account_id] = item
        return item.schedule()

    def due(self, now: datetime) -> Iterator[Schedule]:
        bound = format_instant(now)
        for shard in range(DUE_SHARDS):
            in_shard = [
                i
                for i in self.items.values()
                if i.due_shard == str(shard) and i.next_run_at is not None and i.next_run_at <= bound
            ]
            for item in sorted(in_shard, key=lambda i: (i.next_run_at or "", i.account_id)):
                yield item.schedule()

    def advance(self, schedule: Schedule, *, ran: datetime | None, next_run_at: datetime) -> bool:
        assert schedule.next_run_at is not None
        item = self.items.get(schedule.account_id)
        if item is None or item.next_run_at != schedule.next_run_at or item.revision != schedule.revision:
            return False
        item.next_run_at = format_instant(next_run_at)
        if ran is not None:
            item.last_run_at = format_instant(ran)
        return True


__all__ = ["FakeSchedules", "FakeStatements"]
