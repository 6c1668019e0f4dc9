"""The ledger's arithmetic: turning priced events into ordered entries.

Pure functions: given the billing account's balance state and a batch of events,
decide each entry's sequence number, posting time and balance after. The adapter
commits a plan atomically or not at all, so a plan is either fully true or never
happened.

A plan's entries are also cut into **pages**: the consecutive entries of one account
(all of one plan share a posting time). Logs read pages, newest first, so a page is
one stored item however many rows it lists; the writer orders a plan's events by
account so that an account has one page per transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

from .categories import Category
from .events import MetadataValue, UsageEvent
from .payments import BillingHead

# Entry ids are derived from the event id, so a retried write produces the same id.
_ENTRY_NAMESPACE = uuid.UUID("6f1c3a52-5d8e-4c7b-9a0e-2b7d4e1f8c90")
# A transaction holds at most 100 items (DynamoDB's limit).
MAX_TRANSACTION_ITEMS = 100


def entry_id_for(event_id: str) -> str:
    return "le_" + uuid.uuid5(_ENTRY_NAMESPACE, event_id).hex[:24]


@dataclass(frozen=True)
class BalanceState:
    """The billing account's balance item: the head of its entry chain."""

    billing_account_id: str
    balance_micros: int
    seq: int  # sequence number of the last entry; 0 before the first
    last_posted_at: datetime | None
    exists: bool
    billing: BillingHead = field(default_factory=BillingHead)
    seal: str = ""  # the last entry's seal ("" before the first, or for a chain sealed by none)


@dataclass(frozen=True)
class PricedEvent:
    event: UsageEvent
    account_id: str
    agency_id: str | None  # the agency whose logs show this entry
    unit: str
    unit_price_micros: int | None
    amount_micros: int


@dataclass(frozen=True)
class LedgerEntry:
    entry_id: str
    event_id: str
    billing_account_id: str
    account_id: str
    agency_id: str | None
    seq: int
    category: Category
    description: str
    quantity: Decimal
    unit: str
    unit_price_micros: int | None
    amount_micros: int
    balance_after_micros: int
    occurred_at: datetime
    posted_at: datetime
    metadata: dict[str, MetadataValue]
    # HMAC of this entry's fields and the previous entry's seal, with the ledger key (see `seal_of`).
    seal: str = ""


@dataclass(frozen=True)
class Plan:
    before: BalanceState
    after: BalanceState
    entries: tuple[LedgerEntry, ...]


@dataclass(frozen=True)
class LedgerPage:
    """Consecutive entries of one account, posted together: one row group of its Logs."""

    account_id: str
    agency_id: str | None  # the agency whose Logs list this page too
    billing_account_id: str
    posted_at: datetime
    entries: tuple[LedgerEntry, ...]

    @property
    def first_seq(self) -> int:
        return self.entries[0].seq

    @property
    def last_seq(self) -> int:
        return self.entries[-1].seq


def pages_of(entries: Sequence[LedgerEntry]) -> list[LedgerPage]:
    """Runs of consecutive entries of the same account, billing account and posting time."""
    pages: list[LedgerPage] = []
    run: list[LedgerEntry] = []

    def close() -> None:
        if run:
            first = run[0]
            pages.append(
                LedgerPage(first.account_id, first.agency_id, first.billing_account_id, first.posted_at, tuple(run))
            )

    for entry in entries:
        if run and (
            entry.account_id != run[-1].account_id
            or entry.billing_account_id != run[-1].billing_account_id
            or entry.posted_at != run[-1].posted_at
            or entry.seq != run[-1].seq + 1
        ):
            close()
            run = []
        run.append(entry)
    close()
    return pages


def plan_entries(state: BalanceState, events: Sequence[PricedEvent], now: datetime, key: bytes | None = None) -> Plan:
    """Append `events` after `state`, in the given order, with an exact running balance.

    Posting times never go backwards within a billing account, so ordering by
    posted time and by sequence number agree. With the ledger `key`, every entry is
    sealed, chained to the one before it.
    """
    posted_at = now if state.last_posted_at is None else max(now, state.last_posted_at)
    balance = state.balance_micros
    seq = state.seq
    previous = state.seal
    entries = []
    for priced in events:
        seq += 1
        balance += priced.amount_micros
        event = priced.event
        entry = LedgerEntry(
            entry_id=entry_id_for(event.event_id),
            event_id=event.event_id,
            billing_account_id=state.billing_account_id,
            account_id=priced.account_id,
            agency_id=priced.agency_id,
            seq=seq,
            category=event.category,
            description=event.description or default_description(event),
            quantity=event.quantity,
            unit=priced.unit,
            unit_price_micros=priced.unit_price_micros,
            amount_micros=priced.amount_micros,
            balance_after_micros=balance,
            occurred_at=event.occurred_at,
            posted_at=posted_at,
            metadata=event.metadata,
        )
        if key is not None:
            entry = replace(entry, seal=seal_of(key, previous, entry))
            previous = entry.seal
        entries.append(entry)
    after = replace(
        state,
        balance_micros=balance,
        seq=seq,
        last_posted_at=posted_at if entries else state.last_posted_at,
        exists=state.exists or bool(entries),
        seal=previous,
    )
    return Plan(before=state, after=after, entries=tuple(entries))


def seal_of(key: bytes, previous: str, entry: LedgerEntry) -> str:
    """The entry's seal: an HMAC (SHA-256, 128 bits shown) of every field of the entry and of the
    seal of the entry before it. Someone who can write the tables but does not hold the ledger key
    cannot change an entry, or add, remove or reorder one, without breaking the seals after it."""
    fields = [
        previous,
        entry.seq,
        entry.event_id,
        entry.account_id,
        entry.billing_account_id,
        entry.agency_id,
        entry.category.value,
        entry.description,
        format(entry.quantity, "f"),
        entry.unit,
        entry.unit_price_micros,
        entry.amount_micros,
        entry.balance_after_micros,
        entry.occurred_at.astimezone(UTC).isoformat(),
        entry.posted_at.astimezone(UTC).isoformat(),
        entry.metadata,
    ]
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()[:32]


def default_description(event: UsageEvent) -> str:
    quantity = format(event.quantity.normalize(), "f")
    return {
        Category.CALL_MINUTES: f"{quantity} call minute(s)",
        Category.TEXT_MESSAGES: f"{quantity} text message(s)",
        Category.NUMBER_RENEWALS: f"{quantity} number renewal(s)",
        Category.SUBSCRIPTION_FEES: "Subscription fee",
        Category.RECHARGE: "Balance recharge",
        Category.ADJUSTMENT: "Adjustment",
    }[event.category]


T = TypeVar("T")


def chunk_for_transactions(
    items: Iterable[T],
    *,
    shared_keys: Callable[[T], Iterable[Hashable]] = lambda _: (),
    fixed_items: int = 1,
    max_items: int = MAX_TRANSACTION_ITEMS,
) -> list[list[T]]:
    """Split items into runs that each fit one transaction.

    Every item costs one transaction item of its own; items can also share items
    (the balance, rollup counters) named by `shared_keys`, which count once per
    chunk. `fixed_items` are in every chunk (the balance item).
    """
    chunks: list[list[T]] = []
    current: list[T] = []
    current_keys: set[Hashable] = set()
    for item in items:
        keys = set(shared_keys(item))
        new_keys = keys - current_keys
        if current and fixed_items + len(current) + 1 + len(current_keys) + len(new_keys) > max_items:
            chunks.append(current)
            current, current_keys, new_keys = [], set(), keys
        if fixed_items + 1 + len(new_keys) > max_items:
            raise ValueError("one item needs more than a whole transaction")
        current.append(item)
        current_keys |= new_keys
    if current:
        chunks.append(current)
    return chunks
