"""GET /agencies/{id}/attention: the agency's accounts whose balance needs a person now.

An account on its own billing (and the agency itself) may be past due, have its
auto-recharge paused, or have had its card declined: the dashboard marks them. One
query of the agency's accounts and the balance heads of those with a balance of their
own, read side by side: a bounded number of requests for any number of clients.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..adapters.concurrency import run_all
from ..domain.access import Action, Principal
from ..domain.attention import attention_of
from ..domain.ledger import BalanceState
from ..domain.money import format_micros
from .access import require
from .stores import stores

HEADS_PER_READ = 100


def agency_attention(principal: Principal, agency_id: str) -> dict[str, Any]:
    agency = require(principal, Action.READ_AGENCY, agency_id)
    accounts = [agency, *(a for a in stores().accounts.sub_accounts(agency.account_id) if a.account_id != agency_id)]
    payers = sorted({a.account_id for a in accounts if a.billing_account_id == a.account_id})
    heads = _heads(payers)
    items = []
    counts: Counter[str] = Counter()
    for account in accounts:
        head = heads.get(account.account_id)
        if head is None:
            continue
        notices = attention_of(head.balance_micros, head.billing)
        if not notices:
            continue
        counts.update(n.kind.value for n in notices)
        items.append(
            {
                "account_id": account.account_id,
                "account_name": account.name,
                "kind": account.kind.value,
                "billing": account.billing.value,
                "balance": format_micros(head.balance_micros),
                "currency": account.currency,
                "notices": [{"kind": n.kind.value, "message": n.message, "action": n.action} for n in notices],
            }
        )
    return {
        "agency_id": agency.account_id,
        "items": items,
        "counts": dict(sorted(counts.items())),
        "accounts_checked": len(payers),
    }


def _heads(billing_ids: list[str]) -> dict[str, BalanceState]:
    ledger = stores().ledger
    chunks = [billing_ids[i : i + HEADS_PER_READ] for i in range(0, len(billing_ids), HEADS_PER_READ)]
    found: dict[str, BalanceState] = {}
    for part in run_all([lambda c=c: ledger.balances(c) for c in chunks]):  # type: ignore[misc]
        found.update({k: v for k, v in part.items() if v.exists})
    return found
