"""Fixed-window counters in DynamoDB: one conditional UpdateItem per request."""

from __future__ import annotations

from pynamodb.exceptions import UpdateError

from .storage_errors import error_code
from .tables.base import bind
from .tables.rate_limits import RateLimitRecord

# Counters are kept a little past their window, then DynamoDB's TTL removes them.
EXPIRY_GRACE_SECONDS = 3600


class RateLimitRepository:
    def hit(self, key: str, max_requests: int, window_end: int) -> bool:
        """Count one request in the window `key`; False (and nothing counted) when it is full.

        ADD and the condition are one atomic write, so concurrent requests never
        admit more than `max_requests` in a window.
        """
        bind()
        try:
            RateLimitRecord(key).update(
                actions=[
                    RateLimitRecord.hits.add(1),
                    RateLimitRecord.expires_at.set(window_end + EXPIRY_GRACE_SECONDS),
                ],
                condition=RateLimitRecord.hits.does_not_exist() | (RateLimitRecord.hits < max_requests),
            )
        except UpdateError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True
