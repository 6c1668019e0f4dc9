"""`make reconcile`: recompute every balance from its entries and report any drift.

A plain function (`reconcile_all`) so a schedule can call it later; run as a
module it prints a summary and exits non-zero on any drift.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable

from ..adapters.accounts_repo import AccountRepository
from ..adapters.ledger_repo import LedgerRepository
from ..adapters.rollups_repo import RollupRepository
from ..domain.accounts import Account
from ..domain.money import format_micros
from ..domain.reconcile import ReconcileReport, check_chain, check_rollups


def reconcile_account(
    billing_account_id: str,
    ledger: LedgerRepository | None = None,
    recheck_after: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> ReconcileReport:
    """Check one billing account; a drift is confirmed by a second look.

    Entries are read through a global secondary index, which in AWS trails the
    table by a moment; a chain that is only behind the balance head is rechecked
    before it is reported.
    """
    ledger = ledger or LedgerRepository()
    report = check_chain(ledger.balance(billing_account_id), ledger.chain(billing_account_id))
    if not report.ok and recheck_after > 0:
        sleep(recheck_after)
        report = check_chain(ledger.balance(billing_account_id), ledger.chain(billing_account_id))
    return report


def reconcile_all(billing_account_ids: Iterable[str] | None = None) -> list[ReconcileReport]:
    ledger = LedgerRepository()
    ids = billing_account_ids if billing_account_ids is not None else ledger.all_billing_account_ids()
    return [reconcile_account(b, ledger) for b in ids]


def reconcile_rollups(
    account: Account, recheck_after: float = 2.0, sleep: Callable[[float], None] = time.sleep
) -> list[str]:
    """Invariant 4 for one account: its rollups equal the sums of its entries."""
    ledger, rollups = LedgerRepository(), RollupRepository()
    problems = check_rollups(
        account.account_id,
        account.zone,
        ledger.entries_of_account(account.account_id),
        rollups.all_of(account.account_id),
    )
    if problems and recheck_after > 0:
        sleep(recheck_after)
        problems = check_rollups(
            account.account_id,
            account.zone,
            ledger.entries_of_account(account.account_id),
            rollups.all_of(account.account_id),
        )
    return problems


def main() -> int:
    reports = reconcile_all()
    for account in AccountRepository().all_accounts():
        problems = reconcile_rollups(account)
        if problems:
            reports.append(ReconcileReport(f"rollups of {account.account_id}", problems=problems))
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
