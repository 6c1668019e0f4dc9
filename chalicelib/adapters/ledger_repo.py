"""The ledger in DynamoDB: balance heads, atomic postings and the reading orders.

`commit()` writes a posting (domain/posting.py) in one TransactWriteItems call:
each entry, conditioned on its event id being new; the Logs page of each account
the transaction touched; the balance head, conditioned on the sequence number the
plan was computed from; the balance's posting day; and the rollup counters.
DynamoDB applies all of it or none, so no reading order or counter can ever
disagree with the entries.

Reading: Logs merge the shards of `ledger_pages` (an account's, or an agency's
through the `by_agency_log` index) newest first, fetching from all shards at once and
then only from the shards that can still hold the next rows (see `_merge_newest`).
A row filter (a category, a search) is applied to the rows read; a filtered read
examines at most `SCAN_ROWS` rows and then answers what it found with a position to
continue from, so a rare match never turns one request into a read of the whole log.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from ..domain.categories import Category
from ..domain.ledger import BalanceState, LedgerEntry, LedgerPage, entry_id_for
from ..domain.payments import RechargeState
from ..domain.periods import format_instant, parse_instant
from ..domain.posting import Posting
from .billing_repo import head_from_record, recharge_attributes, update_actions
from .concurrency import run_all
from .rollups_repo import balance_day_actions, balance_day_location, rollup_actions, rollup_items
from .scoped_keys import stable_shard
from .storage_errors import error_code
from .tables.balance_days import BalanceDayRecord
from .tables.balances import BalanceRecord
from .tables.base import bind
from .tables.ledger import LedgerEntryRecord
from .tables.ledger_pages import PAGE_SHARDS, LedgerPageRecord
from .tables.rollups import RollupRecord

if TYPE_CHECKING:
    from .alerts_repo import AlertWrite

# A page row: one array per entry, in this order (the page holds what every row shares).
PAGE_COLUMNS = (
    "event_id",
    "category",
    "description",
    "quantity",
    "unit",
    "unit_price_micros",
    "amount_micros",
    "balance_after_micros",
    "occurred_at",
    "metadata",
    "seal",
)
MAX_FETCH = 100  # pages per shard in one Query
# Rows a filtered Logs read examines before it answers with what it found and a cursor
# (~200 bytes a row: about 1 MB, some 125 read units, over a few round trips). It reads
# at most that, plus its first round (ten pages a shard) and a page a shard per round.
SCAN_ROWS = 5_000


class CommitConflict(Exception):
    """The plan lost a race: some events were already charged, or the balance moved."""

    def __init__(
        self,
        duplicate_event_ids: set[str],
        balance_moved: bool,
        transient: bool = False,
        extra_failed: frozenset[int] = frozenset(),
    ) -> None:
        super().__init__(
            f"conflict: {len(duplicate_event_ids)} already charged, "
            f"balance moved={balance_moved}, transient={transient}, extra items refused={sorted(extra_failed)}"
        )
        self.duplicate_event_ids = duplicate_event_ids
        self.balance_moved = balance_moved
        self.transient = transient
        # Positions in `commit(extra=...)` of the extra items whose condition failed.
        self.extra_failed = extra_failed


def row_key(posted_at: datetime, billing_account_id: str, seq: int) -> str:
    """Orders every row of every page: posting time, then balance, then sequence."""
    return f"{format_instant(posted_at)}#{billing_account_id}#{seq:012d}"


def page_shard(billing_account_id: str, first_seq: int) -> int:
    return stable_shard(f"{billing_account_id}:{first_seq}", PAGE_SHARDS)


def _entry_record(entry: LedgerEntry, page_seq: int, event_digest: str | None) -> LedgerEntryRecord:
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
        metadata=dict(entry.metadata),
        page_seq=page_seq,
        event_digest=event_digest,
        seal=entry.seal or None,
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
        seal=record.seal or "",
    )


def page_record(page: LedgerPage) -> LedgerPageRecord:
    shard = page_shard(page.billing_account_id, page.first_seq)
    rows = [
        [
            e.event_id,
            e.category.value,
            e.description,
            format(e.quantity, "f"),
            e.unit,
            e.unit_price_micros,
            e.amount_micros,
            e.balance_after_micros,
            format_instant(e.occurred_at),
            e.metadata,
            e.seal,
        ]
        for e in page.entries
    ]
    return LedgerPageRecord(
        f"{page.account_id}#{shard}",
        row_key(page.posted_at, page.billing_account_id, page.first_seq),
        agency_log_key=f"{page.agency_id}#{shard}" if page.agency_id else None,
        account_id=page.account_id,
        billing_account_id=page.billing_account_id,
        posted_at=format_instant(page.posted_at),
        first_seq=page.first_seq,
        last_seq=page.last_seq,
        rows=json.dumps(rows, separators=(",", ":"), ensure_ascii=False),
    )


def page_entries(record: LedgerPageRecord) -> list[LedgerEntry]:
    """The page's entries, oldest first."""
    agency_id = record.agency_log_key.rsplit("#", 1)[0] if record.agency_log_key else None
    posted_at = parse_instant(record.posted_at)
    first_seq = int(record.first_seq)
    entries = []
    for i, row in enumerate(json.loads(record.rows)):
        values = dict(zip(PAGE_COLUMNS, row, strict=False))  # a page written before seals has no seal
        entries.append(
            LedgerEntry(
                entry_id=entry_id_for(values["event_id"]),
                event_id=values["event_id"],
                billing_account_id=record.billing_account_id,
                account_id=record.account_id,
                agency_id=agency_id,
                seq=first_seq + i,
                category=Category(values["category"]),
                description=values["description"],
                quantity=Decimal(values["quantity"]),
                unit=values["unit"],
                unit_price_micros=values["unit_price_micros"],
                amount_micros=values["amount_micros"],
                balance_after_micros=values["balance_after_micros"],
                occurred_at=parse_instant(values["occurred_at"]),
                posted_at=posted_at,
                metadata=values["metadata"],
                seal=values.get("seal") or "",
            )
        )
    return entries


def entry_row_key(entry: LedgerEntry) -> str:
    return row_key(entry.posted_at, entry.billing_account_id, entry.seq)


@dataclass(frozen=True)
class LogSlice:
    """Entries newest first, and the row key to continue below (None: nothing more).

    A filtered read may stop at its budget (SCAN_ROWS) with fewer entries than asked:
    `next_key` then continues below the last row it examined."""

    entries: list[LedgerEntry]
    next_key: str | None


class RowFilter(Protocol):
    """Which rows a Logs read keeps (domain/logs.py LogFilter)."""

    def matches(self, entry: LedgerEntry) -> bool: ...

    @property
    def expected_share(self) -> float:
        """The share of rows expected to match (1.0: every row): sizes the reads."""
        ...


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

    def all_heads(self) -> Iterator[BalanceState]:
        """Every balance head (a scan: for the reconcile job, never for a request)."""
        bind()
        for record in BalanceRecord.scan():
            yield _state(record)

    # -- appending ------------------------------------------------------------
    def commit(
        self,
        posting: Posting,
        recharge: RechargeState | None = None,
        extra: Sequence[AlertWrite] = (),
    ) -> None:
        """Write the posting and, when given, the balance's new `recharge` state (what the
        transaction set off: a recharge in flight, an alert flag) atomically, or raise
        CommitConflict.

        `extra`: what the same transaction writes for usage alerts (a guard moved on, a firing:
        adapters/alerts_repo.py), each mapped to one update item (PynamoDB sends puts before
        updates, so updates added last are the transaction's last items): a condition of theirs
        that fails is reported by position in CommitConflict.extra_failed."""
        plan = posting.plan
        head_updates = recharge_attributes(recharge) if recharge is not None else {}
        if not plan.entries:
            return
        bind()
        now = datetime.now(UTC)
        page_of = {e.event_id: page.first_seq for page in posting.pages for e in page.entries}
        try:
            with TransactWrite(connection=self._connection()) as tx:
                for entry in plan.entries:
                    tx.save(
                        _entry_record(entry, page_of[entry.event_id], posting.event_digests.get(entry.event_id)),
                        condition=LedgerEntryRecord.event_id.does_not_exist(),
                    )
                for page in posting.pages:
                    tx.save(page_record(page), condition=LedgerPageRecord.log_key.does_not_exist())
                head = BalanceRecord(plan.after.billing_account_id)
                if not plan.before.exists:
                    head.balance_micros = plan.after.balance_micros
                    head.seq = plan.after.seq
                    head.currency = posting.currency
                    head.last_posted_at = plan.after.last_posted_at
                    head.updated_at = now
                    head.seal = plan.after.seal or None
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
                            *([BalanceRecord.seal.set(plan.after.seal)] if plan.after.seal else []),
                            *update_actions(head_updates),
                        ],
                        condition=BalanceRecord.seq == plan.before.seq,
                    )
                if posting.balance_day is not None:
                    day = posting.balance_day
                    partition, key = balance_day_location(posting.scopes[day.billing_account_id], day)
                    tx.update(BalanceDayRecord(partition, key), actions=balance_day_actions(day))
                for (partition, key), totals in rollup_items(posting.rollups, posting.scopes):
                    tx.update(RollupRecord(partition, key), actions=rollup_actions(totals))
                if extra:
                    from .alerts_repo import prepared_write

                    for write in extra:
                        prepared_write(write)(tx)
        except TransactWriteError as exc:
            raise _explain(exc, len(plan.entries), [e.event_id for e in plan.entries], len(extra)) from exc

    # -- rebuilding (make rebuild) ------------------------------------------------
    def scan_entries(self) -> Iterator[tuple[LedgerEntry, int | None]]:
        """Every entry, with the page it is listed on when recorded (a scan: never for a request)."""
        bind()
        for record in LedgerEntryRecord.scan():
            yield entry_from_record(record), None if record.page_seq is None else int(record.page_seq)

    def put_pages(self, pages: Iterable[LedgerPage]) -> None:
        """Write (or write again, unchanged) the Logs pages derived from the entries."""
        bind()
        with LedgerPageRecord.batch_write() as batch:
            for page in pages:
                batch.save(page_record(page))

    def page_keys(self, scope: str, owner_id: str) -> set[tuple[str, str, int]]:
        """(account, billing account, first seq) of every page an account's (or agency's) Logs list."""
        return {(r.account_id, r.billing_account_id, int(r.first_seq)) for r in self._pages(scope, owner_id)}

    def seal_entries(self, billing_account_id: str, seals: Mapping[str, str], last_seal: str) -> None:
        """Store seals on entries that had none, and the last on the head (make rebuild)."""
        bind()
        for event_id, seal in seals.items():
            LedgerEntryRecord(event_id).update(
                actions=[LedgerEntryRecord.seal.set(seal)], condition=LedgerEntryRecord.seal.does_not_exist()
            )
        BalanceRecord(billing_account_id).update(
            actions=[BalanceRecord.seal.set(last_seal)], condition=BalanceRecord.billing_account_id.exists()
        )

    def any_entry(self) -> bool:
        bind()
        return any(True for _ in LedgerEntryRecord.scan(limit=1))

    def any_page(self) -> bool:
        bind()
        return any(True for _ in LedgerPageRecord.scan(limit=1))

    # -- entries by event -------------------------------------------------------
    def charged(self, event_ids: Iterable[str]) -> dict[str, tuple[LedgerEntry, str | None]]:
        """The entries charged for these event ids, each with the digest of the event as charged
        (None for an entry from before digests were kept); BatchGetItem."""
        bind()
        ids = sorted(set(event_ids))
        records = LedgerEntryRecord.batch_get(ids, consistent_read=True) if ids else []
        return {r.event_id: (entry_from_record(r), r.event_digest) for r in records}

    def entries(self, event_ids: Iterable[str]) -> dict[str, LedgerEntry]:
        """The entries charged for these event ids (missing ids are absent); BatchGetItem."""
        bind()
        ids = sorted(set(event_ids))
        return {r.event_id: entry_from_record(r) for r in LedgerEntryRecord.batch_get(ids)} if ids else {}

    # -- reading orders -----------------------------------------------------------
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
        """Up to `limit` entries of an account (scope "account") or an agency ("agency"),
        newest first, posted in [start, end), ordered below `before_key` when given and kept
        by `row_filter` (None: every row).

        Unfiltered, a read costs the rows returned plus a page or two per shard. Filtered, it
        examines at most SCAN_ROWS rows: a rare match may answer fewer rows than `limit`
        (even none) with a `next_key` to search on from."""
        bind()
        lower = format_instant(start) if start else None
        upper = format_instant(end) if end else None
        if before_key is not None and (upper is None or before_key < upper):
            upper = before_key

        def below(entry: LedgerEntry) -> bool:
            return before_key is None or entry_row_key(entry) < before_key

        def keep(entry: LedgerEntry) -> bool:
            return below(entry) and (row_filter is None or row_filter.matches(entry))

        share = 1.0 if row_filter is None else min(1.0, max(row_filter.expected_share, 0.01))
        streams = [_ShardStream(_shard_query(scope, owner_id, shard, lower, upper)) for shard in range(PAGE_SHARDS)]
        entries, resume = _merge_newest(
            streams, limit, keep, share=share, budget=None if row_filter is None else SCAN_ROWS, counts=below
        )
        return LogSlice(entries, entry_row_key(resume) if resume is not None else None)

    def entries_of_account(self, account_id: str) -> Iterator[LedgerEntry]:
        """Every entry of one account (any billing account), oldest first."""
        yield from _all_entries(self._pages("account", account_id))

    def entries_of_agency(self, agency_id: str) -> Iterator[LedgerEntry]:
        """Every entry listed in an agency's Logs (the agency's and every sub-account's), oldest first."""
        yield from _all_entries(self._pages("agency", agency_id))

    def chain(self, billing_account_id: str) -> Iterator[LedgerEntry]:
        """Every entry of a billing account in sequence order.

        A balance's entries are its own account's and, for an agency, those of the
        sub-accounts that drew from it: its account pages and its agency pages.
        """
        pages: dict[int, LedgerPageRecord] = {}
        for scope in ("account", "agency"):
            for record in self._pages(scope, billing_account_id):
                if record.billing_account_id == billing_account_id:
                    pages[int(record.first_seq)] = record
        for first_seq in sorted(pages):
            yield from page_entries(pages[first_seq])

    def chain_after(self, billing_account_id: str, after_row_key: str | None, agency: bool) -> list[LedgerEntry]:
        """A balance's entries listed from `after_row_key` on (every one without it), in sequence
        order: the pages of its own account and, for an agency, of its agency Logs (where its
        shared sub-accounts' entries are), read from there (a query per shard, side by side), so
        the cost is what was posted since."""
        bind()
        condition = None if after_row_key is None else LedgerPageRecord.row_key >= after_row_key
        calls = [
            lambda scope=scope, shard=shard: list(  # type: ignore[misc]
                _index(scope).query(f"{billing_account_id}#{shard}", range_key_condition=condition)
            )
            for scope in (("account", "agency") if agency else ("account",))
            for shard in range(PAGE_SHARDS)
        ]
        pages: dict[int, LedgerPageRecord] = {}
        for records in run_all(calls):
            for record in records:
                if record.billing_account_id == billing_account_id:
                    pages[int(record.first_seq)] = record
        return [e for first_seq in sorted(pages) for e in page_entries(pages[first_seq])]

    def has_entries(self, account_id: str) -> bool:
        bind()
        found = run_all(
            [
                lambda shard=shard: any(  # type: ignore[misc]
                    True for _ in LedgerPageRecord.query(f"{account_id}#{shard}", limit=1, page_size=1)
                )
                for shard in range(PAGE_SHARDS)
            ]
        )
        return any(found)

    def _pages(self, scope: str, owner_id: str) -> list[LedgerPageRecord]:
        """Every page of an account or agency, in row order (reconcile, rebuild, tests)."""
        bind()
        shards = run_all(
            [
                lambda shard=shard: list(_index(scope).query(f"{owner_id}#{shard}"))  # type: ignore[misc]
                for shard in range(PAGE_SHARDS)
            ]
        )
        return sorted((r for records in shards for r in records), key=lambda r: r.row_key)


def _index(scope: str) -> Any:
    return LedgerPageRecord if scope == "account" else LedgerPageRecord.by_agency_log


def _all_entries(pages: Iterable[LedgerPageRecord]) -> Iterator[LedgerEntry]:
    for record in pages:
        yield from page_entries(record)


FetchPages = Callable[[int, "dict[str, Any] | None"], "tuple[list[LedgerPageRecord], dict[str, Any] | None]"]


def _shard_query(scope: str, owner_id: str, shard: int, lower: str | None, upper: str | None) -> FetchPages:
    """One shard's pages, newest first, between `lower` (inclusive) and `upper` (exclusive
    of its own rows: a page starting at `upper` is dropped by the caller's filter)."""
    index = _index(scope)
    hash_key = f"{owner_id}#{shard}"
    attribute = LedgerPageRecord.row_key
    condition: Any
    if lower is not None and upper is not None:
        condition = attribute.between(lower, upper)
    elif upper is not None:
        condition = attribute <= upper
    elif lower is not None:
        condition = attribute >= lower
    else:
        condition = None

    def fetch(count: int, after: dict[str, Any] | None) -> tuple[list[LedgerPageRecord], dict[str, Any] | None]:
        results = index.query(
            hash_key,
            range_key_condition=condition,
            scan_index_forward=False,
            limit=count,
            page_size=count,
            last_evaluated_key=after,
        )
        records = list(results)
        return records, results.last_evaluated_key

    return fetch


class _ShardStream:
    """One shard's pages as they are fetched: a buffer, the lowest key seen, and whether more remain."""

    def __init__(self, fetch: FetchPages) -> None:
        self._fetch = fetch
        self.buffer: deque[LedgerPageRecord] = deque()
        self.lowest_seen: str | None = None
        self.exhausted = False
        self._after: dict[str, Any] | None = None

    def fetch(self, count: int) -> list[LedgerPageRecord]:
        records, after = self._fetch(count, self._after)
        self.buffer.extend(records)
        if records:
            self.lowest_seen = records[-1].row_key
        self._after = after
        self.exhausted = after is None
        return records


def _merge_newest(
    streams: Sequence[_ShardStream],
    limit: int,
    keep: Callable[[LedgerEntry], bool],
    *,
    share: float = 1.0,
    budget: int | None = None,
    counts: Callable[[LedgerEntry], bool] = lambda entry: True,
) -> tuple[list[LedgerEntry], LedgerEntry | None]:
    """The newest `limit` kept entries over every stream, and the entry to continue below
    (None: nothing more).

    Pages of different shards never overlap in row order, so whole pages are merged:
    the next page out is the greatest buffered one, unless a stream with an empty
    buffer may still hold a greater one, in which case that stream (with every other
    such stream, side by side) is asked for more first (see `_asks`), so reading stays
    near the rows returned plus a page or two per shard. `share` is the part of the rows
    `keep` is expected to keep. With a `budget`, once that many rows (those `counts`
    counts) have been examined the merge stops after the page it is on: everything
    above the last row examined has been seen, so the read continues below it.
    """
    out: list[LedgerEntry] = []
    want = limit + 1  # one more than asked tells whether another page exists
    rows_read = pages_read = 0
    examined = 0
    first_round = True
    while True:
        buffered = [s for s in streams if s.buffer]
        best = max(buffered, key=lambda s: s.buffer[0].row_key) if buffered else None
        best_key = best.buffer[0].row_key if best else None
        blocked = [
            s
            for s in streams
            if not s.buffer
            and not s.exhausted
            and (s.lowest_seen is None or best_key is None or s.lowest_seen > best_key)
        ]
        if blocked:
            remaining = None if budget is None else max(budget - examined, 1)
            asks = _asks(streams, blocked, want - len(out), rows_read, pages_read, first_round, share, remaining)
            first_round = False
            fetched = run_all([lambda s=s, n=n: s.fetch(n) for s, n in asks])  # type: ignore[misc]
            for records in fetched:
                pages_read += len(records)
                rows_read += sum(_rows_in(r) for r in records)
            continue
        if best is None:
            return out[:limit], out[limit - 1] if len(out) > limit else None
        last: LedgerEntry | None = None
        for entry in reversed(page_entries(best.buffer.popleft())):
            if counts(entry):
                examined += 1
                last = entry
            if keep(entry):
                out.append(entry)
        if len(out) >= want:
            return out[:limit], out[limit - 1]
        if budget is not None and examined >= budget and last is not None:
            more = any(s.buffer or not s.exhausted for s in streams)
            return out, last if more else None


def _rows_in(record: LedgerPageRecord) -> int:
    return int(record.last_seq) - int(record.first_seq) + 1


def _asks(
    streams: Sequence[_ShardStream],
    blocked: Sequence[_ShardStream],
    need: int,
    rows_read: int,
    pages_read: int,
    first_round: bool,
    kept_share: float,
    budget_rows: int | None = None,
) -> list[tuple[_ShardStream, int]]:
    """How many pages to ask each stream for in this round.

    The first round asks every shard for two pages (ten when a filter keeps only some
    rows). Later rounds ask the blocked streams, and every other stream holding less than
    its share of the rows still needed plus a page, for enough pages to cover that share at the rows
    per page seen so far and the share of rows the filter keeps: a round or two. Under a
    budget, a round never asks for more pages than the rows left to examine could fill.
    """
    if first_round:
        return [(s, 2 if kept_share >= 1 else 10) for s in blocked]
    rows_per_page = max(1.0, rows_read / pages_read) if pages_read else 1.0
    kept_per_page = rows_per_page * kept_share
    live = [s for s in streams if not s.exhausted or s.buffer]
    share = math.ceil(need / max(1, len(live)))
    asking = [s for s in streams if not s.exhausted]
    cap = MAX_FETCH
    if budget_rows is not None:
        cap = max(1, min(MAX_FETCH, math.ceil(budget_rows / rows_per_page / max(1, len(asking)))))
    asks = []
    for s in asking:
        held = sum(_rows_in(r) for r in s.buffer) * kept_share
        # A page of margin: a stream left with just its share runs dry as the merge takes
        # it, and asking it then costs a round of its own (one shard after another).
        if s in blocked or held < share + kept_per_page:
            count = math.ceil(max(share - held, 1) / kept_per_page) + 1
            asks.append((s, max(1, min(cap, count))))
    return asks


def _state(record: BalanceRecord) -> BalanceState:
    return BalanceState(
        billing_account_id=record.billing_account_id,
        balance_micros=int(record.balance_micros or 0),
        seq=int(record.seq or 0),
        last_posted_at=record.last_posted_at,
        exists=True,
        billing=head_from_record(record),
        seal=record.seal or "",
    )


def _explain(exc: TransactWriteError, entries: int, event_ids: Sequence[str], extra: int = 0) -> CommitConflict:
    # A lost answer (a timeout) has no response at all (PynamoDB's cause_response_code fails on
    # it): its outcome is unknown, so transient, and the dedupe condition makes the retry safe.
    reasons = exc.cancellation_reasons
    if error_code(exc) != "TransactionCanceledException" or not reasons:
        return CommitConflict(set(), balance_moved=False, transient=True)
    duplicates: set[str] = set()
    extra_failed: set[int] = set()
    extra_from = len(reasons) - extra  # the extra items come last
    balance_moved = False
    transient = False
    for i, reason in enumerate(reasons):
        if reason is None:
            continue
        if reason.code == "ConditionalCheckFailed":
            if i < entries:
                duplicates.add(event_ids[i])
            elif i >= extra_from:
                extra_failed.add(i - extra_from)
            else:
                balance_moved = True
        else:  # TransactionConflict, ThrottlingError, …: try again
            transient = True
    return CommitConflict(duplicates, balance_moved, transient, frozenset(extra_failed))
