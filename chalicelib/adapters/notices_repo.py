"""Notices in DynamoDB: usage-alert firings and billing events, and how their deliveries went.

See tables/notices.py for the layout. Every change of a delivery is a conditional
update, so a redelivered worker message never sends an email twice while a lease
holds, and a webhook's attempts are kept in the order they were made.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.exceptions import UpdateError

from ..domain.alerts import Firing
from ..domain.periods import format_instant
from .alerts_repo import FiringFacts, firing_record
from .tables.base import bind
from .tables.notices import NoticeRecord

PENDING = "P"


@dataclass(frozen=True)
class Notice:
    owner: str
    notice_id: str
    event_id: str
    event_type: str
    account_id: str
    created_at: str
    data: dict[str, Any]
    alert_id: str | None
    revision: int | None
    value: int | None  # a firing's value when it fired (entries, or micro-units)
    threshold: int | None
    email_status: str
    email_recipients: tuple[str, ...]
    email_at: str | None
    email_error: str | None
    webhook_status: str
    webhook_url: str | None
    webhook_attempts: tuple[dict[str, Any], ...]
    next_attempt_at: str | None
    pending: bool

    @property
    def key(self) -> dict[str, str]:
        return {"owner": self.owner, "id": self.notice_id}


def _notice(record: NoticeRecord) -> Notice:
    return Notice(
        owner=record.owner,
        notice_id=record.notice_id,
        event_id=record.event_id,
        event_type=record.event_type,
        account_id=record.account_id,
        created_at=record.created_at,
        data=json.loads(record.data),
        alert_id=record.alert_id,
        revision=None if record.revision is None else int(record.revision),
        value=None if record.value is None else int(record.value),
        threshold=None if record.threshold is None else int(record.threshold),
        email_status=record.email_status,
        email_recipients=tuple(str(r) for r in record.email_recipients or ()),
        email_at=record.email_at,
        email_error=record.email_error,
        webhook_status=record.webhook_status,
        webhook_url=record.webhook_url,
        webhook_attempts=tuple(json.loads(record.webhook_attempts or "[]")),
        next_attempt_at=record.next_attempt_at,
        pending=record.pending is not None,
    )


def alert_owner(alert_id: str) -> str:
    return f"alert#{alert_id}"


def hook_owner(account_id: str) -> str:
    return f"hook#{account_id}"


class NoticeRepository:
    def get(self, owner: str, notice_id: str) -> Notice | None:
        bind()
        try:
            return _notice(NoticeRecord.get(owner, notice_id, consistent_read=True))
        except NoticeRecord.DoesNotExist:
            return None

    def record_firing(self, firing: Firing, facts: FiringFacts, now: datetime) -> bool:
        """Write a firing's notice unless it exists (False then)."""
        return self._create(firing_record(firing, facts, now))

    def record_event(
        self,
        endpoint_owner: str,
        event_id: str,
        event_type: str,
        account_id: str,
        data: Mapping[str, Any],
        created_at: datetime,
    ) -> bool:
        """A billing event for one webhook endpoint, unless it was recorded already (False then)."""
        return self._create(
            NoticeRecord(
                hook_owner(endpoint_owner),
                event_id,
                event_id=event_id,
                event_type=event_type,
                account_id=account_id,
                created_at=format_instant(created_at),
                data=json.dumps(dict(data), separators=(",", ":"), ensure_ascii=False),
                webhook_status="pending",
                pending=PENDING,
            )
        )

    def record_arm(self, owner_id: str, alert_id: str, revision: int, now: datetime) -> bool:
        """An alert's first look at its period, for the redrive to hand to the worker (services/notices.py)."""
        return self._create(
            NoticeRecord(
                f"arm#{alert_id}",
                f"r{revision:06d}",
                event_id="-",
                event_type="usage_alert.arm",
                account_id=owner_id,
                created_at=format_instant(now),
                data=json.dumps({"owner_id": owner_id, "revision": revision}),
                pending=PENDING,
            )
        )

    def _create(self, record: NoticeRecord) -> bool:
        """An update that creates the item, as the ledger transaction writes a firing (one IAM action)."""
        bind()
        actions = [
            getattr(NoticeRecord, name).set(value)
            for name, value in record.attribute_values.items()
            if name not in ("owner", "notice_id") and value is not None
        ]
        try:
            NoticeRecord(record.owner, record.notice_id).update(
                actions=actions, condition=NoticeRecord.notice_id.does_not_exist()
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def firings(self, alert_id: str, limit: int, after: str | None) -> tuple[list[Notice], str | None]:
        """An alert's firings, newest revision and period first; the last id when more may follow."""
        bind()
        results = NoticeRecord.query(
            alert_owner(alert_id),
            range_key_condition=NoticeRecord.notice_id < after if after else None,
            scan_index_forward=False,
            limit=limit,
            page_size=limit,
            consistent_read=True,
        )
        notices = [_notice(r) for r in results]
        return notices, (notices[-1].notice_id if results.last_evaluated_key and notices else None)

    def waiting(self, created_before: str, limit: int = 100) -> list[tuple[str, str]]:
        """Notices whose message the worker has not received, created before `created_before` (oldest first)."""
        bind()
        results = NoticeRecord.by_pending.query(
            PENDING, range_key_condition=NoticeRecord.created_at < created_before, limit=limit, page_size=limit
        )
        return [(r.owner, r.notice_id) for r in results]

    # -- deliveries ------------------------------------------------------------------------------
    def received(self, owner: str, notice_id: str) -> None:
        """The worker has the notice's message: SQS retries it from now on."""
        self._update(owner, notice_id, [NoticeRecord.pending.remove()], NoticeRecord.pending.exists())

    def set_data(self, owner: str, notice_id: str, data: Mapping[str, Any]) -> None:
        self._update(owner, notice_id, [NoticeRecord.data.set(json.dumps(dict(data), separators=(",", ":")))])

    def claim_email(self, owner: str, notice_id: str, now: float, lease_seconds: int) -> bool:
        """Take the email to send it: pending, or sending under a lease that ran out."""
        condition = (NoticeRecord.email_status == "pending") | (
            (NoticeRecord.email_status == "sending") & (NoticeRecord.email_lease_until < now)
        )
        return self._update(
            owner,
            notice_id,
            [NoticeRecord.email_status.set("sending"), NoticeRecord.email_lease_until.set(int(now) + lease_seconds)],
            condition,
        )

    def email_done(
        self, owner: str, notice_id: str, status: str, recipients: tuple[str, ...], at: datetime, error: str | None
    ) -> None:
        """sent | none (nobody to tell) | failed (SES refused) | pending (try again)."""
        actions = [
            NoticeRecord.email_status.set(status),
            NoticeRecord.email_lease_until.remove(),
            NoticeRecord.email_at.set(format_instant(at)),
        ]
        actions.append(
            NoticeRecord.email_recipients.set(list(recipients))  # type: ignore[arg-type]
            if recipients
            else NoticeRecord.email_recipients.remove()
        )
        actions.append(NoticeRecord.email_error.set(error) if error else NoticeRecord.email_error.remove())
        self._update(owner, notice_id, actions)

    def webhook_attempted(
        self,
        owner: str,
        notice_id: str,
        attempts: tuple[dict[str, Any], ...],
        status: str,
        url: str | None,
        next_attempt_at: datetime | None,
    ) -> None:
        """Record the attempts so far (conditioned on the ones read before, so none is lost)."""
        actions = [
            NoticeRecord.webhook_attempts.set(json.dumps(list(attempts), separators=(",", ":"))),
            NoticeRecord.webhook_status.set(status),
            NoticeRecord.next_attempt_at.set(format_instant(next_attempt_at))
            if next_attempt_at
            else NoticeRecord.next_attempt_at.remove(),
        ]
        if url:
            actions.append(NoticeRecord.webhook_url.set(url))
        self._update(owner, notice_id, actions)

    def webhook_settled(self, owner: str, notice_id: str, status: str) -> None:
        self._update(owner, notice_id, [NoticeRecord.webhook_status.set(status), NoticeRecord.next_attempt_at.remove()])

    def _update(self, owner: str, notice_id: str, actions: list[Any], condition: Any = None) -> bool:
        bind()
        exists = NoticeRecord.notice_id.exists()
        try:
            NoticeRecord(owner, notice_id).update(
                actions=actions, condition=exists if condition is None else exists & condition
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True
