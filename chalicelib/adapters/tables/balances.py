"""Table `balances`: the head of each billing account's ledger chain.

`seq` is the sequence number of the last entry and doubles as the optimistic
concurrency version: every ledger transaction conditions on it.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model


class BalanceRecord(Model):
    TABLE_BASE = "balances"

    class Meta:
        table_name = "unbound-balances"
        billing_mode = "PAY_PER_REQUEST"

    billing_account_id = UnicodeAttribute(hash_key=True)
    balance_micros = NumberAttribute(default=0)
    seq = NumberAttribute(default=0)
    currency = UnicodeAttribute()
    last_posted_at = UTCDateTimeAttribute(null=True)
    updated_at = UTCDateTimeAttribute()
