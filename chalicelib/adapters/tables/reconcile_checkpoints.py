"""Table `reconcile_checkpoints`: how far the scheduled reconcile has checked each balance.

Key `key`: "balance#<billing account id>" holds the last entry checked (`seq`, `seal`,
`balance_micros`, `row_key`: where the next run's reading of its Logs pages starts);
"rolling" holds the rolling full pass's place (`after`: the last billing account it
checked in full). Losing the table only makes the next run check more.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model


class ReconcileCheckpointRecord(Model):
    TABLE_BASE = "reconcile_checkpoints"

    class Meta:
        table_name = "unbound-reconcile_checkpoints"
        billing_mode = "PAY_PER_REQUEST"

    key = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(null=True)
    seal = UnicodeAttribute(null=True)
    balance_micros = NumberAttribute(null=True)
    row_key = UnicodeAttribute(null=True)
    after = UnicodeAttribute(null=True)
    checked_at = UTCDateTimeAttribute(null=True)
