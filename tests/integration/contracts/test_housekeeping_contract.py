"""One contract, two implementations: the reconcile checkpoints and the rate-limit counters
(tests/fakes/housekeeping.py) against the DynamoDB adapters on DynamoDB Local.

What the services rely on: a checkpoint saved is read back as saved (an empty seal as "", no
row key as None), a later save replaces it, the rolling place is None until saved; a counter
admits `max_requests` hits in its window and refuses the next without counting it, keys count
apart, and each admitted hit moves the counter's expiry to the window's end plus the grace.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.adapters.rate_limits_repo import EXPIRY_GRACE_SECONDS
from chalicelib.domain.ledger_check import ChainPoint
from chalicelib.services.ports import CheckpointStore, RateLimitStore
from tests.fakes.housekeeping import FakeCheckpoints, FakeRateLimits

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["fake", "dynamodb"])
def checkpoints(request: pytest.FixtureRequest) -> CheckpointStore:
    if request.param == "dynamodb":
        request.getfixturevalue("aws")
        from chalicelib.adapters.checkpoints_repo import CheckpointRepository
        from chalicelib.adapters.tables.base import bind
        from chalicelib.adapters.tables.reconcile_checkpoints import ReconcileCheckpointRecord

        # The table lives as long as the module; "rolling" is one item, so each test starts without it.
        bind()
        ReconcileCheckpointRecord("rolling").delete()
        return CheckpointRepository()
    return FakeCheckpoints()


@pytest.fixture(params=["fake", "dynamodb"])
def rate_limits(request: pytest.FixtureRequest) -> RateLimitStore:
    if request.param == "dynamodb":
        request.getfixturevalue("aws")
        from chalicelib.adapters.rate_limits_repo import RateLimitRepository

        return RateLimitRepository()
    return FakeRateLimits()


def counter(store: RateLimitStore, key: str) -> tuple[int, int] | None:
    """(hits, expires_at) of a counter as stored, None when there is none."""
    if isinstance(store, FakeRateLimits):
        found = store.counters.get(key)
        return None if found is None else (found.hits, found.expires_at)
    from chalicelib.adapters.tables.rate_limits import RateLimitRecord

    try:
        record = RateLimitRecord.get(key, consistent_read=True)
    except RateLimitRecord.DoesNotExist:
        return None
    return int(record.hits), int(record.expires_at)


# -- checkpoints ---------------------------------------------------------------------------------------------


def test_a_balance_checkpoint_reads_back_as_saved(checkpoints: CheckpointStore) -> None:
    account = new_id("acct")
    point = ChainPoint(seq=7, balance_micros=-1_250_000, seal="c2VhbA")
    checkpoints.save_balance(account, point, "2026-03-15T11:59:00.000000Z#evt-7", NOW)
    assert checkpoints.balances()[account] == (point, "2026-03-15T11:59:00.000000Z#evt-7")


def test_an_unsealed_checkpoint_without_a_row_key_reads_back_empty(checkpoints: CheckpointStore) -> None:
    account = new_id("acct")
    checkpoints.save_balance(account, ChainPoint(), None, NOW)
    assert checkpoints.balances()[account] == (ChainPoint(0, 0, ""), None)


def test_a_later_save_replaces_the_whole_checkpoint(checkpoints: CheckpointStore) -> None:
    account, other = new_id("acct"), new_id("acct")
    checkpoints.save_balance(account, ChainPoint(3, 500, "first"), "row-3", NOW)
    checkpoints.save_balance(other, ChainPoint(1, 10, "other"), "row-1", NOW)
    checkpoints.save_balance(account, ChainPoint(5, 900, ""), None, NOW + timedelta(hours=1))
    found = checkpoints.balances()
    assert found[account] == (ChainPoint(5, 900, ""), None)
    assert found[other] == (ChainPoint(1, 10, "other"), "row-1")


def test_the_rolling_place_is_none_until_saved_and_then_the_last_saved(checkpoints: CheckpointStore) -> None:
    assert checkpoints.rolling_after() is None
    checkpoints.save_rolling("acct-b", NOW)
    assert checkpoints.rolling_after() == "acct-b"
    checkpoints.save_rolling(None, NOW + timedelta(minutes=5))  # a full pass wraps around
    assert checkpoints.rolling_after() is None
    checkpoints.save_rolling("acct-c", NOW + timedelta(minutes=10))
    assert checkpoints.rolling_after() == "acct-c"


def test_the_rolling_place_is_not_a_balance(checkpoints: CheckpointStore) -> None:
    account = new_id("acct")
    checkpoints.save_rolling(account, NOW)
    checkpoints.save_balance(account, ChainPoint(2, 20, "s"), "row-2", NOW)
    found = checkpoints.balances()
    assert "rolling" not in found
    assert found[account] == (ChainPoint(2, 20, "s"), "row-2")


# -- rate limits ---------------------------------------------------------------------------------------------


def test_a_counter_admits_the_maximum_then_refuses_without_counting(rate_limits: RateLimitStore) -> None:
    key = new_id("add_funds#acct") + "#1800000000"
    window_end = 1_800_003_600
    assert [rate_limits.hit(key, 3, window_end) for _ in range(3)] == [True, True, True]
    assert counter(rate_limits, key) == (3, window_end + EXPIRY_GRACE_SECONDS)
    assert rate_limits.hit(key, 3, window_end) is False
    assert rate_limits.hit(key, 3, window_end + 99) is False
    assert counter(rate_limits, key) == (3, window_end + EXPIRY_GRACE_SECONDS)  # nothing counted or moved


def test_counters_count_apart_per_key(rate_limits: RateLimitStore) -> None:
    first, second = new_id("k"), new_id("k")
    assert rate_limits.hit(first, 1, 100) is True
    assert rate_limits.hit(first, 1, 100) is False
    assert rate_limits.hit(second, 1, 100) is True
    assert counter(rate_limits, second) == (1, 100 + EXPIRY_GRACE_SECONDS)


def test_a_higher_maximum_admits_more_on_the_same_counter(rate_limits: RateLimitStore) -> None:
    # The maximum is the caller's, read at each hit (a changed BILLING_RATE_LIMITS applies at once).
    key = new_id("k")
    assert rate_limits.hit(key, 1, 100) is True
    assert rate_limits.hit(key, 1, 100) is False
    assert rate_limits.hit(key, 2, 200) is True
    assert counter(rate_limits, key) == (2, 200 + EXPIRY_GRACE_SECONDS)
    assert rate_limits.hit(key, 2, 200) is False


def test_a_new_counter_is_admitted_whatever_the_maximum(rate_limits: RateLimitStore) -> None:
    # The condition lets a missing counter through (the service never asks with 0: a 0 limit is off).
    key = new_id("k")
    assert rate_limits.hit(key, 0, 100) is True
    assert rate_limits.hit(key, 0, 100) is False
    assert counter(rate_limits, key) == (1, 100 + EXPIRY_GRACE_SECONDS)
