"""Table `ledger_pages`: the ledger in reading order, one item per (account, transaction).

A page lists the consecutive entries one transaction posted for one account (rows
in sequence order, as compact JSON: see `ledger_repo`), so reading fifty rows of
Logs costs a handful of items, and writing a transaction's entries costs one item
per account it touched, not one index write per entry.

Keys are write-sharded so that no partition takes a hot balance's whole traffic:

- `log_key` = "<account id>#<shard>": an account's Logs (all shards, merged);
- `row_key` = "<posted_at>#<billing account id>#<first seq, 12 digits>": sorts pages
  by posting time, then balance, then sequence; pages never overlap, so merging
  shards page by page gives the exact order of their rows;
- `agency_log_key` = "<agency id>#<shard>", only on pages of an agency's accounts:
  the sparse index `by_agency_log` is an agency's Logs.

The shard (0..PAGE_SHARDS-1) is a hash of (billing account, first seq): a busy
balance spreads its pages over every shard, a quiet one still costs one query per
shard to read.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

PAGE_SHARDS = 8


class ByAgencyLogIndex(GlobalSecondaryIndex["LedgerPageRecord"]):
    class Meta:
        index_name = "by_agency_log"
        projection = AllProjection()

    agency_log_key = UnicodeAttribute(hash_key=True)
    row_key = UnicodeAttribute(range_key=True)


class LedgerPageRecord(Model):
    TABLE_BASE = "ledger_pages"

    class Meta:
        table_name = "unbound-ledger_pages"
        billing_mode = "PAY_PER_REQUEST"

    log_key = UnicodeAttribute(hash_key=True)
    row_key = UnicodeAttribute(range_key=True)
    agency_log_key = UnicodeAttribute(null=True)
    account_id = UnicodeAttribute()
    billing_account_id = UnicodeAttribute()
    posted_at = UnicodeAttribute()  # RFC 3339 UTC, microseconds: every row's posting time
    first_seq = NumberAttribute()
    last_seq = NumberAttribute()
    rows = UnicodeAttribute()  # JSON: one array per entry, columns as `ledger_repo.PAGE_COLUMNS`

    by_agency_log = ByAgencyLogIndex()
