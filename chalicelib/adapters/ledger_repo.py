"""The ledger in DynamoDB: balance heads, atomic appends and the reading orders.

`commit()` writes a plan (entries + new balance head) in one TransactWriteItems
call. Each entry is conditioned on its event id being new, the balance head on
the sequence number the plan was computed from. DynamoDB applies all of it or
none, so a balance can never disagree with its entries.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from ..domain.categories import Category
from ..domain.ledger import BalanceState, LedgerEntry, Plan
from ..domain.periods import format_instant, parse_instant
from ..domain.rollups import RollupKey, RollupTotals
from ..domain.statements import Boundary, ChainEntry
from .billing_repo import head_from_record, update_actions
from .paging import take_page
from .tables.balances import BalanceRecord
from .tables.base import bind
from .tables.ledger import LedgerEntryRecord
from .tables.rollups import RollupRecord
from .time_keys import instant_range


class CommitConflict(Exception):
    """The plan lost a race: some events were already charged, or the balance moved."""

    def __init__(self, duplicate_event_ids: set[str], balance_moved: bool, transient: bool = False) -> None:
        super().__init__(
            f"conflict: {len(duplicate_event_ids)} already charged, "
            f"balance moved={balance_moved}, transient={transient}"
        )
        self.duplicate_event_ids = duplicate_event_ids
        self.balance_moved = balance_moved
        self.transient = transient


def posted_key(posted_at: datetime, seq: int) -> str:
    return f"{format_instant(posted_at)}#{seq:012d}"


def _entry_record(entry: LedgerEntry) -> LedgerEntryRecord:
    return LedgerEntryRecord(
        entry.event_id,
        entry_id=entry.entry_id,
        billing_account_id=entry.billing_account_id,
        seq=entry.seq,
        account_id=entry.account_id,
        agency_id=entry.agency_id,
        category=entry.category.value,
        description=entry.description,
        quantity=format(entry.quantity, "f"),
        unit=entry.unit,
        unit_price_micros=entry.unit_price_micros,
        amount_micros=entry.amount_micros,
        balance_after_micros=entry.balance_after_micros,
        occurred_at=format_instant(entry.occurred_at),
        posted_at=format_instant(entry.posted_at),
        posted_key=posted_key(entry.posted_at, entry.seq),
        metadata=dict(entry.metadata),
    )


def entry_from_record(record: LedgerEntryRecord) -> LedgerEntry:
    metadata = record.metadata.as_dict() if record.metadata is not None else {}  # type: ignore[no-untyped-call]
    return LedgerEntry(
        entry_id=record.entry_id,
        event_id=record.event_id,
        billing_account_id=record.billing_account_id,
        account_id=record.account_id,
        agency_id=record.agency_id,
        seq=int(record.seq),
        category=Category(record.category),
        description=record.description,
        quantity=Decimal(record.quantity),
        unit=record.unit,
        unit_price_micros=None if record.unit_price_micros is None else int(record.unit_price_micros),
        amount_micros=int(record.amount_micros),
        balance_after_micros=int(record.balance_after_micros),
        occurred_at=parse_instant(record.occurred_at),
        posted_at=parse_instant(record.posted_at),
        metadata={k: (int(v) if isinstance(v, float | Decimal) else v) for k, v in metadata.items()},
    )


@dataclass(frozen=True)
class EntryPage:
    entries: list[LedgerEntry]
    last_key: dict[str, Any] | None  # where to resume, or None at the end


class LedgerRepository:
    def _connection(self) -> Connection:
        bind()
        return LedgerEntryRecord._get_connection().connection

    # -- balance heads ------------------------------------------------------
    def balance(self, billing_account_id: str) -> BalanceState:
        bind()
        try:
            return _state(BalanceRecord.get(billing_account_id, consistent_read=True))
        except DoesNotExist:
            return BalanceState(billing_account_id, 0, 0, None, exists=False)

    def balances(self, billing_account_ids: Sequence[str], consistent: bool = False) -> dict[str, BalanceState]:
        """Several balance heads in one BatchGetItem (per 100 keys)."""
        bind()
        keys = sorted(set(billing_account_ids))
        records = BalanceRecord.batch_get(keys, consistent_read=consistent) if keys else []
        found = {r.billing_account_id: _state(r) for r in records}
        return {b: found.get(b) or BalanceState(b, 0, 0, None, exists=False) for b in billing_account_ids}

    def all_billing_account_ids(self) -> Iterator[str]:
        """Every balance head (a scan: for the reconcile job, never for a request)."""
        bind()
        for record in BalanceRecord.scan(attributes_to_get=["billing_account_id"]):
            yield record.billing_account_id

    # -- appending ------------------------------------------------------------
    def commit(
        self,
        plan: Plan,
        currency: str,
        rollups: Mapping[RollupKey, RollupTotals],
        head_updates: Mapping[str, Any] | None = None,
    ) -> None:
        """Write the plan, its rollup counters and any `head_updates` (attribute -> value,
        None removes) on the balance head atomically, or raise CommitConflict."""
        head_updates = dict(head_updates or {})
        if not plan.entries:
            return
        bind()
        now = datetime.now(UTC)
        with_balance_put = not plan.before.exists
        try:
            with TransactWrite(connection=self._connection()) as tx:
                for entry in plan.entries:
                    tx.save(_entry_record(entry), condition=LedgerEntryRecord.event_id.does_not_exist())
                head = BalanceRecord(plan.after.billing_account_id)
                if with_balance_put:
                    head.balance_micros = plan.after.balance_micros
                    head.seq = plan.after.seq
                    head.currency = currency
                    head.last_posted_at = plan.after.last_posted_at
                    head.updated_at = now
                    for name, value in head_updates.items():
                        setattr(head, name, value)
                    tx.save(head, condition=BalanceRecord.billing_account_id.does_not_exist())
                else:
                    tx.update(
                        head,
                        actions=[
                            BalanceRecord.balance_micros.set(plan.after.balance_micros),
                            BalanceRecord.seq.set(plan.after.seq),
                            BalanceRecord.last_posted_at.set(plan.after.last_posted_at or now),
                            BalanceRecord.updated_at.set(now),
                            *update_actions(head_updates),
                        ],
                        condition=BalanceRecord.seq == plan.before.seq,
                    )
                for key, totals in sorted(rollups.items()):
                    tx.update(
                        RollupRecord(key.account_id, key.sort_key),
                        actions=[
                            RollupRecord.entry_count.add(totals.count),
                            RollupRecord.quantity_micros.add(totals.quantity_micros),
                            RollupRecord.amount_micros.add(totals.amount_micros),
                        ],
                    )
        except TransactWriteError as exc:
            raise _explain(exc, plan) from exc

    # -- reading ----------------------------------------------------------------
    def entries_of_account(self, account_id: str) -> Iterator[LedgerEntry]:
        """Every entry of one account (any billing account), oldest first."""
        bind()
        for record in LedgerEntryRecord.by_account_posted.query(account_id, scan_index_forward=True):
            yield entry_from_record(record)

    def has_entries(self, account_id: str) -> bool:
        bind()
        return any(True for _ in LedgerEntryRecord.by_account_posted.query(account_id, limit=1))

    def chain(self, billing_account_id: str) -> Iterator[LedgerEntry]:
        """Every entry of a billing account in sequence order."""
        bind()
        for record in LedgerEntryRecord.by_billing_seq.query(billing_account_id, scan_index_forward=True):
            yield entry_from_record(record)

    def boundary(self, billing_account_id: str, before: datetime) -> Boundary:
        """The balance just before an instant: the newest entry posted before it, and its predecessor.

        One Query on `by_billing_posted`, newest first, two items (the predecessor lets
        a statement check that the chain links up there); never reads the entries between.
        """
        bind()
        # Posted keys are "<instant>#<seq>": one posted at `before` itself sorts above
        # the bare "<before>" text, so `<` leaves it out (half-open periods).
        results = LedgerEntryRecord.by_billing_posted.query(
            billing_account_id,
            range_key_condition=LedgerEntryRecord.posted_key < format_instant(before),
            scan_index_forward=False,
            limit=2,
            page_size=2,
        )
        found = [
            ChainEntry(
                seq=int(r.seq),
                amount_micros=int(r.amount_micros),
                balance_after_micros=int(r.balance_after_micros),
                posted_at=parse_instant(r.posted_at),
            )
            for r in results
        ]
        return Boundary(before, found[0] if found else None, found[1] if len(found) > 1 else None)

    def page(
        self,
        scope: str,
        hash_key: str,
        start: datetime | None,
        end: datetime | None,
        category: str | None,
        limit: int,
        after: dict[str, Any] | None,
    ) -> EntryPage:
        """Entries of an account (scope "account") or agency ("agency"), newest first.

        At most `limit` entries posted in [start, end), resuming after `after` (the
        key a previous page ended on); the page's `last_key` is None at the end.
        """
        bind()
        index = _POSTED_INDEXES[scope]
        range_condition = instant_range(LedgerEntryRecord.posted_key, start, end)
        filter_condition = LedgerEntryRecord.category == category if category else None
        results = index.query(
            hash_key,
            range_key_condition=range_condition,
            filter_condition=filter_condition,
            scan_index_forward=False,
            last_evaluated_key=after,
            # One more than asked, to know whether another page exists.
            page_size=500 if category else limit + 1,
        )
        entries, last_key = take_page(results, limit, entry_from_record, lambda r: _index_key(index, r))
        return EntryPage(entries, last_key)


def _state(record: BalanceRecord) -> BalanceState:
    return BalanceState(
        billing_account_id=record.billing_account_id,
        balance_micros=int(record.balance_micros or 0),
        seq=int(record.seq or 0),
        last_posted_at=record.last_posted_at,
        exists=True,
        billing=head_from_record(record),
    )


_POSTED_INDEXES: dict[str, Any] = {
    "account": LedgerEntryRecord.by_account_posted,
    "agency": LedgerEntryRecord.by_agency_posted,
}


def _index_key(index: Any, record: LedgerEntryRecord) -> dict[str, Any]:
    """The ExclusiveStartKey that resumes a posted-key index query just after `record`."""
    hash_name = index._hash_key_attribute().attr_name
    return {
        "event_id": {"S": record.event_id},
        hash_name: {"S": getattr(record, hash_name)},
        "posted_key": {"S": record.posted_key},
    }


def _explain(exc: TransactWriteError, plan: Plan) -> CommitConflict:
    reasons = exc.cancellation_reasons
    if exc.cause_response_code != "TransactionCanceledException" or not reasons:
        return CommitConflict(set(), balance_moved=False, transient=True)
    duplicates: set[str] = set()
    balance_moved = False
    transient = False
    n = len(plan.entries)
    for i, reason in enumerate(reasons):
        if reason is None:
            continue
        if reason.code == "ConditionalCheckFailed":
            if i < n:
                duplicates.add(plan.entries[i].event_id)
            else:
                balance_moved = True
        else:  # TransactionConflict, ThrottlingError, …: try again
            transient = True
    return CommitConflict(duplicates, balance_moved, transient)
