"""The ledger's tables in memory: `balances`, `ledger_entries`, `ledger_pages`, `rollups`,
`balance_days` and `alert_guards`, with the fakes of the ports that read and write them.

One `LedgerTables` value holds them; each fake is given it, so what `FakeLedger.commit` writes
is what `FakeBilling`, `FakeRollups` and `FakeAlertCounters` read:

    tables = LedgerTables()
    ledger = FakeLedger(tables, notices=...)   # notices: a NoticeStore, for firings
    billing, rollups, counters = FakeBilling(tables), FakeRollups(tables), FakeAlertCounters(tables)

Items of `balances`, `ledger_entries` and `ledger_pages` are kept as DynamoDB stores them (the
adapter's records, serialized) and read back through the adapter's own mapping; rollups and
posting days as the counters the table adds up. `FakeLedger.commit` checks every condition of
the adapter's transaction first and writes only when all hold, reporting refusals as the adapter's
`_explain` does (`CommitConflict`: duplicate event ids, the balance moved, extra items by position).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, Protocol

from pynamodb.exceptions import UpdateError

from chalicelib.adapters.alerts_repo import AlertWrite, CounterKey, FiringFacts, FiringWrite, GuardMove, firing_record
from chalicelib.adapters.billing_repo import head_from_record, recharge_attributes, settings_to_map
from chalicelib.adapters.ledger_repo import (
    SCAN_ROWS,
    CommitConflict,
    LogSlice,
    RowFilter,
    _entry_record,
    _state,
    entry_from_record,
    entry_row_key,
    page_entries,
    page_record,
)
from chalicelib.adapters.notices_repo import Notice
from chalicelib.adapters.rollups_repo import (
    BALANCE_DAY,
    ScopedAccount,
    balance_day_location,
    buckets_in,
    rollup_location,
    spans_in,
)
from chalicelib.adapters.scoped_keys import scoped_partition, split_bucket_key
from chalicelib.adapters.tables.balances import BalanceRecord
from chalicelib.adapters.tables.ledger import LedgerEntryRecord
from chalicelib.adapters.tables.ledger_pages import PAGE_SHARDS, LedgerPageRecord
from chalicelib.adapters.tables.rollups import ROLLUP_SHARDS
from chalicelib.domain.alerts import Firing
from chalicelib.domain.balance_days import BalanceDay
from chalicelib.domain.categories import Category
from chalicelib.domain.ledger import MAX_TRANSACTION_ITEMS, BalanceState, LedgerEntry, LedgerPage
from chalicelib.domain.payments import BillingHead, BillingSettings, RechargeState
from chalicelib.domain.periods import format_instant
from chalicelib.domain.posting import Posting
from chalicelib.domain.reports import BucketRange, month_end
from chalicelib.domain.rollups import DAY, MONTH, RollupKey, RollupTotals
from tests.fakes.conditions import condition_failed

Raw = dict[str, Any]  # an item as DynamoDB stores it


class FiringNotices(Protocol):
    """What a ledger transaction needs of the notices table (a NoticeStore has it): whether a
    firing's notice exists, and writing it."""

    def get(self, owner: str, notice_id: str) -> Notice | None: ...
    def record_firing(self, firing: Firing, facts: FiringFacts, now: datetime) -> bool: ...


ItemKey = tuple[str, str]  # (partition key, sort key)


@dataclass
class LedgerTables:
    """The tables the ledger transaction writes, shared by the fakes that read them."""

    heads: dict[str, Raw] = field(default_factory=dict)  # balances: billing account id -> item
    entries: dict[str, Raw] = field(default_factory=dict)  # ledger_entries: event id -> item
    pages: dict[ItemKey, Raw] = field(default_factory=dict)  # ledger_pages: (log_key, row_key) -> item
    rollups: dict[ItemKey, dict[Category, RollupTotals]] = field(default_factory=dict)
    balance_days: dict[ItemKey, BalanceDay] = field(default_factory=dict)
    guards: dict[str, int] = field(default_factory=dict)  # alert_guards: agency -> version
    commits: int = 0  # transactions written (a refused one is not counted)

    # -- balances ------------------------------------------------------------------------------
    def head_record(self, billing_account_id: str) -> BalanceRecord | None:
        raw = self.heads.get(billing_account_id)
        return None if raw is None else BalanceRecord.from_raw_data(copy.deepcopy(raw))

    def store_head(self, record: BalanceRecord) -> None:
        self.heads[record.billing_account_id] = record.serialize(null_check=False)

    def update_head(self, record: BalanceRecord, values: Mapping[str, Any]) -> None:
        """SET each value, REMOVE each None (billing_repo.update_actions)."""
        for name, value in values.items():
            setattr(record, name, value)
        self.store_head(record)

    # -- pages ---------------------------------------------------------------------------------
    def page_records(self, scope: str, owner_id: str) -> list[LedgerPageRecord]:
        """An account's pages (scope "account") or an agency's (its `by_agency_log` index), in row order."""
        attribute = "log_key" if scope == "account" else "agency_log_key"
        keys = {f"{owner_id}#{shard}" for shard in range(PAGE_SHARDS)}
        records = [
            LedgerPageRecord.from_raw_data(copy.deepcopy(raw))
            for raw in self.pages.values()
            if attribute in raw and raw[attribute]["S"] in keys
        ]
        return sorted(records, key=lambda r: r.row_key)


def _totals(raw: Mapping[Category, RollupTotals]) -> dict[Category, RollupTotals]:
    return {c: RollupTotals(t.count, t.quantity_micros, t.amount_micros) for c, t in raw.items()}


class FakeBilling:
    """BillingStore over `LedgerTables.heads` (adapters/billing_repo.py)."""

    def __init__(self, tables: LedgerTables) -> None:
        self.tables = tables

    def head(self, billing_account_id: str) -> BillingHead:
        record = self.tables.head_record(billing_account_id)
        return BillingHead() if record is None else head_from_record(record)

    def save_settings(
        self, billing_account_id: str, currency: str, settings: BillingSettings, now: datetime, *, changed: bool
    ) -> None:
        values: dict[str, Any] = {"settings": settings_to_map(settings), "updated_at": now}
        if changed:
            values.update({"recharge_paused": False, "consecutive_declines": 0, "cooldown_until": None})
        record = self.tables.head_record(billing_account_id)
        if record is None:  # a balance without entries has no head yet: create it, empty
            record = BalanceRecord(billing_account_id, balance_micros=0, seq=0, currency=currency)
        self.tables.update_head(record, values)

    def finish_recharge(self, billing_account_id: str, recharge_id: str, state: RechargeState, now: datetime) -> bool:
        record = self.tables.head_record(billing_account_id)
        if record is None or record.recharge_id != recharge_id:
            return False
        self.tables.update_head(record, {**recharge_attributes(state), "updated_at": now})
        return True


class FakeRollups:
    """RollupStore over `LedgerTables.rollups` and `.balance_days` (adapters/rollups_repo.py)."""

    def __init__(self, tables: LedgerTables) -> None:
        self.tables = tables

    def of_account(self, account: ScopedAccount, ranges: Sequence[BucketRange]) -> dict[RollupKey, RollupTotals]:
        found: dict[RollupKey, RollupTotals] = {}
        for r in ranges:
            for bucket in buckets_in(r):
                item = self.tables.rollups.get(rollup_location(account.scope, account.account_id, r.period, bucket))
                for category, totals in _totals(item or {}).items():
                    found[RollupKey(account.account_id, r.period, bucket, category)] = totals
        return found

    def of_scope(self, scope: str, ranges: Sequence[BucketRange]) -> dict[RollupKey, RollupTotals]:
        found: dict[RollupKey, RollupTotals] = {}
        for call in self.of_scope_calls(scope, ranges):
            found.update(call())
        return found

    def of_scope_calls(
        self, scope: str, ranges: Sequence[BucketRange]
    ) -> list[Callable[[], dict[RollupKey, RollupTotals]]]:
        """One call per (range, partition span, shard), as the adapter's queries."""
        calls: list[Callable[[], dict[RollupKey, RollupTotals]]] = []
        for r in ranges:
            for span in spans_in(r):
                for shard in range(ROLLUP_SHARDS):
                    partition = scoped_partition(scope, r.period, span, shard)
                    calls.append(lambda p=partition, r=r: self._query(p, r))  # type: ignore[misc]
        return calls

    def _query(self, partition: str, r: BucketRange) -> dict[RollupKey, RollupTotals]:
        found: dict[RollupKey, RollupTotals] = {}
        for (p, key), item in sorted(self.tables.rollups.items()):
            if p == partition and f"{r.first}#" <= key <= f"{r.last}#~":
                bucket, account_id = split_bucket_key(key)
                for category, totals in _totals(item).items():
                    found[RollupKey(account_id, r.period, bucket, category)] = totals
        return found

    def all_of_scope(self, scope: str, first: date, last: date) -> dict[RollupKey, RollupTotals]:
        first_month, last_month = first.replace(day=1), month_end(last)
        return self.of_scope(
            scope,
            [
                BucketRange(DAY, first_month.isoformat(), last_month.isoformat()),
                BucketRange(MONTH, f"{first.year:04d}-01", f"{last.year:04d}-12"),
            ],
        )

    def balance_days_of(self, scope: str, billing_account_id: str, days: Iterable[date]) -> list[BalanceDay]:
        keys = {rollup_location(scope, billing_account_id, BALANCE_DAY, d.isoformat()) for d in days}
        return sorted((self.tables.balance_days[k] for k in keys if k in self.tables.balance_days), key=lambda d: d.day)

    def balance_days_of_scope(self, scope: str, first: date, last: date) -> list[BalanceDay]:
        r = BucketRange(BALANCE_DAY, first.isoformat(), last.isoformat())
        partitions = {
            scoped_partition(scope, BALANCE_DAY, span, shard) for span in spans_in(r) for shard in range(ROLLUP_SHARDS)
        }
        found = [
            day
            for (partition, key), day in self.tables.balance_days.items()
            if partition in partitions and f"{r.first}#" <= key <= f"{r.last}#~"
        ]
        return sorted(found, key=lambda d: (d.billing_account_id, d.day))

    def put_rollups(self, scope: str, totals: Mapping[RollupKey, RollupTotals]) -> int:
        """Whole items, replacing what was there (a batch write)."""
        items: dict[ItemKey, dict[Category, RollupTotals]] = {}
        for key, t in totals.items():
            items.setdefault(rollup_location(scope, key.account_id, key.period, key.bucket), {})[key.category] = t
        for location, by_category in items.items():
            self.tables.rollups[location] = _totals(by_category)
        return len(items)

    def put_balance_days(self, scope: str, days: Iterable[BalanceDay]) -> None:
        for day in days:
            self.tables.balance_days[balance_day_location(scope, day)] = day


class FakeAlertCounters:
    """AlertCounterStore over `LedgerTables.rollups` and `.guards` (adapters/alerts_repo.py)."""

    def __init__(self, tables: LedgerTables) -> None:
        self.tables = tables

    def read_counters(self, keys: Iterable[CounterKey]) -> dict[RollupKey, RollupTotals]:
        found: dict[RollupKey, RollupTotals] = {}
        for key in keys:
            item = self.tables.rollups.get(rollup_location(key.scope, key.account_id, key.period, key.bucket))
            for category, totals in _totals(item or {}).items():
                found[RollupKey(key.account_id, key.period, key.bucket, category)] = totals
        return found

    def read_guards(self, scope_ids: Iterable[str]) -> dict[str, int]:
        return {i: self.tables.guards.get(i, 0) for i in sorted(set(scope_ids))}


class FakeLedger:
    """LedgerStore over `LedgerTables` (adapters/ledger_repo.py).

    `notices`: where a commit's firings (`FiringWrite`) are written (any NoticeStore); a commit
    with firings and no notices fails. `fail_next`: exceptions the next commits raise before writing anything (a
    transient error, DynamoDB refusing an item), one per commit, in order."""

    def __init__(
        self,
        tables: LedgerTables | None = None,
        *,
        notices: FiringNotices | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.tables = tables if tables is not None else LedgerTables()
        self.notices = notices
        self.clock = clock
        self.fail_next: list[Exception] = []

    # -- balance heads -------------------------------------------------------------------------
    def balance(self, billing_account_id: str) -> BalanceState:
        record = self.tables.head_record(billing_account_id)
        return BalanceState(billing_account_id, 0, 0, None, exists=False) if record is None else _state(record)

    def balances(self, billing_account_ids: Sequence[str], consistent: bool = False) -> dict[str, BalanceState]:
        return {b: self.balance(b) for b in billing_account_ids}

    def all_heads(self) -> Iterator[BalanceState]:
        for billing_account_id in list(self.tables.heads):
            yield self.balance(billing_account_id)

    # -- appending -----------------------------------------------------------------------------
    def commit(
        self,
        posting: Posting,
        recharge: RechargeState | None = None,
        extra: Sequence[AlertWrite] = (),
    ) -> None:
        plan = posting.plan
        if not plan.entries:
            return
        if self.fail_next:
            raise self.fail_next.pop(0)
        tables = self.tables
        rollup_items = {
            rollup_location(posting.scopes[k.account_id], k.account_id, k.period, k.bucket) for k in posting.rollups
        }
        items = len(plan.entries) + len(posting.pages) + 1 + (posting.balance_day is not None)
        if items + len(rollup_items) + len(extra) > MAX_TRANSACTION_ITEMS:
            # DynamoDB refuses the request (ValidationException), which `_explain` reports as transient.
            raise CommitConflict(set(), balance_moved=False, transient=True)
        page_of = {e.event_id: page.first_seq for page in posting.pages for e in page.entries}
        page_items = [page_record(page) for page in posting.pages]

        duplicates = {e.event_id for e in plan.entries if e.event_id in tables.entries}
        head = tables.head_record(plan.after.billing_account_id)
        balance_moved = any((r.log_key, r.row_key) in tables.pages for r in page_items) or (
            head is not None if not plan.before.exists else head is None or int(head.seq) != plan.before.seq
        )
        extra_failed = frozenset(i for i, write in enumerate(extra) if not self._extra_holds(write))
        if duplicates or balance_moved or extra_failed:
            raise CommitConflict(duplicates, balance_moved, extra_failed=extra_failed)

        now = self.clock()
        for entry in plan.entries:
            entry_item = _entry_record(entry, page_of[entry.event_id], posting.event_digests.get(entry.event_id))
            tables.entries[entry.event_id] = entry_item.serialize(null_check=False)
        for page_item in page_items:
            tables.pages[(page_item.log_key, page_item.row_key)] = page_item.serialize(null_check=False)
        head_updates = recharge_attributes(recharge) if recharge is not None else {}
        after = plan.after
        if head is None:
            head = BalanceRecord(after.billing_account_id)
            values: dict[str, Any] = {
                "balance_micros": after.balance_micros,
                "seq": after.seq,
                "currency": posting.currency,
                "last_posted_at": after.last_posted_at,
                "updated_at": now,
                "seal": after.seal or None,
                **head_updates,
            }
        else:
            values = {
                "balance_micros": after.balance_micros,
                "seq": after.seq,
                "last_posted_at": after.last_posted_at or now,
                "updated_at": now,
                **({"seal": after.seal} if after.seal else {}),
                **head_updates,
            }
        tables.update_head(head, values)
        if posting.balance_day is not None:
            day = posting.balance_day
            location = balance_day_location(posting.scopes[day.billing_account_id], day)
            tables.balance_days[location] = _add_day(tables.balance_days.get(location), day)
        for key, totals in posting.rollups.items():
            location = rollup_location(posting.scopes[key.account_id], key.account_id, key.period, key.bucket)
            item = tables.rollups.setdefault(location, {})
            item.setdefault(key.category, RollupTotals()).add(totals)
        for write in extra:
            if isinstance(write, GuardMove):
                tables.guards[write.scope_id] = write.version + 1
            else:
                assert self.notices is not None
                self.notices.record_firing(write.firing, write.facts, write.fired_at)
        tables.commits += 1

    def _extra_holds(self, write: AlertWrite) -> bool:
        if isinstance(write, GuardMove):
            # version 0: the guard must not exist; else it must be at `version`.
            stored = self.tables.guards.get(write.scope_id)
            return stored is None if write.version == 0 else stored == write.version
        if self.notices is None:
            raise AssertionError("FakeLedger was given no NoticeStore: it cannot write a firing")
        return self._notice_missing(write)

    def _notice_missing(self, write: FiringWrite) -> bool:
        assert self.notices is not None
        record = firing_record(write.firing, write.facts, write.fired_at)
        return self.notices.get(record.owner, record.notice_id) is None

    # -- rebuilding (make rebuild) -------------------------------------------------------------
    def scan_entries(self) -> Iterator[tuple[LedgerEntry, int | None]]:
        for raw in list(self.tables.entries.values()):
            record = LedgerEntryRecord.from_raw_data(copy.deepcopy(raw))
            yield entry_from_record(record), None if record.page_seq is None else int(record.page_seq)

    def put_pages(self, pages: Iterable[LedgerPage]) -> None:
        for page in pages:
            record = page_record(page)
            self.tables.pages[(record.log_key, record.row_key)] = record.serialize(null_check=False)

    def page_keys(self, scope: str, owner_id: str) -> set[tuple[str, str, int]]:
        return {
            (r.account_id, r.billing_account_id, int(r.first_seq)) for r in self.tables.page_records(scope, owner_id)
        }

    def seal_entries(self, billing_account_id: str, seals: Mapping[str, str], last_seal: str) -> None:
        """Each entry's seal, on the condition that it has none (UpdateError otherwise, as the
        adapter lets it through); then the head's, on the condition that the head exists."""
        for event_id, seal in seals.items():
            raw = self.tables.entries.get(event_id)
            if raw is not None and "seal" in raw:
                raise condition_failed(UpdateError)
            if raw is None:  # an update creates the item: it holds the key and the seal only
                self.tables.entries[event_id] = {"event_id": {"S": event_id}, "seal": {"S": seal}}
            else:
                raw["seal"] = {"S": seal}
        head = self.tables.head_record(billing_account_id)
        if head is None:
            raise condition_failed(UpdateError)
        self.tables.update_head(head, {"seal": last_seal})

    def any_entry(self) -> bool:
        return bool(self.tables.entries)

    def any_page(self) -> bool:
        return bool(self.tables.pages)

    # -- entries by event ----------------------------------------------------------------------
    def charged(self, event_ids: Iterable[str]) -> dict[str, tuple[LedgerEntry, str | None]]:
        found: dict[str, tuple[LedgerEntry, str | None]] = {}
        for event_id in sorted(set(event_ids)):
            raw = self.tables.entries.get(event_id)
            if raw is not None:
                record = LedgerEntryRecord.from_raw_data(copy.deepcopy(raw))
                found[event_id] = (entry_from_record(record), record.event_digest)
        return found

    def entries(self, event_ids: Iterable[str]) -> dict[str, LedgerEntry]:
        return {event_id: entry for event_id, (entry, _) in self.charged(event_ids).items()}

    # -- reading orders ------------------------------------------------------------------------
    def log(
        self,
        scope: str,
        owner_id: str,
        start: datetime | None,
        end: datetime | None,
        row_filter: RowFilter | None,
        limit: int,
        before_key: str | None,
    ) -> LogSlice:
        """Newest first, posted in [start, end), below `before_key`; a filtered read examines at most
        SCAN_ROWS rows (finishing the page it is on) and then answers with where it stopped."""
        lower = format_instant(start) if start else None
        upper = format_instant(end) if end else None
        if before_key is not None and (upper is None or before_key < upper):
            upper = before_key
        pages = [
            r
            for r in reversed(self.tables.page_records(scope, owner_id))
            if (lower is None or r.row_key >= lower) and (upper is None or r.row_key <= upper)
        ]
        out: list[LedgerEntry] = []
        examined = 0
        for i, record in enumerate(pages):
            last: LedgerEntry | None = None
            for entry in reversed(page_entries(record)):
                if before_key is not None and entry_row_key(entry) >= before_key:
                    continue
                examined += 1
                last = entry
                if row_filter is None or row_filter.matches(entry):
                    out.append(entry)
            if len(out) > limit:
                return LogSlice(out[:limit], entry_row_key(out[limit - 1]))
            if row_filter is not None and examined >= SCAN_ROWS and last is not None:
                more = i + 1 < len(pages)
                return LogSlice(out, entry_row_key(last) if more else None)
        return LogSlice(out[:limit], None)

    def entries_of_account(self, account_id: str) -> Iterator[LedgerEntry]:
        for record in self.tables.page_records("account", account_id):
            yield from page_entries(record)

    def entries_of_agency(self, agency_id: str) -> Iterator[LedgerEntry]:
        for record in self.tables.page_records("agency", agency_id):
            yield from page_entries(record)

    def chain(self, billing_account_id: str) -> Iterator[LedgerEntry]:
        return iter(self.chain_after(billing_account_id, None, agency=True))

    def chain_after(self, billing_account_id: str, after_row_key: str | None, agency: bool) -> list[LedgerEntry]:
        pages: dict[int, LedgerPageRecord] = {}
        for scope in ("account", "agency") if agency else ("account",):
            for record in self.tables.page_records(scope, billing_account_id):
                if record.billing_account_id == billing_account_id and (
                    after_row_key is None or record.row_key >= after_row_key
                ):
                    pages[int(record.first_seq)] = record
        return [e for first_seq in sorted(pages) for e in page_entries(pages[first_seq])]

    def has_entries(self, account_id: str) -> bool:
        return bool(self.tables.page_records("account", account_id))


def _add_day(stored: BalanceDay | None, day: BalanceDay) -> BalanceDay:
    """ADD entries and net; first seq and opening only if not yet set; last seq and closing SET."""
    if stored is None:
        return day
    return replace(
        stored,
        entries=stored.entries + day.entries,
        net_micros=stored.net_micros + day.net_micros,
        last_seq=day.last_seq,
        closing_micros=day.closing_micros,
    )
