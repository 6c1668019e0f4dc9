"""Table `ledger_entries`: every ledger entry, keyed by its source event id.

Keying the entry by its event id makes the entry its own permanent dedupe
record: the transaction's `attribute_not_exists` condition on it means an event
is charged at most once, forever, without a second item per event. The table has
no index: the reading orders (an account's Logs, an agency's Logs, a balance's
chain) come from `ledger_pages`, written in the same transaction, which list the
same entries a page per (account, transaction). `page_seq` names the page an entry
is listed on (the first sequence number of that page); `event_digest` is the
SHA-256 of the event as charged, so a later copy of the event can be told apart
from a different event under the same id; `seal` chains the entry to the one
before it with the ledger key, so an edited, forged or missing entry is found.
"""

from __future__ import annotations

from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.models import Model


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
    metadata = MapAttribute(default=dict)  # type: ignore[var-annotated,no-untyped-call]
    page_seq = NumberAttribute(null=True)  # null on entries written before pages existed
    event_digest = UnicodeAttribute(null=True)
    seal = UnicodeAttribute(null=True)  # HMAC over the entry and the previous seal (domain/ledger.py)
