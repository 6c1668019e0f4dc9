"""Table `rollups`: usage counters per account and local day or month, kept by agency.

One item per (account, period, bucket) holds every category's counters, and the
items of all the accounts of one agency live in the same few partitions, so a
report over an agency of a thousand sub-accounts is a handful of queries, not a
thousand:

- `partition` = "<scope>#<D|M>#<span>#<shard>": scope is the agency (for the agency
  and each of its sub-accounts) or the account itself (an account of no agency);
  span is the month of a daily bucket ("2026-11") or the year of a monthly one
  ("2026"); shard = a hash of the account id (ROLLUP_SHARDS), so an agency's hot
  traffic spreads over several partitions;
- `bucket_key` = "<bucket>#<account id>" (bucket "2026-11-26" or "2026-11"): an
  agency's accounts over a range of buckets are one range condition per partition;
  one account's buckets are point reads (its partition and shard are known).

Counters (integers, updated with ADD in the ledger transaction): `<code>_n` entries,
`<code>_q` quantity in micro-units, `<code>_a` amount in micro-units (signed as the
ledger: charges negative), for each category code of `CATEGORY_CODES`.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

ROLLUP_SHARDS = 4
# Short attribute names: an agency report reads an item per account and bucket.
CATEGORY_CODES = {
    "call_minutes": "cm",
    "text_messages": "tm",
    "number_renewals": "nr",
    "subscription_fees": "sf",
    "recharge": "rc",
    "adjustment": "ad",
}


class RollupRecord(Model):
    TABLE_BASE = "rollups"

    class Meta:
        table_name = "unbound-rollups"
        billing_mode = "PAY_PER_REQUEST"

    partition = UnicodeAttribute(hash_key=True)
    bucket_key = UnicodeAttribute(range_key=True)

    cm_n = NumberAttribute(null=True)
    cm_q = NumberAttribute(null=True)
    cm_a = NumberAttribute(null=True)
    tm_n = NumberAttribute(null=True)
    tm_q = NumberAttribute(null=True)
    tm_a = NumberAttribute(null=True)
    nr_n = NumberAttribute(null=True)
    nr_q = NumberAttribute(null=True)
    nr_a = NumberAttribute(null=True)
    sf_n = NumberAttribute(null=True)
    sf_q = NumberAttribute(null=True)
    sf_a = NumberAttribute(null=True)
    rc_n = NumberAttribute(null=True)
    rc_q = NumberAttribute(null=True)
    rc_a = NumberAttribute(null=True)
    ad_n = NumberAttribute(null=True)
    ad_q = NumberAttribute(null=True)
    ad_a = NumberAttribute(null=True)
