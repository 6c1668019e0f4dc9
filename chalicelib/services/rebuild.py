"""`make rebuild`: derive every reading order and counter from the ledger entries, idempotently.

The entries (`ledger_entries`) are the ledger; the Logs pages, the rollups and the
posting days are derived from them in the transaction that writes them. Data written
before those existed (or a table lost) is brought back here: every entry is read
once (a scan: an operations tool, never a request), and every page, rollup and
posting day is written with exactly the values the entries give. Running it again
writes the same items again, so it is safe to repeat, and a ledger whose derived
items are already right is left as it is (values equal).

Entries (and statements' numbers) written before seals were kept are sealed here, once:
a seal already there is never recomputed, so rebuilding cannot hide an edit made since.
`make run` runs it by itself when it finds entries but no pages (a local ledger from
before pages existed).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from ..domain.accounts import Account
from ..domain.ledger import LedgerEntry, LedgerPage, seal_of
from ..domain.ledger_check import expected_balance_days
from ..domain.rollups import rollup_deltas
from .ports import LedgerStore
from .stores import stores


@dataclass
class RebuildSummary:
    entries: int = 0
    pages: int = 0
    rollup_items: int = 0
    balance_days: int = 0
    skipped_entries: int = 0  # entries of an account that no longer exists
    entries_sealed: int = 0  # entries written before seals were kept, sealed now
    statements_sealed: int = 0


def pages_from(chain: Sequence[LedgerEntry], page_seq: dict[str, int | None]) -> list[LedgerPage]:
    """The pages of one balance's chain (in sequence order): as the writer listed them when it
    recorded where (`page_seq`), else runs of one account posted together."""
    pages: list[LedgerPage] = []
    run: list[LedgerEntry] = []

    def close() -> None:
        if run:
            first = run[0]
            pages.append(
                LedgerPage(first.account_id, first.agency_id, first.billing_account_id, first.posted_at, tuple(run))
            )

    for entry in chain:
        if run:
            previous = run[-1]
            known = page_seq.get(entry.event_id), page_seq.get(previous.event_id)
            if known[0] is not None and known[1] is not None:
                same = known[0] == known[1]
            else:
                same = (
                    entry.account_id == previous.account_id
                    and entry.posted_at == previous.posted_at
                    and entry.seq == previous.seq + 1
                )
            if not same:
                close()
                run = []
        run.append(entry)
    close()
    return pages


def _sealed(
    ledger: LedgerStore, billing_id: str, chain: list[LedgerEntry], key: bytes, summary: RebuildSummary
) -> list[LedgerEntry]:
    """The chain with a seal on every entry: entries written before seals were kept are sealed now,
    chained to the seals before them (a sealed entry keeps its seal: it is never recomputed)."""
    previous = ""
    sealed: list[LedgerEntry] = []
    new: dict[str, str] = {}
    for entry in chain:
        if not entry.seal:
            entry = replace(entry, seal=seal_of(key, previous, entry))
            new[entry.event_id] = entry.seal
        sealed.append(entry)
        previous = entry.seal
    if new:
        ledger.seal_entries(billing_id, new, previous)
        summary.entries_sealed += len(new)
    return sealed


def rebuild(accounts: Iterable[Account] | None = None, verbose: bool = True) -> RebuildSummary:
    ledger, rollups = stores().ledger, stores().rollups
    known = {a.account_id: a for a in (accounts if accounts is not None else stores().accounts.all_accounts())}
    summary = RebuildSummary()
    chains: dict[str, list[LedgerEntry]] = defaultdict(list)
    page_seq: dict[str, int | None] = {}
    for entry, listed_on in ledger.scan_entries():
        summary.entries += 1
        if entry.account_id not in known or entry.billing_account_id not in known:
            summary.skipped_entries += 1
            continue
        chains[entry.billing_account_id].append(entry)
        page_seq[entry.event_id] = listed_on
    by_account: dict[str, list[LedgerEntry]] = defaultdict(list)
    key = stores().secrets.ledger_key()
    for billing_id, chain in chains.items():
        chain.sort(key=lambda e: e.seq)
        chain[:] = _sealed(ledger, billing_id, chain, key, summary)
        pages = pages_from(chain, page_seq)
        ledger.put_pages(pages)
        summary.pages += len(pages)
        billing = known[billing_id]
        days = expected_balance_days(billing_id, billing.zone, chain)
        rollups.put_balance_days(billing.agency_scope or billing_id, days)
        summary.balance_days += len(days)
        for entry in chain:
            by_account[entry.account_id].append(entry)
    for account_id, entries in by_account.items():
        account = known[account_id]
        totals = rollup_deltas(entries, {account_id: account.zone})
        summary.rollup_items += rollups.put_rollups(account.agency_scope or account_id, totals)
    statements = stores().statements
    for statement in statements.all_built():
        if statement.doc is not None and not statement.seal:
            statements.seal_numbers(statement.statement_id, statement.doc)
            summary.statements_sealed += 1
    if verbose:
        skipped = summary.skipped_entries
        sys.stdout.write(
            f"rebuild: {summary.entries} entries -> {summary.pages} Logs pages, {summary.rollup_items} rollup "
            f"items, {summary.balance_days} posting days"
            + (f"; sealed {summary.entries_sealed} entries" if summary.entries_sealed else "")
            + (f" and {summary.statements_sealed} statements" if summary.statements_sealed else "")
            + (f"; {skipped} entries of accounts that no longer exist left out" if skipped else "")
            + "\n"
        )
    return summary


def needed() -> bool:
    """Entries without pages: a ledger from before pages existed."""
    ledger = stores().ledger
    return ledger.any_entry() and not ledger.any_page()


def main() -> int:
    rebuild()
    return 0


if __name__ == "__main__":
    sys.exit(main())
