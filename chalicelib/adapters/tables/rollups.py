"""Table `usage_rollups`: counters per account, period bucket and category.

Key: `account_id` + `bucket_key` = "<D|M>#<local date or month>#<category>", so a
report reads one account's months (or days) of a range with a single Query.
Counters are integers (micro-units for quantity and amount) updated with ADD.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model


class RollupRecord(Model):
    TABLE_BASE = "usage_rollups"

    class Meta:
        table_name = "unbound-usage_rollups"
        billing_mode = "PAY_PER_REQUEST"

    account_id = UnicodeAttribute(hash_key=True)
    bucket_key = UnicodeAttribute(range_key=True)
    entry_count = NumberAttribute(default=0)
    quantity_micros = NumberAttribute(default=0)
    amount_micros = NumberAttribute(default=0)
