"""`make reconcile`: prove every invariant of the ledger, and name each corruption it finds.

A full pass, reading every table once (scans: an operations job, never a request):
the accounts (so a balance whose head is missing is found too), the entries, the
balance heads, the payments and the statements; per billing account the Logs pages,
and per agency (or account of no agency) its rollups and posting days. Checked
(domain/ledger_check.py): the chain (sequence, running balance, head) and every entry's
seal; each charge's price; the Logs pages list exactly the stored entries; the posting
days and the rollups equal what the entries add up to, and an agency's Logs index lists
every page of its accounts; every succeeded payment has exactly one credit of its
amount and every card credit its payment; every stored statement still holds the
numbers it was sealed with, shows them in its list columns, adds up and agrees with
the ledger's boundary balances; nothing stored belongs to no account.

A plain function (`reconcile_all`), run by `make reconcile` (which exits non-zero on
any finding) and by the scheduled job of the deployed stack.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta

from ..domain.accounts import Account
from ..domain.ledger import BalanceState, LedgerEntry
from ..domain.ledger_check import (
    Finding,
    PaymentFacts,
    ReconcileReport,
    StatementFacts,
    check_balance_days,
    check_chain,
    check_listed_entries,
    check_payment_credits,
    check_prices,
    check_rollups,
    check_statement,
)
from ..domain.money import format_micros
from ..domain.payments import Payment, PaymentStatus
from .stores import stores


class Ledger:
    """Everything the checks read, read once: by scanning every table (`scanned`, make reconcile's
    full pass), or for a few billing accounts by key (`for_billing`, the scheduled rolling pass)."""

    def __init__(self, accounts: dict[str, Account], only: set[str] | None) -> None:
        self.accounts = accounts
        self.only = only  # the accounts judged (None: all); others are read, not judged
        self.entries: dict[str, list[LedgerEntry]] = defaultdict(list)  # billing account -> chain
        self.heads: dict[str, BalanceState] = {}
        self.payments: dict[str, list[PaymentFacts]] = defaultdict(list)
        self.statements: dict[str, list[StatementFacts]] = defaultdict(list)

    @classmethod
    def scanned(cls, accounts: Iterable[Account] | None = None) -> Ledger:
        every = {a.account_id: a for a in stores().accounts.all_accounts()}
        ledger = cls(every, None if accounts is None else {a.account_id for a in accounts})
        repo = stores().ledger
        for entry, _page in repo.scan_entries():
            ledger.entries[entry.billing_account_id].append(entry)
        ledger.heads = {h.billing_account_id: h for h in repo.all_heads()}
        ledger._add_payments(stores().payments.all_payments())
        for s in stores().statements.all_built():
            ledger.statements[s.account_id].append(s)
        ledger._sort()
        return ledger

    @classmethod
    def for_billing(cls, billing_ids: Sequence[str]) -> Ledger:
        accounts_repo, repo, payments = stores().accounts, stores().ledger, stores().payments
        accounts = accounts_repo.get_many(billing_ids)
        # A scope is judged whole (its rollups against every member's entries): an agency's
        # client, own-billing or shared, brings in its agency and every other client.
        agencies = sorted({a.agency_scope for a in accounts.values() if a.agency_scope})
        unread = [a for a in agencies if a not in accounts]
        if unread:
            accounts.update(accounts_repo.get_many(unread))
        for agency_id in agencies:
            accounts.update({s.account_id: s for s in accounts_repo.sub_accounts(agency_id)})
        # An agency's scope holds its own-billing sub-accounts' rollups too: their chains are read as well.
        billing_ids = sorted({a.billing_account_id for a in accounts.values()} | set(billing_ids))
        ledger = cls(accounts, set(accounts))
        for billing_id in billing_ids:
            listed = list(repo.chain(billing_id))
            ledger.entries[billing_id] = list(repo.entries(e.event_id for e in listed).values())
            ledger._add_payments(payments.of_billing(billing_id))
            ledger.statements[billing_id] = stores().statements.built_of(billing_id)
        ledger.heads = {b: h for b, h in repo.balances(list(billing_ids), consistent=True).items() if h.exists}
        ledger._sort()
        return ledger

    def _add_payments(self, payments: Iterable[Payment]) -> None:
        for p in payments:
            succeeded = p.status in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED)
            self.payments[p.billing_account_id].append(
                PaymentFacts(p.payment_id, p.billing_account_id, succeeded, p.amount_micros)
            )

    def _sort(self) -> None:
        for chain in self.entries.values():
            chain.sort(key=lambda e: e.seq)

    def billing_ids(self) -> list[str]:
        own = {a.account_id for a in self.accounts.values() if a.billing_account_id == a.account_id}
        every = own | set(self.entries) | set(self.heads) | set(self.payments)
        return sorted(every if self.only is None else every & self.only)

    def scopes(self) -> dict[str, list[Account]]:
        scopes: dict[str, list[Account]] = defaultdict(list)
        for account in self.accounts.values():
            scopes[account.agency_scope or account.account_id].append(account)
        if self.only is not None:
            wanted = {self.accounts[a].agency_scope or a for a in self.only if a in self.accounts}
            scopes = defaultdict(list, {s: m for s, m in scopes.items() if s in wanted})
        return scopes


def reconcile_account(billing_id: str, ledger: Ledger) -> ReconcileReport:
    """Every invariant of one billing account."""
    key = stores().secrets.ledger_key()
    chain = ledger.entries.get(billing_id, [])
    head = ledger.heads.get(billing_id) or BalanceState(billing_id, 0, 0, None, exists=False)
    report = check_chain(head, chain, key)
    billing = ledger.accounts.get(billing_id)
    item = f"balance {billing_id}"
    if billing is None:
        if chain or head.exists or ledger.payments.get(billing_id):
            report.problems.append(Finding("orphan", item, "entries, a head or payments of no account"))
        return report
    if billing.billing_account_id != billing_id:
        report.problems.append(Finding("orphan", item, f"{billing_id} bills to {billing.billing_account_id} now"))
    report.problems += check_prices(chain)
    report.problems += check_listed_entries(stores().ledger.chain(billing_id), {e.event_id: e for e in chain})
    report.problems += check_payment_credits(ledger.payments.get(billing_id, []), chain)
    for statement in ledger.statements.get(billing_id, []):
        report.problems += check_statement(statement, key, chain, billing.zone)
    scope = billing.agency_scope or billing_id
    first = chain[0].posted_at.astimezone(billing.zone).date() if chain else stores().clock().date()
    stored = [
        d
        for d in stores().rollups.balance_days_of_scope(scope, first - timedelta(days=1), _today() + timedelta(days=2))
        if d.billing_account_id == billing_id
    ]
    report.problems += check_balance_days(billing_id, billing.zone, chain, stored)
    return report


def _today() -> date:
    return stores().clock().date()


def reconcile_scope(scope: str, members: Sequence[Account], ledger: Ledger) -> list[Finding]:
    """The rollups of every account kept under `scope` equal the sums of its entries; an agency's
    Logs index lists every page of its accounts; nothing is kept there for another account."""
    by_account: dict[str, list[LedgerEntry]] = defaultdict(list)
    for chain in ledger.entries.values():
        for entry in chain:
            by_account[entry.account_id].append(entry)
    days = [e.occurred_at.astimezone(a.zone).date() for a in members for e in by_account.get(a.account_id, [])]
    first, last = (min(days), max(days)) if days else (_today(), _today())
    stored = stores().rollups.all_of_scope(scope, first - timedelta(days=1), max(last, _today()) + timedelta(days=1))
    stored_of: dict[str, dict] = defaultdict(dict)  # type: ignore[type-arg]
    for rollup_key, totals in stored.items():
        stored_of[rollup_key.account_id][rollup_key] = totals
    problems: list[Finding] = []
    for account in members:
        problems += check_rollups(
            account.account_id, account.zone, by_account.get(account.account_id, []), stored_of[account.account_id]
        )
    for stray in sorted(set(stored_of) - {a.account_id for a in members}):
        problems.append(Finding("rollup_stray", f"rollups of {stray}", f"kept under {scope}, which it is not in"))
    agency = ledger.accounts.get(scope)
    if agency is not None and agency.agency_scope == scope:
        repo = stores().ledger
        listed = repo.page_keys("agency", scope)
        agency_of = {
            (e.account_id, e.billing_account_id, e.seq): e.agency_id for a in members for e in by_account[a.account_id]
        }
        for account in members:
            for page in repo.page_keys("account", account.account_id):
                if agency_of.get(page) == scope and page not in listed:
                    item = f"Logs page of {page[0]} from seq {page[2]} of {page[1]}"
                    problems.append(Finding("listing_agency", item, f"missing from {scope}'s agency Logs"))
    return problems


def reconcile_all(
    accounts: Iterable[Account] | None = None, recheck_after: float = 2.0, sleep: Callable[[float], None] = time.sleep
) -> list[ReconcileReport]:
    """Every billing account and scope; a pass with findings is made once more after a moment
    (a write may land between the reads of one pass) and its findings are the answer."""
    given = list(accounts) if accounts is not None else None
    reports = _pass(given)
    if any(not r.ok for r in reports) and recheck_after > 0:
        sleep(recheck_after)
        reports = _pass(given)
    return reports


def _pass(accounts: list[Account] | None) -> list[ReconcileReport]:
    return judge(Ledger.scanned(accounts))


def judge(ledger: Ledger) -> list[ReconcileReport]:
    """Every check, on what `ledger` read."""
    reports = [reconcile_account(b, ledger) for b in ledger.billing_ids()]
    for scope, members in sorted(ledger.scopes().items()):
        problems = reconcile_scope(scope, members, ledger)
        if problems:
            reports.append(ReconcileReport(f"rollups under {scope}", problems=problems))
    return reports


def findings(reports: Iterable[ReconcileReport]) -> list[Finding]:
    return [p for r in reports for p in r.problems]


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
    kinds = sorted({p.kind for p in findings(reports)})
    out.write(
        f"{len(reports)} checked, {sum(r.entries for r in reports)} entries, {len(drifted)} with drift"
        + (f" ({', '.join(kinds)})" if kinds else "")
        + "\n"
    )
    return 1 if drifted else 0


if __name__ == "__main__":
    raise SystemExit(main())
