"""Usage rollups: per account and category, by the account's local day and month.

Rollups are written in the ledger transaction (ADD, so order does not matter),
which is why they can never disagree with the entries they count. Buckets use the
local date of `occurred_at` in the account's time zone: a late event lands on the
day it happened, not the day it was posted. One stored item holds every category
of an (account, period, bucket); `RollupKey.item` names it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from .categories import Category
from .ledger import LedgerEntry
from .money import MICROS_PER_UNIT

DAY = "D"
MONTH = "M"


@dataclass(frozen=True, order=True)
class RollupKey:
    account_id: str
    period: str  # DAY or MONTH
    bucket: str  # "2026-11-26" or "2026-11"
    category: Category

    @property
    def sort_key(self) -> str:
        return f"{self.period}#{self.bucket}#{self.category.value}"

    @property
    def item(self) -> tuple[str, str, str]:
        """The stored counter item this key is part of: every category of one account-bucket."""
        return (self.account_id, self.period, self.bucket)


@dataclass
class RollupTotals:
    count: int = 0
    quantity_micros: int = 0
    amount_micros: int = 0

    def add(self, other: RollupTotals) -> None:
        self.count += other.count
        self.quantity_micros += other.quantity_micros
        self.amount_micros += other.amount_micros


def day_bucket(day: date) -> str:
    return day.isoformat()


def month_bucket(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def keys_for(account_id: str, category: Category, local_day: date) -> tuple[RollupKey, RollupKey]:
    return (
        RollupKey(account_id, DAY, day_bucket(local_day), category),
        RollupKey(account_id, MONTH, month_bucket(local_day), category),
    )


def quantity_micros(entry: LedgerEntry) -> int:
    return int(entry.quantity * MICROS_PER_UNIT)


def entry_keys(entry: LedgerEntry, zone: ZoneInfo) -> tuple[RollupKey, RollupKey]:
    return keys_for(entry.account_id, entry.category, entry.occurred_at.astimezone(zone).date())


def rollup_deltas(entries: Iterable[LedgerEntry], zone_of: dict[str, ZoneInfo]) -> dict[RollupKey, RollupTotals]:
    """What the entries add to each rollup they touch (merged per key)."""
    deltas: dict[RollupKey, RollupTotals] = {}
    for entry in entries:
        one = RollupTotals(1, quantity_micros(entry), entry.amount_micros)
        for key in entry_keys(entry, zone_of[entry.account_id]):
            deltas.setdefault(key, RollupTotals()).add(one)
    return deltas
