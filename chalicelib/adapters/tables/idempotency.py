"""Table `idempotency_keys`: what a request with an Idempotency-Key answered.

Key: "<account id>#<idempotency key>". The first request stores the digest of its
body; a repeat with the same body gets the stored answer, a different body a 409.
Until it is answered, the request holding `lease_until` (epoch seconds) works on it
and a repeat waits for it; a lease that ran out (a crash) or was released (an
error) lets a repeat take over. Records expire after a day (DynamoDB TTL on `expires_at`).
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model


class IdempotencyRecord(Model):
    TABLE_BASE = "idempotency_keys"
    TTL_ATTRIBUTE = "expires_at"  # the deployment template switches DynamoDB TTL on for it

    class Meta:
        table_name = "unbound-idempotency_keys"
        billing_mode = "PAY_PER_REQUEST"

    key = UnicodeAttribute(hash_key=True)
    request_digest = UnicodeAttribute()
    payment_id = UnicodeAttribute()
    status_code = NumberAttribute(null=True)  # set once answered
    response_json = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)  # epoch seconds; absent or past: nobody is working on it
    created_at = UTCDateTimeAttribute()
    expires_at = NumberAttribute()  # epoch seconds, for DynamoDB TTL
