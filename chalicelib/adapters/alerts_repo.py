"""Usage alerts in DynamoDB: their definitions, what the writer reads to decide them, and their firings.

Definitions live in `usage_alerts`; the owner's account item carries their watch
(`accounts.alert_watch`), written in the same transaction on the condition that it is
what the change was computed from, so the list and the watch never disagree and at
most MAX_ALERTS_PER_OWNER exist however many requests race.

For the ledger writer: point reads of accounts' rollup counters, an agency's rollups
in one scoped read (rollups_repo), the agency's guard, and what a ledger transaction adds
(`GuardMove`, `FiringWrite`: the service says what happened, `prepared_write` maps it to the
update item `LedgerRepository.commit(..., extra=...)` adds).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from ..domain.alerts import (
    AlertPeriod,
    AlertScope,
    Firing,
    Measure,
    UsageAlert,
    Watch,
    encode_watches,
    format_threshold,
    parse_category,
)
from ..domain.categories import Category
from ..domain.periods import format_instant
from ..domain.rollups import RollupKey, RollupTotals
from .concurrency import run_all
from .rollups_repo import rollup_location
from .tables.accounts import AccountRecord
from .tables.alert_guards import AlertGuardRecord
from .tables.base import bind
from .tables.notices import NoticeRecord
from .tables.rollups import CATEGORY_CODES, RollupRecord
from .tables.usage_alerts import UsageAlertRecord

BATCH_GET_KEYS = 100
_CATEGORY_OF_CODE = {code: Category(name) for name, code in CATEGORY_CODES.items()}

# A prepared write: adds one item to a ledger transaction.
PreparedWrite = Callable[[TransactWrite], None]


class WatchMoved(Exception):
    """The owner's alerts changed between reading them and writing: read again."""


def alert_from_record(record: UsageAlertRecord) -> UsageAlert:
    return UsageAlert(
        owner_id=record.owner_id,
        alert_id=record.alert_id,
        scope=AlertScope(record.scope),
        name=record.name,
        category=parse_category(record.category),
        measure=Measure(record.measure),
        period=AlertPeriod(record.period),
        threshold=int(record.threshold),
        recipients=tuple(str(r) for r in record.recipients or ()),
        webhook_url=record.webhook_url,
        enabled=bool(record.enabled),
        revision=int(record.revision),
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _record(alert: UsageAlert, secret: str | None, created_by: str | None) -> UsageAlertRecord:
    return UsageAlertRecord(
        alert.owner_id,
        alert.alert_id,
        scope=alert.scope.value,
        name=alert.name,
        category=alert.category.value if alert.category else "total",
        measure=alert.measure.value,
        period=alert.period.value,
        threshold=alert.threshold,
        recipients=list(alert.recipients),
        webhook_url=alert.webhook_url,
        webhook_secret=secret if alert.webhook_url else None,
        enabled=alert.enabled,
        revision=alert.revision,
        created_at=alert.created_at,
        updated_at=alert.updated_at,
        created_by=created_by,
    )


@dataclass(frozen=True)
class StoredAlert:
    alert: UsageAlert
    webhook_secret: str | None


class AlertRepository:
    def _connection(self) -> Connection:
        bind()
        return UsageAlertRecord._get_connection().connection

    def get(self, owner_id: str, alert_id: str) -> StoredAlert | None:
        bind()
        try:
            record = UsageAlertRecord.get(owner_id, alert_id, consistent_read=True)
        except UsageAlertRecord.DoesNotExist:
            return None
        return StoredAlert(alert_from_record(record), record.webhook_secret)

    def page(self, owner_id: str, prefix: str, limit: int, after: str | None) -> tuple[list[UsageAlert], str | None]:
        """Up to `limit` of the owner's alerts whose id starts with `prefix`, by id, after the id
        `after`; and the last id when more may follow."""
        bind()
        condition = (
            UsageAlertRecord.alert_id.between(after, prefix + "~")
            if after
            else UsageAlertRecord.alert_id.startswith(prefix)
        )
        fetch = limit + (2 if after else 1)  # BETWEEN includes `after` itself; one more tells if more follow
        results = UsageAlertRecord.query(
            owner_id, range_key_condition=condition, limit=fetch, page_size=fetch, consistent_read=True
        )
        alerts = [alert_from_record(r) for r in results if r.alert_id != after][: limit + 1]
        more = len(alerts) > limit
        alerts = alerts[:limit]
        return alerts, (alerts[-1].alert_id if more and alerts else None)

    def save(
        self,
        alert: UsageAlert,
        secret: str | None,
        created_by: str | None,
        before: Sequence[Watch],
        after: Sequence[Watch],
        *,
        new: bool,
    ) -> None:
        """Write the alert and its owner's watch together; WatchMoved if the watch is no longer `before`."""
        self._write(
            lambda tx: tx.save(
                _record(alert, secret, created_by),
                condition=UsageAlertRecord.alert_id.does_not_exist() if new else UsageAlertRecord.alert_id.exists(),
            ),
            alert.owner_id,
            before,
            after,
        )

    def delete(self, owner_id: str, alert_id: str, before: Sequence[Watch], after: Sequence[Watch]) -> None:
        self._write(
            lambda tx: tx.delete(UsageAlertRecord(owner_id, alert_id), condition=UsageAlertRecord.alert_id.exists()),
            owner_id,
            before,
            after,
        )

    def _write(
        self, alert_write: PreparedWrite, owner_id: str, before: Sequence[Watch], after: Sequence[Watch]
    ) -> None:
        bind()
        watch = AccountRecord.alert_watch
        condition = watch.does_not_exist() if not before else watch == encode_watches(before)
        action = watch.set(encode_watches(after)) if after else watch.remove()
        try:
            with TransactWrite(connection=self._connection()) as tx:
                alert_write(tx)
                tx.update(
                    AccountRecord(owner_id),
                    actions=[action],
                    condition=condition & AccountRecord.account_id.exists(),
                )
        except TransactWriteError as exc:
            reasons = exc.cancellation_reasons or []
            if any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons):
                raise WatchMoved(owner_id) from exc
            raise


# -- what the ledger writer reads --------------------------------------------------------------------


@dataclass(frozen=True)
class CounterKey:
    """One rollup item: an account's counters of a day ("D") or month ("M")."""

    scope: str  # where the account's rollups are kept: its agency, or itself
    account_id: str
    period: str
    bucket: str


def read_counters(keys: Iterable[CounterKey]) -> dict[RollupKey, RollupTotals]:
    """Rollup counters by point reads (BatchGetItem, consistent, 100 keys a request, side by side)."""
    bind()
    wanted: dict[tuple[str, str], CounterKey] = {}
    for key in keys:
        wanted[rollup_location(key.scope, key.account_id, key.period, key.bucket)] = key
    locations = sorted(wanted)
    chunks = [locations[i : i + BATCH_GET_KEYS] for i in range(0, len(locations), BATCH_GET_KEYS)]
    found: dict[RollupKey, RollupTotals] = {}
    for records in run_all(
        [lambda c=c: list(RollupRecord.batch_get(c, consistent_read=True)) for c in chunks]  # type: ignore[misc]
    ):
        for record in records:
            key = wanted[(record.partition, record.bucket_key)]
            found.update(_totals_of(record, key.account_id, key.period, key.bucket))
    return found


def _totals_of(record: RollupRecord, account_id: str, period: str, bucket: str) -> dict[RollupKey, RollupTotals]:
    found = {}
    for code, category in _CATEGORY_OF_CODE.items():
        count = getattr(record, f"{code}_n")
        if count is not None:
            found[RollupKey(account_id, period, bucket, category)] = RollupTotals(
                int(count), int(getattr(record, f"{code}_q") or 0), int(getattr(record, f"{code}_a") or 0)
            )
    return found


def read_guards(scope_ids: Iterable[str]) -> dict[str, int]:
    """Each agency's guard version (0 when it has none yet); consistent."""
    bind()
    ids = sorted(set(scope_ids))
    found = {r.scope_id: int(r.version) for r in AlertGuardRecord.batch_get(ids, consistent_read=True)} if ids else {}
    return {i: found.get(i, 0) for i in ids}


# -- what a ledger transaction adds ------------------------------------------------------------------


def guard_write(scope_id: str, version: int) -> PreparedWrite:
    """Move the agency's guard from `version` on (the transaction fails if another moved it first)."""
    condition = AlertGuardRecord.scope_id.does_not_exist() if version == 0 else AlertGuardRecord.version == version

    def add(tx: TransactWrite) -> None:
        tx.update(AlertGuardRecord(scope_id), actions=[AlertGuardRecord.version.set(version + 1)], condition=condition)

    return add


@dataclass(frozen=True)
class FiringFacts:
    """What a firing's notice says besides the firing itself: the subject's currency and zone."""

    currency: str
    time_zone: str


def firing_write(firing: Firing, facts: FiringFacts, fired_at: datetime) -> PreparedWrite:
    """The firing's notice, written once: the transaction fails if it exists already.

    An update that creates the item (a ledger transaction's extra items are updates)."""
    record = firing_record(firing, facts, fired_at)
    actions = [
        getattr(NoticeRecord, name).set(value)
        for name, value in record.attribute_values.items()
        if name not in ("owner", "notice_id") and value is not None
    ]

    def add(tx: TransactWrite) -> None:
        tx.update(
            NoticeRecord(record.owner, record.notice_id),
            actions=actions,
            condition=NoticeRecord.notice_id.does_not_exist(),
        )

    return add


@dataclass(frozen=True)
class GuardMove:
    """A ledger transaction moves the agency's guard on from `version` (it read that version
    before the rollups it decided on): refused if another transaction moved it first."""

    scope_id: str
    version: int


@dataclass(frozen=True)
class FiringWrite:
    """A ledger transaction writes a firing's notice: refused if that notice exists already."""

    firing: Firing
    facts: FiringFacts
    fired_at: datetime


# What a ledger transaction writes for usage alerts besides the posting (`LedgerRepository.commit(extra=...)`).
AlertWrite = GuardMove | FiringWrite


def prepared_write(write: AlertWrite) -> PreparedWrite:
    """The one update item `write` adds to a ledger transaction."""
    if isinstance(write, GuardMove):
        return guard_write(write.scope_id, write.version)
    return firing_write(write.firing, write.facts, write.fired_at)


def firing_record(firing: Firing, facts: FiringFacts, fired_at: datetime) -> NoticeRecord:
    """A firing's notice; its deliveries are the worker's to settle (services/notices.py)."""
    watch = firing.watch
    data = {
        "alert_id": watch.alert_id,
        "owner_id": firing.owner_id,
        "scope": watch.scope.value,
        "category": watch.category.value if watch.category else "total",
        "measure": watch.measure.value,
        "period": watch.period.value,
        "period_start": firing.window.start.isoformat(),
        "period_end": firing.window.end.isoformat(),
        "threshold": format_threshold(watch.threshold, watch.measure),
        "value": format_threshold(firing.value, watch.measure),
        "currency": facts.currency if watch.measure is Measure.COST else None,
        "time_zone": facts.time_zone,
    }
    return NoticeRecord(
        f"alert#{watch.alert_id}",
        firing.firing_id,
        event_id=firing.event_id,
        event_type="usage_alert.triggered",
        account_id=firing.subject_id,
        created_at=format_instant(fired_at),
        data=json.dumps(data, separators=(",", ":")),
        alert_id=watch.alert_id,
        revision=watch.revision,
        period=watch.period.value,
        period_start=firing.window.start.isoformat(),
        period_end=firing.window.end.isoformat(),
        value=firing.value,
        threshold=watch.threshold,
        email_status="pending",
        webhook_status="pending",
        pending="P",
    )
