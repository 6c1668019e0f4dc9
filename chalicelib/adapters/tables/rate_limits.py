"""Table `rate_limits`: fixed-window counters for per-account limits on costly actions.

Key: "<action>#<account id>#<window start, epoch seconds>". One conditional
UpdateItem both counts a request and refuses it once the window is full, so
concurrent requests can never exceed the limit. Counters expire (DynamoDB TTL on
`expires_at`) shortly after their window ends.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model


class RateLimitRecord(Model):
    TABLE_BASE = "rate_limits"
    TTL_ATTRIBUTE = "expires_at"

    class Meta:
        table_name = "unbound-rate_limits"
        billing_mode = "PAY_PER_REQUEST"

    key = UnicodeAttribute(hash_key=True)
    hits = NumberAttribute(default=0)
    expires_at = NumberAttribute()  # epoch seconds, for DynamoDB TTL
