"""`make reconcile`: recompute every balance, counter and reading order from the ledger.

For every billing account (enumerated from the accounts table, so a missing
balance head is found too): the chain read from its Logs pages (sequence, running
balance, head), each listed entry against its stored entry, and its posting days.
For every agency (or account of no agency): the rollups of each of its accounts
against the sums of their entries. A plain function (`reconcile_all`) so a
schedule can call it; run as a module it prints a summary and exits non-zero on
any drift.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

from ..adapters.accounts_repo import AccountRepository
from ..adapters.ledger_repo import LedgerRepository
from ..adapters.rollups_repo import RollupRepository
from ..domain.accounts import Account
from ..domain.money import format_micros
from ..domain.reconcile import (
    ReconcileReport,
    check_balance_days,
    check_chain,
    check_listed_entries,
    check_rollups,
)


def reconcile_account(
    billing: Account,
    ledger: LedgerRepository | None = None,
    recheck_after: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> ReconcileReport:
    """Check one billing account; a drift is confirmed by a second look (a write may have
    landed between the reads of the head and of the pages)."""
    ledger = ledger or LedgerRepository()
    report = _check_billing(billing, ledger)
    if not report.ok and recheck_after > 0:
        sleep(recheck_after)
        report = _check_billing(billing, ledger)
    return report


def _check_billing(billing: Account, ledger: LedgerRepository) -> ReconcileReport:
    head = ledger.balance(billing.account_id)
    chain = list(ledger.chain(billing.account_id))
    report = check_chain(head, chain)
    report.problems += check_listed_entries(chain, ledger.entries(e.event_id for e in chain))
    if chain:
        scope = billing.agency_scope or billing.account_id
        first = chain[0].posted_at.astimezone(billing.zone).date()
        last = chain[-1].posted_at.astimezone(billing.zone).date()
        stored = [
            d
            for d in RollupRepository().balance_days_of_scope(
                scope, first - timedelta(days=1), last + timedelta(days=1)
            )
            if d.billing_account_id == billing.account_id
        ]
        report.problems += check_balance_days(billing.account_id, billing.zone, chain, stored)
    return report


def reconcile_rollups(
    scope: str,
    members: Sequence[Account],
    recheck_after: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Invariant 4 for every account kept under `scope`: its rollups equal the sums of its entries."""
    problems = _check_rollups(scope, members)
    if problems and recheck_after > 0:
        sleep(recheck_after)
        problems = _check_rollups(scope, members)
    return problems


def _check_rollups(scope: str, members: Sequence[Account]) -> list[str]:
    ledger = LedgerRepository()
    entries = {a.account_id: list(ledger.entries_of_account(a.account_id)) for a in members}
    days = [e.occurred_at.astimezone(a.zone).date() for a in members for e in entries[a.account_id]]
    today = datetime.now(UTC).date()
    first, last = (min(days), max(days)) if days else (today, today)
    stored = RollupRepository().all_of_scope(scope, first - timedelta(days=1), max(last, today) + timedelta(days=1))
    stored_of: dict[str, dict] = defaultdict(dict)  # type: ignore[type-arg]
    for key, totals in stored.items():
        stored_of[key.account_id][key] = totals
    problems = []
    known = {a.account_id for a in members}
    for account in members:
        problems += check_rollups(
            account.account_id, account.zone, entries[account.account_id], stored_of[account.account_id]
        )
    for stray in sorted(set(stored_of) - known):
        problems.append(f"rollups of {stray} are kept under {scope}, which it does not belong to")
    return problems


def _scopes(accounts: Iterable[Account]) -> dict[str, list[Account]]:
    scopes: dict[str, list[Account]] = defaultdict(list)
    for account in accounts:
        scopes[account.agency_scope or account.account_id].append(account)
    return scopes


def reconcile_all(accounts: Iterable[Account] | None = None) -> list[ReconcileReport]:
    everyone = list(accounts if accounts is not None else AccountRepository().all_accounts())
    ledger = LedgerRepository()
    reports = [reconcile_account(a, ledger) for a in everyone if a.billing_account_id == a.account_id]
    for scope, members in sorted(_scopes(everyone).items()):
        problems = reconcile_rollups(scope, members)
        if problems:
            reports.append(ReconcileReport(f"rollups under {scope}", problems=problems))
    return reports


def main() -> int:
    reports = reconcile_all()
    drifted = [r for r in reports if not r.ok]
    out = sys.stdout
    out.write(f"{'billing account':<32} {'entries':>8} {'balance':>16} {'recomputed':>16}  status\n")
    for r in reports:
        status = "ok" if r.ok else "DRIFT"
        out.write(
            f"{r.billing_account_id:<32} {r.entries:>8} {format_micros(r.balance_micros):>16} "
            f"{format_micros(r.recomputed_micros):>16}  {status}\n"
        )
        for problem in r.problems[:20]:
            out.write(f"    - {problem}\n")
    out.write(
        f"{len(reports)} billing accounts, {sum(r.entries for r in reports)} entries, {len(drifted)} with drift\n"
    )
    return 1 if drifted else 0


if __name__ == "__main__":
    raise SystemExit(main())
