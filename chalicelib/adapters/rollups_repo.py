"""Usage rollups and balance days in DynamoDB, kept by agency (see tables/rollups.py).

Writes are update actions the ledger transaction carries (`rollup_actions`,
`balance_day_actions`). Reads never scan and never fan out per account: one
account's buckets are point reads (BatchGetItem, its partition and shard are
known), an agency's are one range query per (partition, shard), all run side by side.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from ..domain.balance_days import BalanceDay
from ..domain.categories import Category
from ..domain.reports import BucketRange, month_end
from ..domain.rollups import DAY, MONTH, RollupKey, RollupTotals
from .concurrency import run_all
from .scoped_keys import bucket_key, scoped_partition, split_bucket_key, stable_shard
from .tables.balance_days import BalanceDayRecord
from .tables.base import bind
from .tables.rollups import CATEGORY_CODES, ROLLUP_SHARDS, RollupRecord

BALANCE_DAY = "B"
_CATEGORY_OF_CODE = {code: Category(name) for name, code in CATEGORY_CODES.items()}
BATCH_GET_KEYS = 100


def _span(period: str, bucket: str) -> str:
    """The partition span of a bucket: its month for a day, its year for a month."""
    return bucket[:7] if period in (DAY, BALANCE_DAY) else bucket[:4]


def rollup_location(scope: str, account_id: str, period: str, bucket: str) -> tuple[str, str]:
    shard = stable_shard(account_id, ROLLUP_SHARDS)
    return scoped_partition(scope, period, _span(period, bucket), shard), bucket_key(bucket, account_id)


# -- writing (inside the ledger transaction) ---------------------------------------------------


def rollup_items(
    deltas: Mapping[RollupKey, RollupTotals], scopes: Mapping[str, str]
) -> list[tuple[tuple[str, str], dict[Category, RollupTotals]]]:
    """The stored items the deltas update, each with its categories' deltas, in key order."""
    items: dict[tuple[str, str], dict[Category, RollupTotals]] = defaultdict(dict)
    for key, totals in deltas.items():
        location = rollup_location(scopes[key.account_id], key.account_id, key.period, key.bucket)
        items[location][key.category] = totals
    return sorted(items.items())


def rollup_actions(totals: Mapping[Category, RollupTotals]) -> list[Any]:
    actions = []
    for category, t in sorted(totals.items()):
        code = CATEGORY_CODES[category.value]
        actions += [
            getattr(RollupRecord, f"{code}_n").add(t.count),
            getattr(RollupRecord, f"{code}_q").add(t.quantity_micros),
            getattr(RollupRecord, f"{code}_a").add(t.amount_micros),
        ]
    return actions


def balance_day_location(scope: str, day: BalanceDay) -> tuple[str, str]:
    return rollup_location(scope, day.billing_account_id, BALANCE_DAY, day.day.isoformat())


def balance_day_actions(day: BalanceDay) -> list[Any]:
    """Add one transaction to its posting day: the first one sets where the day opens."""
    return [
        BalanceDayRecord.entries.add(day.entries),
        BalanceDayRecord.net_micros.add(day.net_micros),
        BalanceDayRecord.first_seq.set(BalanceDayRecord.first_seq | day.first_seq),
        BalanceDayRecord.opening_micros.set(BalanceDayRecord.opening_micros | day.opening_micros),
        BalanceDayRecord.last_seq.set(day.last_seq),
        BalanceDayRecord.closing_micros.set(day.closing_micros),
    ]


# -- reading ---------------------------------------------------------------------------------------


def _totals_of(record: RollupRecord, account_id: str, period: str, bucket: str) -> dict[RollupKey, RollupTotals]:
    found = {}
    for code, category in _CATEGORY_OF_CODE.items():
        count = getattr(record, f"{code}_n")
        if count is None:
            continue
        found[RollupKey(account_id, period, bucket, category)] = RollupTotals(
            int(count), int(getattr(record, f"{code}_q") or 0), int(getattr(record, f"{code}_a") or 0)
        )
    return found


def _day_of(record: BalanceDayRecord) -> BalanceDay:
    bucket, billing_account_id = split_bucket_key(record.bucket_key)
    return BalanceDay(
        billing_account_id=billing_account_id,
        day=date.fromisoformat(bucket),
        entries=int(record.entries),
        net_micros=int(record.net_micros),
        first_seq=int(record.first_seq),
        opening_micros=int(record.opening_micros),
        last_seq=int(record.last_seq),
        closing_micros=int(record.closing_micros),
    )


def buckets_in(r: BucketRange) -> list[str]:
    """Every bucket name of a range: days "YYYY-MM-DD" or months "YYYY-MM"."""
    if r.period == MONTH:
        year, month = int(r.first[:4]), int(r.first[5:7])
        last_year, last_month = int(r.last[:4]), int(r.last[5:7])
        months = []
        while (year, month) <= (last_year, last_month):
            months.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return months
    day, last = date.fromisoformat(r.first), date.fromisoformat(r.last)
    days = []
    while day <= last:
        days.append(day.isoformat())
        day += timedelta(days=1)
    return days


def spans_in(r: BucketRange) -> list[str]:
    """The partition spans a range touches (months of days, years of months), in order."""
    return list(dict.fromkeys(_span(r.period, b) for b in buckets_in(r)))


@dataclass(frozen=True)
class ScopedAccount:
    """An account and the scope its rollups are kept under."""

    account_id: str
    scope: str


class RollupRepository:
    def of_account(self, account: ScopedAccount, ranges: Sequence[BucketRange]) -> dict[RollupKey, RollupTotals]:
        """One account's rollups over bucket ranges: point reads, 100 keys a request."""
        bind()
        wanted: dict[tuple[str, str], tuple[str, str]] = {}
        for r in ranges:
            for bucket in buckets_in(r):
                location = rollup_location(account.scope, account.account_id, r.period, bucket)
                wanted[location] = (r.period, bucket)
        keys = sorted(wanted)
        chunks = [keys[i : i + BATCH_GET_KEYS] for i in range(0, len(keys), BATCH_GET_KEYS)]
        found: dict[RollupKey, RollupTotals] = {}
        for records in run_all([lambda c=c: list(RollupRecord.batch_get(c, consistent_read=True)) for c in chunks]):  # type: ignore[misc]
            for record in records:
                period, bucket = wanted[(record.partition, record.bucket_key)]
                found.update(_totals_of(record, account.account_id, period, bucket))
        return found

    def of_scope(self, scope: str, ranges: Sequence[BucketRange]) -> dict[RollupKey, RollupTotals]:
        """Every account's rollups kept under `scope` (an agency) over bucket ranges:
        one range query per (partition, shard), side by side."""
        found: dict[RollupKey, RollupTotals] = {}
        for part in run_all(self.of_scope_calls(scope, ranges)):
            found.update(part)
        return found

    def of_scope_calls(
        self, scope: str, ranges: Sequence[BucketRange]
    ) -> list[Callable[[], dict[RollupKey, RollupTotals]]]:
        """The queries of `of_scope`, for a caller that runs them beside reads of its own."""
        bind()
        calls: list[Callable[[], dict[RollupKey, RollupTotals]]] = []
        for r in ranges:
            for span in spans_in(r):
                for shard in range(ROLLUP_SHARDS):
                    partition = scoped_partition(scope, r.period, span, shard)
                    calls.append(lambda p=partition, r=r: _query_rollups(p, r))  # type: ignore[misc]
        return calls

    def all_of_scope(self, scope: str, first: date, last: date) -> dict[RollupKey, RollupTotals]:
        """Everything kept under a scope in the months from `first` to `last` (reconcile)."""
        first_month, last_month = first.replace(day=1), month_end(last)
        return self.of_scope(
            scope,
            [
                BucketRange(DAY, first_month.isoformat(), last_month.isoformat()),
                BucketRange(MONTH, f"{first.year:04d}-01", f"{last.year:04d}-12"),
            ],
        )

    def balance_days_of(self, scope: str, billing_account_id: str, days: Iterable[date]) -> list[BalanceDay]:
        """One balance's stored posting days among `days` (point reads)."""
        bind()
        keys = sorted(
            {
                rollup_location(scope, billing_account_id, BALANCE_DAY, d.isoformat())
                for d in days  # a key per day asked for
            }
        )
        chunks = [keys[i : i + BATCH_GET_KEYS] for i in range(0, len(keys), BATCH_GET_KEYS)]
        results = run_all(
            [lambda c=c: list(BalanceDayRecord.batch_get(c, consistent_read=True)) for c in chunks]  # type: ignore[misc]
        )
        return sorted((_day_of(r) for records in results for r in records), key=lambda d: d.day)

    def balance_days_of_scope(self, scope: str, first: date, last: date) -> list[BalanceDay]:
        """Every balance's posting days kept under `scope`, from `first` to `last` inclusive."""
        bind()
        r = BucketRange(BALANCE_DAY, first.isoformat(), last.isoformat())
        partitions = [
            scoped_partition(scope, BALANCE_DAY, span, shard) for span in spans_in(r) for shard in range(ROLLUP_SHARDS)
        ]
        calls = [lambda p=p: _query_days(p, r) for p in partitions]  # type: ignore[misc]
        return sorted((d for part in run_all(calls) for d in part), key=lambda d: (d.billing_account_id, d.day))

    # -- rebuilding (make rebuild): whole values, written again unchanged on a rerun -----------
    def put_rollups(self, scope: str, totals: Mapping[RollupKey, RollupTotals]) -> int:
        """Write every rollup item with the totals given (all of an account's entries); returns items written."""
        bind()
        items: dict[tuple[str, str], dict[Category, RollupTotals]] = defaultdict(dict)
        for key, t in totals.items():
            items[rollup_location(scope, key.account_id, key.period, key.bucket)][key.category] = t
        with RollupRecord.batch_write() as batch:
            for (partition, sort_key), by_category in items.items():
                record = RollupRecord(partition, sort_key)
                for category, t in by_category.items():
                    code = CATEGORY_CODES[category.value]
                    setattr(record, f"{code}_n", t.count)
                    setattr(record, f"{code}_q", t.quantity_micros)
                    setattr(record, f"{code}_a", t.amount_micros)
                batch.save(record)
        return len(items)

    def put_balance_days(self, scope: str, days: Iterable[BalanceDay]) -> None:
        bind()
        with BalanceDayRecord.batch_write() as batch:
            for day in days:
                partition, key = balance_day_location(scope, day)
                batch.save(
                    BalanceDayRecord(
                        partition,
                        key,
                        entries=day.entries,
                        net_micros=day.net_micros,
                        first_seq=day.first_seq,
                        opening_micros=day.opening_micros,
                        last_seq=day.last_seq,
                        closing_micros=day.closing_micros,
                    )
                )


def _range_condition(attribute: Any, r: BucketRange) -> Any:
    # "~" sorts after every account id character: the upper bound takes in the whole last bucket.
    return attribute.between(f"{r.first}#", f"{r.last}#~")


def _query_rollups(partition: str, r: BucketRange) -> dict[RollupKey, RollupTotals]:
    """One partition's rollups in a range. An agency report reads thousands of these items, so
    they are read as raw attribute values (PynamoDB's model objects cost more than the read)."""
    connection = RollupRecord._get_connection()
    condition = _range_condition(RollupRecord.bucket_key, r)
    found: dict[RollupKey, RollupTotals] = {}
    start: dict[str, Any] | None = None
    while True:
        page = connection.query(
            partition, range_key_condition=condition, consistent_read=True, exclusive_start_key=start
        )
        for item in page.get("Items", ()):
            bucket, account_id = split_bucket_key(item["bucket_key"]["S"])
            for code, category in _CATEGORY_OF_CODE.items():
                count = item.get(f"{code}_n")
                if count is not None:
                    found[RollupKey(account_id, r.period, bucket, category)] = RollupTotals(
                        int(count["N"]),
                        int(item[f"{code}_q"]["N"]) if f"{code}_q" in item else 0,
                        int(item[f"{code}_a"]["N"]) if f"{code}_a" in item else 0,
                    )
        start = page.get("LastEvaluatedKey")
        if not start:
            return found


def _query_days(partition: str, r: BucketRange) -> list[BalanceDay]:
    return [
        _day_of(record)
        for record in BalanceDayRecord.query(
            partition, range_key_condition=_range_condition(BalanceDayRecord.bucket_key, r), consistent_read=True
        )
    ]
