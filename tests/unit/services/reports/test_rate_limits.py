"""services/rate_limits.py on FakeRateLimits: N per window per account and action, then 429."""

from __future__ import annotations

import pytest

from chalicelib.domain.rate_limit import ADD_FUNDS, DEFAULT_LIMITS, SEND_STATEMENT, RateLimitConfigError
from chalicelib.services.ports import RateLimitStore
from chalicelib.services.rate_limits import RATE_LIMITS_ENV, RateLimited, enforce, limit_for
from tests.fakes.housekeeping import FakeRateLimits
from tests.unit.services.reports.conftest import World

pytestmark = pytest.mark.usefixtures("world")

WINDOW_START = 1_800_000_000  # a multiple of 60 and of 3600


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_fake_is_a_rate_limit_store() -> None:
    store: RateLimitStore = FakeRateLimits()
    assert store.hit("k", 1, 10) is True


def test_n_per_window_then_429_with_the_seconds_left(monkeypatch, world: World) -> None:
    monkeypatch.setenv(RATE_LIMITS_ENV, "send_statement=3/60")
    clock = Clock(WINDOW_START + 10.5)
    for _ in range(3):
        enforce(SEND_STATEMENT, "acct_a", clock)
    with pytest.raises(RateLimited) as refused:
        enforce(SEND_STATEMENT, "acct_a", clock)
    assert (refused.value.status, refused.value.code) == (429, "too_many_requests")
    assert refused.value.retry_after == 50
    assert refused.value.headers == {"Retry-After": "50"}
    assert refused.value.message == (
        "too many send statement requests for account 'acct_a': at most 3 per 60 seconds; retry in 50 seconds"
    )
    # The counter is the window's, kept past its end for the TTL.
    assert world.rate_limits.counters[f"send_statement#acct_a#{WINDOW_START}"].hits == 3


def test_accounts_actions_and_windows_count_apart(monkeypatch, world: World) -> None:
    monkeypatch.setenv(RATE_LIMITS_ENV, "send_statement=1/60,add_funds=1/60")
    clock = Clock(WINDOW_START + 59.9)
    enforce(SEND_STATEMENT, "acct_a", clock)
    enforce(SEND_STATEMENT, "acct_b", clock)
    enforce(ADD_FUNDS, "acct_a", clock)
    with pytest.raises(RateLimited) as refused:
        enforce(ADD_FUNDS, "acct_a", clock)
    assert refused.value.retry_after == 1  # never 0, even a tenth of a second before the end
    clock.now = WINDOW_START + 60  # the next window starts afresh
    enforce(SEND_STATEMENT, "acct_a", clock)
    enforce(ADD_FUNDS, "acct_a", clock)
    assert sorted(world.rate_limits.counters) == [
        f"add_funds#acct_a#{WINDOW_START}",
        f"add_funds#acct_a#{WINDOW_START + 60}",
        f"send_statement#acct_a#{WINDOW_START}",
        f"send_statement#acct_a#{WINDOW_START + 60}",
        f"send_statement#acct_b#{WINDOW_START}",
    ]


def test_a_limit_of_zero_is_off_and_counts_nothing(monkeypatch, world: World) -> None:
    monkeypatch.setenv(RATE_LIMITS_ENV, "send_statement=0/60")
    for _ in range(25):
        enforce(SEND_STATEMENT, "acct_a", Clock(WINDOW_START))
    assert world.rate_limits.counters == {}


def test_without_the_setting_the_defaults_hold(monkeypatch) -> None:
    monkeypatch.delenv(RATE_LIMITS_ENV, raising=False)
    assert limit_for(ADD_FUNDS) == DEFAULT_LIMITS[ADD_FUNDS]
    clock = Clock(WINDOW_START)
    for _ in range(DEFAULT_LIMITS[ADD_FUNDS].max_requests):
        enforce(ADD_FUNDS, "acct_a", clock)
    with pytest.raises(RateLimited) as refused:
        enforce(ADD_FUNDS, "acct_a", clock)
    assert refused.value.retry_after == 3600


def test_an_action_without_a_limit_is_a_programming_error(monkeypatch) -> None:
    monkeypatch.delenv(RATE_LIMITS_ENV, raising=False)
    with pytest.raises(KeyError, match="no rate limit is defined for action 'export'"):
        enforce("export", "acct_a", Clock(WINDOW_START))


def test_a_malformed_setting_is_refused(monkeypatch) -> None:
    monkeypatch.setenv(RATE_LIMITS_ENV, "send_statement=lots")
    with pytest.raises(RateLimitConfigError):
        limit_for(SEND_STATEMENT)
