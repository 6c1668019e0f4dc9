"""Posting days (domain/balance_days.py): what a plan adds to its day, and the boundary read from
the head and the days since, refused when what was read does not link up."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.balance_days import BalanceDay, ChainDoesNotLink, boundary_before, merge_days, movement_of
from chalicelib.domain.categories import Category
from chalicelib.domain.events import UsageEvent
from chalicelib.domain.ledger import BalanceState, PricedEvent, plan_entries

T0 = datetime(2026, 3, 8, 4, 30, tzinfo=UTC)  # 23:30 on 7 March in New York


def priced(event_id: str, amount: int) -> PricedEvent:
    return PricedEvent(
        UsageEvent(event_id, "a", Category.CALL_MINUTES, Decimal(1), T0, ""), "a", None, "minute", None, amount
    )


def day(d: int, first_seq: int, amounts: list[int], opening: int) -> BalanceDay:
    return BalanceDay(
        "b",
        date(2026, 3, d),
        len(amounts),
        sum(amounts),
        first_seq,
        opening,
        first_seq + len(amounts) - 1,
        opening + sum(amounts),
    )


def test_an_empty_plan_moves_no_day() -> None:
    state = BalanceState("b", 500, 3, T0, exists=True)
    assert movement_of(plan_entries(state, [], T0), ZoneInfo("UTC")) is None


def test_a_movement_falls_on_the_local_posting_day() -> None:
    state = BalanceState("b", 500, 3, T0, exists=True)
    plan = plan_entries(state, [priced("e1", -100), priced("e2", -50)], T0)
    assert movement_of(plan, ZoneInfo("America/New_York")) == BalanceDay("b", date(2026, 3, 7), 2, -150, 4, 500, 5, 350)
    moved = movement_of(plan, ZoneInfo("UTC"))
    assert moved is not None and moved.day == date(2026, 3, 8)


def test_days_before_the_boundary_are_a_callers_mistake() -> None:
    days = [day(7, 1, [-5], 0), day(8, 2, [-7], -5)]
    with pytest.raises(ValueError, match="must not hold days before the boundary"):
        boundary_before(date(2026, 3, 8), 2, -12, days)


def test_a_day_whose_counts_do_not_add_up_is_refused() -> None:
    good = [day(7, 1, [-5, -5], 0), day(8, 3, [-7], -10)]
    assert boundary_before(date(2026, 3, 8), 3, -17, good[1:]).balance_micros == -10
    # The day links to its neighbours (opens where expected), but says 2 entries over seqs 3..3.
    miscounted = [replace(good[1], entries=2)]
    with pytest.raises(ChainDoesNotLink, match="its counts do not add up"):
        boundary_before(date(2026, 3, 8), 4, -17, miscounted)
    # ... or closes at a balance its net does not reach.
    with pytest.raises(ChainDoesNotLink, match="its counts do not add up"):
        boundary_before(date(2026, 3, 8), 3, -17, [replace(good[1], closing_micros=-16)])


def test_days_that_hold_more_entries_than_the_head_are_refused() -> None:
    """Days that link among themselves but start before the first entry: the head is behind them."""
    behind = [BalanceDay("b", date(2026, 3, 8), 3, 0, -1, 0, 1, 0)]
    with pytest.raises(ChainDoesNotLink, match=r"the head \(seq 1\) is behind its days"):
        boundary_before(date(2026, 3, 8), 1, 0, behind)


def test_the_boundary_with_no_day_since_is_the_head() -> None:
    assert boundary_before(date(2026, 3, 9), 7, 1_234, []) == boundary_before(date(2026, 3, 9), 7, 1_234, ())
    boundary = boundary_before(date(2026, 3, 9), 7, 1_234, [])
    assert (boundary.day, boundary.balance_micros, boundary.seq) == (date(2026, 3, 9), 1_234, 7)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(-1_000, 1_000), min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_merged_movements_are_the_day_whatever_order_they_come_in(amounts: list[int], rng: random.Random) -> None:
    parts: list[BalanceDay] = []
    balance = 0
    for i, amount in enumerate(amounts):
        parts.append(day(8, i + 1, [amount], balance))
        balance += amount
    shuffled = list(parts)
    rng.shuffle(shuffled)
    assert merge_days(shuffled) == day(8, 1, amounts, 0)
