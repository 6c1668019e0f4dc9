"""Table `payments`: every charge to a card, keyed by our payment id.

The payment id is derived from what asked for the charge (the recharge id, or the
account and Idempotency-Key of a manual top-up), and it is also the gateway's
idempotency key: one payment id, at most one card charge. Payment History reads
the `by_billing_created` index, newest first.

Receipt numbers: a payment that succeeds gets `receipt_number`, sequential per
billing account. The last number given is kept in one counter item per billing
account in this table, keyed `receipts#<billing account id>` (it has no
`created_key`, so the Payment History index never holds it); the payment and the
counter are written in one transaction, each under a condition, so a number is
given once per payment and never twice.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model


class ByBillingCreatedIndex(GlobalSecondaryIndex["PaymentRecord"]):
    class Meta:
        index_name = "by_billing_created"
        projection = AllProjection()

    billing_account_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


RECEIPT_COUNTER_PREFIX = "receipts#"


class ByAgencyCreatedIndex(GlobalSecondaryIndex["PaymentRecord"]):
    """Sparse: payments of sub-accounts that pay their own, for their agency's statement."""

    class Meta:
        index_name = "by_agency_created"
        projection = AllProjection()

    agency_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class PaymentRecord(Model):
    TABLE_BASE = "payments"

    class Meta:
        table_name = "unbound-payments"
        billing_mode = "PAY_PER_REQUEST"

    payment_id = UnicodeAttribute(hash_key=True)
    billing_account_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    amount_micros = NumberAttribute()
    currency = UnicodeAttribute()
    status = UnicodeAttribute()
    card_brand = UnicodeAttribute()
    card_last4 = UnicodeAttribute()
    gateway = UnicodeAttribute()
    gateway_reference = UnicodeAttribute(null=True)
    failure_code = UnicodeAttribute(null=True)
    failure_reason = UnicodeAttribute(null=True)
    recharge_id = UnicodeAttribute(null=True)
    description = UnicodeAttribute(default="")
    agency_id = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    created_key = UnicodeAttribute()  # "<created_at RFC 3339>#<payment id>"
    updated_at = UTCDateTimeAttribute()
    # Claims so each email about this payment goes out once.
    receipt_sent_at = UTCDateTimeAttribute(null=True)
    receipt_number = NumberAttribute(null=True)  # once succeeded: 1, 2, 3 ... per billing account
    # Only on the counter item `receipts#<billing account id>`: the last receipt number given.
    last_receipt_number = NumberAttribute(null=True)

    by_billing_created = ByBillingCreatedIndex()
    by_agency_created = ByAgencyCreatedIndex()
