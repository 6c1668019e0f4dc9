"""Per-account limits on costly actions: the rule, in plain Python (no AWS).

A limit is "at most N requests per window of W seconds" for one action of one
account, counted in fixed windows aligned to the epoch (so every process agrees
on the window without talking to the others). A refused request is told when the
window ends (`Retry-After`). Fixed windows allow up to 2N requests across a window
boundary; for money-moving actions with N in single digits that is acceptable,
and it costs one conditional write per request (see adapters/rate_limits_repo.py).

Limits come from BILLING_RATE_LIMITS, e.g. "add_funds=10/3600,send_statement=20/3600"
(a limit of 0 switches the action's limit off); actions not named there keep
DEFAULT_LIMITS.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

ADD_FUNDS = "add_funds"
SEND_STATEMENT = "send_statement"


class RateLimitConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Limit:
    action: str
    max_requests: int  # 0: unlimited
    window_seconds: int

    @property
    def enabled(self) -> bool:
        return self.max_requests > 0


DEFAULT_LIMITS: Mapping[str, Limit] = {
    ADD_FUNDS: Limit(ADD_FUNDS, 10, 3600),
    SEND_STATEMENT: Limit(SEND_STATEMENT, 20, 3600),
}


@dataclass(frozen=True)
class Window:
    start: int  # epoch seconds, inclusive
    end: int  # epoch seconds, exclusive

    def retry_after(self, now: float) -> int:
        """Whole seconds until the window ends (at least 1), for the Retry-After header."""
        return max(1, math.ceil(self.end - now))


def window_at(limit: Limit, now: float) -> Window:
    start = int(now // limit.window_seconds) * limit.window_seconds
    return Window(start, start + limit.window_seconds)


def counter_key(limit: Limit, account_id: str, window: Window) -> str:
    return f"{limit.action}#{account_id}#{window.start}"


def parse_limits(text: str | None) -> dict[str, Limit]:
    """DEFAULT_LIMITS, overridden by "action=N/seconds[,action=N/seconds...]"."""
    limits = dict(DEFAULT_LIMITS)
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        action, eq, spec = part.partition("=")
        count, slash, seconds = spec.partition("/")
        action = action.strip()
        if not eq or not slash or not action or not count.strip().isdigit() or not seconds.strip().isdigit():
            raise RateLimitConfigError(f"rate limit {part!r} is not action=N/seconds")
        if int(seconds) <= 0:
            raise RateLimitConfigError(f"rate limit {part!r}: the window must be at least one second")
        limits[action] = Limit(action, int(count), int(seconds))
    return limits
