"""Table `ledger_entries`: the append-only ledger, keyed by the source event id.

Keying the entry by its event id makes the entry its own permanent dedupe
record: the transaction's `attribute_not_exists` condition on it means an event
is charged at most once, forever, without a second item per event. Reading
orders come from indexes:

- `by_billing_seq` (billing account, seq): the total order of a balance's entries;
- `by_account_posted` (account, posted key): an account's Logs;
- `by_agency_posted` (agency, posted key): an agency's Logs, sparse;
- `by_billing_posted` (billing account, posted key): a balance's entries by posting
  time, carrying only what a boundary balance needs; a statement asks it for the one
  entry posted last before an instant (newest first, Limit 2 with its predecessor).

The posted key is `<posted_at RFC 3339 with microseconds>#<seq, 12 digits>`, so it
sorts by posting time and is unique within a billing account.
"""

from __future__ import annotations

from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model


class ByBillingSeqIndex(GlobalSecondaryIndex["LedgerEntryRecord"]):
    class Meta:
        index_name = "by_billing_seq"
        projection = AllProjection()

    billing_account_id = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)


class ByAccountPostedIndex(GlobalSecondaryIndex["LedgerEntryRecord"]):
    class Meta:
        index_name = "by_account_posted"
        projection = AllProjection()

    account_id = UnicodeAttribute(hash_key=True)
    posted_key = UnicodeAttribute(range_key=True)


class ByAgencyPostedIndex(GlobalSecondaryIndex["LedgerEntryRecord"]):
    class Meta:
        index_name = "by_agency_posted"
        projection = AllProjection()

    agency_id = UnicodeAttribute(hash_key=True)
    posted_key = UnicodeAttribute(range_key=True)


class ByBillingPostedIndex(GlobalSecondaryIndex["LedgerEntryRecord"]):
    class Meta:
        index_name = "by_billing_posted"
        projection = IncludeProjection(["seq", "amount_micros", "balance_after_micros", "posted_at"])

    billing_account_id = UnicodeAttribute(hash_key=True)
    posted_key = UnicodeAttribute(range_key=True)


class LedgerEntryRecord(Model):
    TABLE_BASE = "ledger_entries"

    class Meta:
        table_name = "unbound-ledger_entries"
        billing_mode = "PAY_PER_REQUEST"

    event_id = UnicodeAttribute(hash_key=True)
    entry_id = UnicodeAttribute()
    billing_account_id = UnicodeAttribute()
    seq = NumberAttribute()
    account_id = UnicodeAttribute()
    agency_id = UnicodeAttribute(null=True)
    category = UnicodeAttribute()
    description = UnicodeAttribute()
    quantity = UnicodeAttribute()  # exact decimal text
    unit = UnicodeAttribute()
    unit_price_micros = NumberAttribute(null=True)
    amount_micros = NumberAttribute()
    balance_after_micros = NumberAttribute()
    occurred_at = UnicodeAttribute()  # RFC 3339 UTC, microseconds
    posted_at = UnicodeAttribute()
    posted_key = UnicodeAttribute()
    metadata = MapAttribute(default=dict)  # type: ignore[var-annotated,no-untyped-call]

    by_billing_seq = ByBillingSeqIndex()
    by_account_posted = ByAccountPostedIndex()
    by_agency_posted = ByAgencyPostedIndex()
    by_billing_posted = ByBillingPostedIndex()
