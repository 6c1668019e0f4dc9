"""The ledger's invariants, checked over one billing account's entries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

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
