"""The scheduled reconcile of the deployed stack: what was posted since the last run, and a slice
of the whole, every run; never a scan of the ledger.

Each run:

1. **Incremental**: every balance head (one item per balance: the balances table, not
   the ledger) is compared with its checkpoint; a balance that moved has its entries
   since the checkpoint read from its Logs pages (a query per shard from the
   checkpoint's row key: the cost is what was posted since) and checked against the
   checkpoint as `make reconcile` checks a whole chain: sequence, running balance,
   seals chained from the checkpoint's seal, the head, each listed entry against the
   stored one, each price. A balance that checks out moves its checkpoint on; one
   that does not keeps it, so the finding is reported again until it is mended.
2. **Rolling full pass**: the next ROLLING_SLICE balances (by id, wrapping around) are
   checked in full, with everything derived from them (rollups and posting days of
   their scope, payments, statements), read by key. Every balance is checked in full
   every (balances / ROLLING_SLICE) runs.

Findings are logged one by one and counted in the `ReconcileDrift` metric, which an
alarm watches; `ReconcileEntriesChecked` says how much each run read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ..adapters.ledger_repo import entry_row_key
from ..domain.accounts import AccountKind
from ..domain.ledger_check import ChainPoint, Finding, check_chain, check_listed_entries, check_prices
from .reconcile import Ledger, judge
from .stores import stores

ROLLING_SLICE = 20


@dataclass
class JobReport:
    balances: int = 0
    balances_moved: int = 0
    entries_checked: int = 0
    rolling: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "balances": self.balances,
            "balances_moved": self.balances_moved,
            "entries_checked": self.entries_checked,
            "rolling_checked": len(self.rolling),
            "drift": len(self.findings),
            "findings": [str(f) for f in self.findings[:50]],
        }


def _at(marks: dict[str, tuple[ChainPoint, str | None]], billing_account_id: str) -> tuple[int, int, str]:
    point = marks.get(billing_account_id, (ChainPoint(), None))[0]
    return (point.seq, point.balance_micros, point.seal)


def run_scheduled(
    clock: Callable[[], datetime] = lambda: stores().clock(), slice_size: int = ROLLING_SLICE
) -> JobReport:
    key = stores().secrets.ledger_key()
    ledger, checkpoints = stores().ledger, stores().checkpoints
    report = JobReport()
    heads = sorted(ledger.all_heads(), key=lambda h: h.billing_account_id)
    marks = checkpoints.balances()
    report.balances = len(heads)
    now = clock()
    moved = [h for h in heads if (h.seq, h.balance_micros, h.seal) != _at(marks, h.billing_account_id)]
    # Only an agency's balance is drawn by other accounts (its shared sub-accounts' pages).
    kinds = stores().accounts.get_many(h.billing_account_id for h in moved)
    for head in moved:
        point, row_key = marks.get(head.billing_account_id, (ChainPoint(), None))
        report.balances_moved += 1
        account = kinds.get(head.billing_account_id)
        is_agency = account is None or account.kind is AccountKind.AGENCY
        listed = [e for e in ledger.chain_after(head.billing_account_id, row_key, is_agency) if e.seq > point.seq]
        stored = ledger.entries(e.event_id for e in listed)
        report.entries_checked += len(listed)
        chain = sorted(stored.values(), key=lambda e: e.seq)
        problems = check_chain(head, chain, key, after=point).problems
        problems += check_listed_entries(listed, stored)
        problems += check_prices(chain)
        report.findings += problems
        if not problems and chain:
            last = chain[-1]
            checkpoints.save_balance(
                head.billing_account_id,
                ChainPoint(last.seq, last.balance_after_micros, last.seal),
                entry_row_key(last),
                now,
            )
    # The rolling full pass: the next slice of balances, by id, wrapping around.
    ids = [h.billing_account_id for h in heads]
    after = checkpoints.rolling_after()
    start = next((i for i, b in enumerate(ids) if after is None or b > after), 0)
    report.rolling = (ids[start:] + ids[:start])[: min(slice_size, len(ids))]
    if report.rolling:
        full = Ledger.for_billing(report.rolling)
        report.entries_checked += sum(len(full.entries.get(b, [])) for b in report.rolling)
        report.findings += [p for r in judge(full) for p in r.problems]
        checkpoints.save_rolling(report.rolling[-1], now)
    return report
