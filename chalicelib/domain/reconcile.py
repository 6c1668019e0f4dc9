"""The ledger's invariants, checked over one billing account's entries and what is derived from them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from .balance_days import BalanceDay, merge_days
from .ledger import BalanceState, LedgerEntry
from .rollups import RollupKey, RollupTotals, rollup_deltas


@dataclass
class ReconcileReport:
    billing_account_id: str
    entries: int = 0
    balance_micros: int = 0
    recomputed_micros: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_chain(head: BalanceState, entries: Iterable[LedgerEntry]) -> ReconcileReport:
    """Balance = sum of entries; sequence 1..n without gaps; balance_after follows it.

    `entries` must be in sequence order. Each event is charged at most once by
    construction (the entry is keyed by its event id); the check still looks for
    an event id appearing twice, in case a key was ever misused.
    """
    report = ReconcileReport(head.billing_account_id, balance_micros=head.balance_micros)
    running = 0
    expected_seq = 1
    seen_events: set[str] = set()
    previous_posted = None
    for entry in entries:
        report.entries += 1
        if entry.seq != expected_seq:
            report.problems.append(f"sequence gap: expected {expected_seq}, found {entry.seq}")
            expected_seq = entry.seq
        running += entry.amount_micros
        if entry.balance_after_micros != running:
            report.problems.append(
                f"entry {entry.entry_id} (seq {entry.seq}): balance_after {entry.balance_after_micros} != {running}"
            )
            running = entry.balance_after_micros
        if entry.event_id in seen_events:
            report.problems.append(f"event {entry.event_id} charged twice")
        seen_events.add(entry.event_id)
        if previous_posted is not None and entry.posted_at < previous_posted:
            report.problems.append(f"entry {entry.entry_id} posted before the entry preceding it")
        previous_posted = entry.posted_at
        if entry.billing_account_id != head.billing_account_id:
            report.problems.append(f"entry {entry.entry_id} belongs to {entry.billing_account_id}")
        expected_seq += 1
    report.recomputed_micros = sum_amounts = running
    if report.entries != head.seq:
        report.problems.append(f"balance head says {head.seq} entries, found {report.entries}")
    if sum_amounts != head.balance_micros:
        report.problems.append(f"balance {head.balance_micros} != sum of entries {sum_amounts}")
    return report


def check_rollups(
    account_id: str,
    zone: ZoneInfo,
    entries: Iterable[LedgerEntry],
    stored: Mapping[RollupKey, RollupTotals],
) -> list[str]:
    """Invariant 4: every stored rollup equals the sum of the entries it covers."""
    expected = rollup_deltas(entries, defaultdict(lambda: zone))
    problems = []
    for key in sorted(set(expected) | set(stored)):
        want, have = expected.get(key, RollupTotals()), stored.get(key, RollupTotals())
        if want != have:
            problems.append(f"rollup {account_id} {key.sort_key}: stored {have}, entries say {want}")
    return problems


def check_listed_entries(listed: Iterable[LedgerEntry], stored: Mapping[str, LedgerEntry]) -> list[str]:
    """Every entry the Logs pages list is the entry stored under its event id, field for field."""
    problems = []
    for entry in listed:
        found = stored.get(entry.event_id)
        if found is None:
            problems.append(f"entry {entry.entry_id} (seq {entry.seq}) is listed, but event {entry.event_id} has none")
        elif found != entry:
            fields = [name for name in entry.__dataclass_fields__ if getattr(found, name) != getattr(entry, name)]
            problems.append(f"entry {entry.entry_id} (seq {entry.seq}) differs from its listing in {', '.join(fields)}")
    return problems


def expected_balance_days(billing_account_id: str, zone: ZoneInfo, chain: Sequence[LedgerEntry]) -> list[BalanceDay]:
    """The posting days a chain of entries (in sequence order) adds up to."""
    days: dict[object, list[BalanceDay]] = defaultdict(list)
    balance = 0
    for entry in chain:
        day = entry.posted_at.astimezone(zone).date()
        days[day].append(
            BalanceDay(
                billing_account_id,
                day,
                1,
                entry.amount_micros,
                entry.seq,
                balance,
                entry.seq,
                entry.balance_after_micros,
            )
        )
        balance = entry.balance_after_micros
    return [merge_days(parts) for _, parts in sorted(days.items(), key=lambda kv: str(kv[0]))]


def check_balance_days(
    billing_account_id: str, zone: ZoneInfo, chain: Sequence[LedgerEntry], stored: Iterable[BalanceDay]
) -> list[str]:
    """Every stored posting day equals what the entries posted that day add up to."""
    want = {d.day: d for d in expected_balance_days(billing_account_id, zone, chain)}
    have = {d.day: d for d in stored}
    problems = []
    for day in sorted(set(want) | set(have)):
        if want.get(day) != have.get(day):
            problems.append(
                f"posting day {billing_account_id} {day}: stored {have.get(day)}, entries say {want.get(day)}"
            )
    return problems
