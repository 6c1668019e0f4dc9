"""Per-account limits on costly actions (adding funds, sending statements): 429 + Retry-After.

Call `enforce(action, account_id)` after the access check (so nobody can use up
another account's allowance) and before the costly part; a replayed idempotent
request should return its stored answer before this is reached.

    from .rate_limits import enforce
    from ..domain.rate_limit import SEND_STATEMENT
    enforce(SEND_STATEMENT, account.account_id)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from ..domain.rate_limit import Limit, counter_key, parse_limits, window_at
from .errors import ServiceError
from .stores import stores

RATE_LIMITS_ENV = "BILLING_RATE_LIMITS"


class RateLimited(ServiceError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


def limit_for(action: str) -> Limit:
    """The limit in force for `action` (BILLING_RATE_LIMITS, read on each call: it is cheap)."""
    limits = parse_limits(os.environ.get(RATE_LIMITS_ENV))
    if action not in limits:
        raise KeyError(f"no rate limit is defined for action {action!r}")
    return limits[action]


def enforce(action: str, account_id: str, clock: Callable[[], float] = time.time) -> None:
    """Count this request against the account's allowance; RateLimited (429) once it is used up."""

    limit = limit_for(action)
    if not limit.enabled:
        return
    now = clock()
    window = window_at(limit, now)
    if stores().rate_limits.hit(counter_key(limit, account_id, window), limit.max_requests, window.end):
        return
    from ..observability import record_rate_limited

    record_rate_limited(action, account_id)
    retry = window.retry_after(now)
    raise RateLimited(
        f"too many {action.replace('_', ' ')} requests for account {account_id!r}: "
        f"at most {limit.max_requests} per {limit.window_seconds} seconds; retry in {retry} seconds",
        retry,
    )
