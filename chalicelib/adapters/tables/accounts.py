"""Table `accounts`: one item per account, with an index of sub-accounts by agency."""

from __future__ import annotations

from pynamodb.attributes import (
    ListAttribute,
    MapAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model


class ByAgencyIndex(GlobalSecondaryIndex["AccountRecord"]):
    class Meta:
        index_name = "by_agency"
        projection = AllProjection()

    agency_id = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute(range_key=True)


class AccountRecord(Model):
    TABLE_BASE = "accounts"

    class Meta:
        table_name = "unbound-accounts"
        billing_mode = "PAY_PER_REQUEST"

    account_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    kind = UnicodeAttribute()
    time_zone = UnicodeAttribute()
    currency = UnicodeAttribute()
    agency_id = UnicodeAttribute(null=True)
    billing = UnicodeAttribute()
    emails = ListAttribute(of=UnicodeAttribute, default=list)
    # Overrides by currency: {"USD": {category: {"unit": "minute", "unit_price_micros": 12500}}};
    # ints stay exact. Items written before rates were per currency hold one card (the account's currency).
    rates = MapAttribute(default=dict)  # type: ignore[var-annotated,no-untyped-call]
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    # What the ledger writer needs of this account's usage alerts (compact JSON, see
    # tables/usage_alerts.py): it reads account items with every batch anyway.
    alert_watch = UnicodeAttribute(null=True)

    by_agency = ByAgencyIndex()
