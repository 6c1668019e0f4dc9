"""Table `statements`: every statement built, its numbers frozen, and its delivery.

Key: `statement_id`. An on-demand statement has a random id; a scheduled one an id
derived from (account, frequency, period), so the item is also the claim that makes
a scheduled period go out once: whoever creates or takes over the item (a
conditional update with a lease) sends it.

- `numbers`: the statement document (JSON, zlib-compressed), written once, with a
  condition that it is not there yet: never changed afterwards. HTML and PDF are
  rendered from it, so a copy fetched later shows the same numbers.
- `status`: queued (built, waiting for the sender) | sending (claimed; `lease_until`)
  | sent (`ses_message_id`, `sent_at`, `pdf_sha256`) | failed (SES refused it) |
  refused (did not reconcile: never sent).
- `by_account_created` (account, "<created RFC 3339>#<id>"): an account's statements,
  newest first; it carries the summary columns a list shows, not the numbers.
"""

from __future__ import annotations

from pynamodb.attributes import (
    BinaryAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

LIST_COLUMNS = [
    "origin",
    "frequency",
    "period_first",
    "period_last",
    "recipients",
    "status",
    "created_at",
    "built_at",
    "sent_at",
    "ses_message_id",
    "currency",
    "opening_balance_micros",
    "closing_balance_micros",
    "last_error",
]


class ByAccountCreatedIndex(GlobalSecondaryIndex["StatementRecord"]):
    class Meta:
        index_name = "by_account_created"
        projection = IncludeProjection(LIST_COLUMNS)

    account_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class StatementRecord(Model):
    TABLE_BASE = "statements"

    class Meta:
        table_name = "unbound-statements"
        billing_mode = "PAY_PER_REQUEST"

    statement_id = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    created_key = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    origin = UnicodeAttribute()  # on_demand | scheduled
    frequency = UnicodeAttribute(null=True)
    period_first = UnicodeAttribute()  # local date YYYY-MM-DD
    period_last = UnicodeAttribute()
    recipients = ListAttribute(of=UnicodeAttribute, default=list)
    requested_by = UnicodeAttribute(null=True)

    numbers = BinaryAttribute(null=True, legacy_encoding=False)
    numbers_seal = UnicodeAttribute(null=True)  # HMAC of the numbers with the ledger key (domain/statements.py)
    built_at = UTCDateTimeAttribute(null=True)
    currency = UnicodeAttribute(null=True)
    opening_balance_micros = NumberAttribute(null=True)
    closing_balance_micros = NumberAttribute(null=True)

    status = UnicodeAttribute()
    lease_until = UTCDateTimeAttribute(null=True)
    claim_token = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    ses_message_id = UnicodeAttribute(null=True)
    sent_at = UTCDateTimeAttribute(null=True)
    pdf_sha256 = UnicodeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)

    by_account_created = ByAccountCreatedIndex()
