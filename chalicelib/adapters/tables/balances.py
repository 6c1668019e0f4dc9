"""Table `balances`: the head of each billing account's ledger chain, and its billing settings.

`seq` is the sequence number of the last entry and doubles as the optimistic
concurrency version: every ledger transaction conditions on it.
"""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
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
    seal = UnicodeAttribute(null=True)  # the last entry's seal: the next entry chains to it

    # Billing settings of this balance (auto-recharge, cards on file as gateway
    # tokens with brand and last 4, low-balance alert), as one map of ints/strings.
    settings = MapAttribute(null=True)  # type: ignore[var-annotated,no-untyped-call]
    # Recharge state, moved by the ledger writer and the recharge worker.
    recharge_id = UnicodeAttribute(null=True)  # the recharge in flight
    recharge_requested_at = UTCDateTimeAttribute(null=True)
    consecutive_declines = NumberAttribute(null=True)
    cooldown_until = UTCDateTimeAttribute(null=True)
    recharge_paused = BooleanAttribute(null=True)
    low_alert_sent = BooleanAttribute(null=True)
    past_due_sent = BooleanAttribute(null=True)  # below zero, and its contacts were told
