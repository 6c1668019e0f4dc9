"""Table `balance_days`: each balance's movements by local posting day, kept by agency.

One item per (billing account, posting day in the billing account's zone), written
in the ledger transaction: entries posted that day, their net, the first and last
sequence numbers and the balance before and after. A statement's boundary balance
is the head minus the days since the boundary (see domain/balance_days.py).

Keys follow `rollups`: `partition` = "<scope>#B#<month>#<shard>" (scope: the billing
account's agency, or itself), `bucket_key` = "<day>#<billing account id>", so the
closing balances of an agency's thousand own-billing sub-accounts are a few queries.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model


class BalanceDayRecord(Model):
    TABLE_BASE = "balance_days"

    class Meta:
        table_name = "unbound-balance_days"
        billing_mode = "PAY_PER_REQUEST"

    partition = UnicodeAttribute(hash_key=True)
    bucket_key = UnicodeAttribute(range_key=True)
    entries = NumberAttribute(default=0)
    net_micros = NumberAttribute(default=0)
    first_seq = NumberAttribute()
    opening_micros = NumberAttribute()
    last_seq = NumberAttribute()
    closing_micros = NumberAttribute()
