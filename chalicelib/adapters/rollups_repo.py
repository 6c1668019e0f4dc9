"""Usage rollups in DynamoDB: read by account and bucket range, never scanned."""

from __future__ import annotations

from ..domain.categories import Category
from ..domain.rollups import RollupKey, RollupTotals
from .tables.base import bind
from .tables.rollups import RollupRecord


def _key(account_id: str, sort_key: str) -> RollupKey:
    period, bucket, category = sort_key.split("#", 2)
    return RollupKey(account_id, period, bucket, Category(category))


def _totals(record: RollupRecord) -> RollupTotals:
    return RollupTotals(int(record.entry_count), int(record.quantity_micros), int(record.amount_micros))


class RollupRepository:
    def range(self, account_id: str, period: str, first_bucket: str, last_bucket: str) -> dict[RollupKey, RollupTotals]:
        """Rollups of one account whose bucket lies in [first_bucket, last_bucket] (inclusive)."""
        bind()
        # "~" sorts after every category name, so the upper bound takes in the whole last bucket.
        condition = RollupRecord.bucket_key.between(f"{period}#{first_bucket}#", f"{period}#{last_bucket}#~")
        return {
            _key(account_id, r.bucket_key): _totals(r)
            for r in RollupRecord.query(account_id, range_key_condition=condition, consistent_read=True)
        }

    def all_of(self, account_id: str) -> dict[RollupKey, RollupTotals]:
        bind()
        return {
            _key(account_id, r.bucket_key): _totals(r) for r in RollupRecord.query(account_id, consistent_read=True)
        }
