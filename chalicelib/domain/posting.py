"""A posting: everything one ledger transaction writes, decided before it is written.

The writer plans entries against a balance head (domain/ledger.py), then derives
what the same transaction must also write so that every reading order and counter
agrees with the entries: the Logs pages, the usage rollups, and the posting day of
the balance. The adapter writes a posting atomically or not at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from .balance_days import BalanceDay, movement_of
from .events import UsageEvent, event_to_json
from .ledger import LedgerPage, Plan, pages_of
from .rollups import RollupKey, RollupTotals, rollup_deltas


@dataclass(frozen=True)
class Posting:
    plan: Plan
    currency: str  # of the balance (a new head is created with it)
    pages: tuple[LedgerPage, ...]
    rollups: Mapping[RollupKey, RollupTotals]
    balance_day: BalanceDay | None
    # Where each account's rollups, and the billing account's days, are kept: its agency, or itself.
    scopes: Mapping[str, str]
    event_digests: Mapping[str, str]  # event id -> SHA-256 of the event as charged


def posting_for(
    plan: Plan,
    *,
    currency: str,
    zones: Mapping[str, ZoneInfo],
    billing_zone: ZoneInfo,
    scopes: Mapping[str, str],
    event_digests: Mapping[str, str],
) -> Posting:
    """The posting of `plan`: `zones` and `scopes` name every account of the plan and its billing account."""
    return Posting(
        plan=plan,
        currency=currency,
        pages=tuple(pages_of(plan.entries)),
        rollups=rollup_deltas(plan.entries, dict(zones)),
        balance_day=movement_of(plan, billing_zone),
        scopes=scopes,
        event_digests=event_digests,
    )


def event_digest(event: UsageEvent) -> str:
    """SHA-256 of the event's canonical JSON: equal for a redelivered copy, not for a changed event."""
    return hashlib.sha256(event_to_json(event).encode()).hexdigest()
