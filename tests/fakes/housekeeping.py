"""In-memory reconcile checkpoints and rate-limit counters (the housekeeping ports).

`FakeCheckpoints` is `CheckpointStore` (adapters/checkpoints_repo.py): a whole-item save per
balance and one "rolling" place; what it reads back is what the table hands back (a seal saved
empty reads as "", numbers missing read as 0). `FakeRateLimits` is `RateLimitStore`
(adapters/rate_limits_repo.py): one counter per key, counted and refused in one step under the
table's condition (`hits` missing or below the maximum), nothing counted when refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from chalicelib.adapters.rate_limits_repo import EXPIRY_GRACE_SECONDS
from chalicelib.domain.ledger_check import ChainPoint


@dataclass(frozen=True)
class SavedBalance:
    """One "balance#<id>" item as the table holds it."""

    seq: int
    seal: str | None
    balance_micros: int
    row_key: str | None
    checked_at: datetime


@dataclass
class FakeCheckpoints:
    saved: dict[str, SavedBalance] = field(default_factory=dict)
    rolling: tuple[str | None, datetime] | None = None  # (after, checked_at) once saved

    def balances(self) -> dict[str, tuple[ChainPoint, str | None]]:
        return {
            account_id: (ChainPoint(s.seq, s.balance_micros, s.seal or ""), s.row_key)
            for account_id, s in self.saved.items()
        }

    def save_balance(self, billing_account_id: str, point: ChainPoint, row_key: str | None, now: datetime) -> None:
        # A save replaces the whole item, like the adapter's PutItem.
        self.saved[billing_account_id] = SavedBalance(point.seq, point.seal or None, point.balance_micros, row_key, now)

    def rolling_after(self) -> str | None:
        return self.rolling[0] if self.rolling is not None else None

    def save_rolling(self, after: str | None, now: datetime) -> None:
        self.rolling = (after, now)


@dataclass(frozen=True)
class Counter:
    hits: int
    expires_at: int


@dataclass
class FakeRateLimits:
    counters: dict[str, Counter] = field(default_factory=dict)

    def hit(self, key: str, max_requests: int, window_end: int) -> bool:
        counter = self.counters.get(key)
        # The table's condition: `hits` does not exist, or is below the maximum.
        if counter is not None and counter.hits >= max_requests:
            return False
        hits = counter.hits if counter is not None else 0
        self.counters[key] = Counter(hits + 1, window_end + EXPIRY_GRACE_SECONDS)
        return True
