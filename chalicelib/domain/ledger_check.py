"""The ledger's invariants, checked over the stored entries and everything derived from them.

Each check returns `Finding`s: what kind of drift, which item, and what is wrong with
it. The entries are the ledger; the balance head, the Logs pages, the rollups, the
posting days, the payments' credits and the statements' stored numbers must all agree
with them, and every entry must carry the seal the ledger key gives it (so an entry
edited, forged with a fabricated chain, or removed is found even when everything
derived from it was edited to match).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .balance_days import BalanceDay, merge_days
from .categories import Category
from .ledger import BalanceState, LedgerEntry, seal_of
from .money import multiply_micros
from .rollups import RollupKey, RollupTotals, rollup_deltas


@dataclass(frozen=True)
class Finding:
    kind: str  # what is wrong: "entry_seal", "head_balance", "rollup", "payment_credit", ...
    item: str  # which item: "entry le_1f2e (seq 12) of acct_1", "head acct_1", "payment pay_..."
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.item}: {self.detail}"


@dataclass
class ReconcileReport:
    billing_account_id: str
    entries: int = 0
    balance_micros: int = 0
    recomputed_micros: int = 0
    problems: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _entry(entry: LedgerEntry) -> str:
    return f"entry {entry.entry_id} (seq {entry.seq}, event {entry.event_id}) of {entry.billing_account_id}"


@dataclass(frozen=True)
class ChainPoint:
    """Where a chain is known good up to: after entry `seq`, at `balance_micros`, sealed `seal`."""

    seq: int = 0
    balance_micros: int = 0
    seal: str = ""


def check_chain(
    head: BalanceState, entries: Iterable[LedgerEntry], key: bytes | None = None, after: ChainPoint = ChainPoint()
) -> ReconcileReport:
    """Balance = sum of entries; sequence 1..n without gaps; balance_after follows it; with the
    ledger `key`, every entry's seal chains to the one before it and the head holds the last.
    From `after` (a point checked before): the entries that follow it, and the head.

    `entries` must be in sequence order. Each event is charged at most once by
    construction (the entry is keyed by its event id); the check still looks for
    an event id appearing twice, in case a key was ever misused.
    """
    report = ReconcileReport(head.billing_account_id, balance_micros=head.balance_micros)
    problems = report.problems
    head_item = f"head {head.billing_account_id}"
    running = after.balance_micros
    expected_seq = after.seq + 1
    seen_events: set[str] = set()
    previous_posted = None
    previous_seal = after.seal
    for entry in entries:
        report.entries += 1
        if key is not None:
            if not entry.seal:
                problems.append(Finding("entry_unsealed", _entry(entry), "no seal (make rebuild seals it)"))
            elif entry.seal != seal_of(key, previous_seal, entry):
                problems.append(Finding("entry_seal", _entry(entry), "the seal does not match its fields and chain"))
            previous_seal = entry.seal
        if entry.seq != expected_seq:
            problems.append(Finding("chain_sequence", _entry(entry), f"expected seq {expected_seq}"))
            expected_seq = entry.seq
        running += entry.amount_micros
        if entry.balance_after_micros != running:
            detail = f"balance_after {entry.balance_after_micros} != {running} (the entries before it, summed)"
            problems.append(Finding("chain_balance", _entry(entry), detail))
            running = entry.balance_after_micros
        if entry.event_id in seen_events:
            problems.append(Finding("event_twice", _entry(entry), "the event is charged twice"))
        seen_events.add(entry.event_id)
        if previous_posted is not None and entry.posted_at < previous_posted:
            problems.append(Finding("chain_posted", _entry(entry), "posted before the entry preceding it"))
        previous_posted = entry.posted_at
        if entry.billing_account_id != head.billing_account_id:
            problems.append(Finding("chain_owner", _entry(entry), f"in the chain of {head.billing_account_id}"))
        expected_seq += 1
    report.recomputed_micros = running
    if not head.exists and report.entries:
        problems.append(Finding("head_missing", head_item, f"no balance head for {report.entries} entries"))
        return report
    if after.seq + report.entries != head.seq:
        detail = f"says {head.seq} entries, the ledger holds {after.seq + report.entries}"
        problems.append(Finding("head_seq", head_item, detail))
    if running != head.balance_micros:
        problems.append(
            Finding("head_balance", head_item, f"balance {head.balance_micros} != sum of entries {running}")
        )
    if key is not None and (report.entries or after.seq) and head.seal != previous_seal:
        problems.append(Finding("head_seal", head_item, "the head's seal is not its last entry's"))
    return report


def check_prices(entries: Iterable[LedgerEntry]) -> list[Finding]:
    """A charge priced per unit costs quantity x unit price, rounded half-up to a micro-unit."""
    problems = []
    for entry in entries:
        if entry.category.is_usage and entry.unit_price_micros is not None:
            want = -multiply_micros(entry.quantity, entry.unit_price_micros)
            if entry.amount_micros != want:
                detail = f"amount {entry.amount_micros} != -{entry.quantity} x {entry.unit_price_micros} = {want}"
                problems.append(Finding("entry_price", _entry(entry), detail))
    return problems


def check_rollups(
    account_id: str,
    zone: ZoneInfo,
    entries: Iterable[LedgerEntry],
    stored: Mapping[RollupKey, RollupTotals],
) -> list[Finding]:
    """Invariant 4: every stored rollup equals the sum of the entries it covers."""
    expected = rollup_deltas(entries, defaultdict(lambda: zone))
    problems = []
    for key in sorted(set(expected) | set(stored)):
        want, have = expected.get(key, RollupTotals()), stored.get(key, RollupTotals())
        if want != have:
            problems.append(
                Finding("rollup", f"rollup {account_id} {key.sort_key}", f"stored {have}, entries say {want}")
            )
    return problems


def check_listed_entries(listed: Iterable[LedgerEntry], stored: Mapping[str, LedgerEntry]) -> list[Finding]:
    """Every entry the Logs pages list is the entry stored under its event id, field for field,
    and every stored entry is listed."""
    problems = []
    seen: set[str] = set()
    for entry in listed:
        seen.add(entry.event_id)
        found = stored.get(entry.event_id)
        if found is None:
            problems.append(Finding("listing_stray", _entry(entry), "listed in Logs, but no entry is stored"))
        elif found != entry:
            fields = [name for name in entry.__dataclass_fields__ if getattr(found, name) != getattr(entry, name)]
            problems.append(Finding("listing_differs", _entry(entry), f"Logs list it with other {', '.join(fields)}"))
    for event_id in sorted(set(stored) - seen):
        problems.append(Finding("listing_missing", _entry(stored[event_id]), "stored, but listed in no Logs page"))
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
) -> list[Finding]:
    """Every stored posting day equals what the entries posted that day add up to."""
    want = {d.day: d for d in expected_balance_days(billing_account_id, zone, chain)}
    have = {d.day: d for d in stored}
    problems = []
    for day in sorted(set(want) | set(have)):
        if want.get(day) != have.get(day):
            item = f"posting day {billing_account_id} {day}"
            problems.append(Finding("posting_day", item, f"stored {have.get(day)}, entries say {want.get(day)}"))
    return problems


@dataclass(frozen=True)
class PaymentFacts:
    """What reconcile knows of a card payment (domain/payments.py Payment, reduced)."""

    payment_id: str
    billing_account_id: str
    succeeded: bool
    amount_micros: int


CREDIT_PREFIX = "payment:"  # a payment's ledger credit is the event "payment:<payment id>"


def check_payment_credits(payments: Iterable[PaymentFacts], entries: Iterable[LedgerEntry]) -> list[Finding]:
    """Every payment that succeeded has exactly one credit of its amount on its balance, and
    every card credit has its succeeded payment."""
    credits = {e.event_id[len(CREDIT_PREFIX) :]: e for e in entries if e.event_id.startswith(CREDIT_PREFIX)}
    problems = []
    known: set[str] = set()
    for payment in payments:
        known.add(payment.payment_id)
        item = f"payment {payment.payment_id} of {payment.billing_account_id}"
        credit = credits.get(payment.payment_id)
        if payment.succeeded and credit is None:
            problems.append(Finding("payment_uncredited", item, "succeeded, but no credit on the balance"))
        elif not payment.succeeded and credit is not None:
            problems.append(Finding("payment_credit_unpaid", item, "did not succeed, yet the balance was credited"))
        elif credit is not None:
            if credit.amount_micros != payment.amount_micros or credit.category is not Category.RECHARGE:
                detail = f"credited {credit.amount_micros} ({credit.category.value}), paid {payment.amount_micros}"
                problems.append(Finding("payment_credit_amount", item, detail))
            if credit.billing_account_id != payment.billing_account_id:
                problems.append(Finding("payment_credit_balance", item, f"credited to {credit.billing_account_id}"))
    for payment_id in sorted(set(credits) - known):
        problems.append(Finding("credit_without_payment", _entry(credits[payment_id]), "no payment of that id"))
    return problems


def balance_before_day(chain: Sequence[LedgerEntry], zone: ZoneInfo, day: date) -> int:
    """The balance just before local `day` began: after the last entry posted on an earlier day."""
    balance = 0
    for entry in chain:
        if entry.posted_at.astimezone(zone).date() >= day:
            break
        balance = entry.balance_after_micros
    return balance


@dataclass(frozen=True)
class StatementFacts:
    """A stored statement as reconcile reads it: its numbers, their seal, the list columns."""

    statement_id: str
    account_id: str
    doc: Mapping[str, Any] | None
    seal: str | None
    opening_column: int | None
    closing_column: int | None


def check_statement(
    statement: StatementFacts, key: bytes, chain: Sequence[LedgerEntry], zone: ZoneInfo
) -> list[Finding]:
    """A statement's stored numbers are the ones it was sealed with, its list columns say the
    same, they add up, and its boundary balances are still the ledger's."""
    from .statement import Statement
    from .statements import StatementDoesNotReconcile, check_statement_arithmetic, document_seal

    item = f"statement {statement.statement_id} of {statement.account_id}"
    doc = statement.doc
    if doc is None:
        return []
    problems = []
    if not statement.seal:
        problems.append(Finding("statement_unsealed", item, "its numbers carry no seal (make rebuild seals them)"))
    elif statement.seal != document_seal(key, doc):
        problems.append(Finding("statement_seal", item, "its stored numbers are not the ones it was built with"))
    columns = (statement.opening_column, statement.closing_column)
    if columns != (doc.get("opening_balance_micros"), doc.get("closing_balance_micros")):
        problems.append(Finding("statement_columns", item, f"the list shows {columns}, the statement other numbers"))
    try:
        # The stored bytes are what is sealed and checked here: read as a Statement only to add up.
        check_statement_arithmetic(Statement.from_json(doc))
    except StatementDoesNotReconcile as exc:
        problems.append(Finding("statement_arithmetic", item, str(exc)))
    first = date.fromisoformat(doc["period"]["from"])
    last = date.fromisoformat(doc["period"]["to"])
    opening = balance_before_day(chain, zone, first)
    if opening != doc.get("opening_balance_micros"):
        detail = f"opening {doc.get('opening_balance_micros')}, ledger {opening}"
        problems.append(Finding("statement_opening", item, detail))
    if not doc["period"].get("in_progress"):
        closing = balance_before_day(chain, zone, last + timedelta(days=1))
        if closing != doc.get("closing_balance_micros"):
            detail = f"closing {doc.get('closing_balance_micros')}, ledger {closing}"
            problems.append(Finding("statement_closing", item, detail))
    return problems
