"""Ledger pages, posting days and the Logs merge: the pure parts, without DynamoDB."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.balance_days import BalanceDay, ChainDoesNotLink, boundary_before, merge_days, movement_of
from chalicelib.domain.categories import Category
from chalicelib.domain.events import UsageEvent
from chalicelib.domain.ledger import BalanceState, PricedEvent, pages_of, plan_entries
from chalicelib.domain.reconcile import check_balance_days, expected_balance_days

T0 = datetime(2026, 11, 2, 12, tzinfo=UTC)


def priced(event_id: str, account: str, amount: int) -> PricedEvent:
    event = UsageEvent(event_id, account, Category.CALL_MINUTES, Decimal(1), T0, "call")
    return PricedEvent(event, account, "agency", "minute", None, amount)


def test_a_transaction_has_one_page_per_run_of_an_account() -> None:
    state = BalanceState("agency", 0, 10, T0, exists=True)
    events = [priced("e1", "a", -1), priced("e2", "a", -2), priced("e3", "b", -3), priced("e4", "a", -4)]
    plan = plan_entries(state, events, T0)
    pages = pages_of(plan.entries)
    assert [(p.account_id, p.first_seq, p.last_seq) for p in pages] == [("a", 11, 12), ("b", 13, 13), ("a", 14, 14)]
    assert all(p.posted_at == T0 and p.billing_account_id == "agency" for p in pages)


def test_a_plan_adds_one_movement_to_its_posting_day() -> None:
    state = BalanceState("agency", 500, 10, T0, exists=True)
    plan = plan_entries(state, [priced("e1", "a", -100), priced("e2", "b", 30)], T0)
    day = movement_of(plan, ZoneInfo("Asia/Tokyo"))
    assert day == BalanceDay("agency", date(2026, 11, 2), 2, -70, 11, 500, 12, 430)
    late = movement_of(plan, ZoneInfo("Pacific/Honolulu"))  # 02:00 there: the same instant's local date
    assert late is not None and late.day == date(2026, 11, 2)


def _days(moves: list[int], zone: str = "UTC") -> tuple[list[BalanceDay], int, int]:
    """Posting days of a ledger with one entry a day of each amount; and the head (seq, balance)."""
    state = BalanceState("b", 0, 0, None, exists=False)
    days = []
    for i, amount in enumerate(moves):
        plan = plan_entries(state, [priced(f"e{i}", "b", amount)], T0 + timedelta(days=i))
        move = movement_of(plan, ZoneInfo(zone))
        assert move is not None
        days.append(move)
        state = plan.after
    merged: dict[date, list[BalanceDay]] = {}
    for d in days:
        merged.setdefault(d.day, []).append(d)
    return [merge_days(parts) for parts in merged.values()], state.seq, state.balance_micros


@given(st.lists(st.integers(-10_000, 10_000), min_size=1, max_size=30), st.integers(0, 35))
def test_the_balance_before_a_day_is_the_head_less_the_days_since(moves, offset) -> None:
    days, seq, balance = _days(moves)
    at = T0.date() + timedelta(days=offset)
    boundary = boundary_before(at, seq, balance, [d for d in days if d.day >= at])
    posted_before = moves[: min(offset, len(moves))]
    assert boundary.balance_micros == sum(posted_before) and boundary.seq == len(posted_before)


def test_days_that_do_not_link_are_refused() -> None:
    days, seq, balance = _days([-5, -7, 12, -1])
    since = [d for d in days if d.day >= days[1].day]
    with pytest.raises(ChainDoesNotLink, match="opens at"):
        boundary_before(
            days[1].day, seq, balance, [replace(since[0], opening_micros=since[0].opening_micros + 1), *since[1:]]
        )
    with pytest.raises(ChainDoesNotLink, match="seq"):
        boundary_before(days[1].day, seq + 1, balance, since)  # a write the days do not show
    with pytest.raises(ChainDoesNotLink):  # the days no longer add up to the head
        boundary_before(days[1].day, seq, balance, [replace(since[0], net_micros=since[0].net_micros - 3), *since[1:]])


def test_reconcile_finds_a_posting_day_that_drifted() -> None:
    state = BalanceState("b", 0, 0, None, exists=False)
    plan = plan_entries(state, [priced("e1", "a", -5), priced("e2", "a", -6)], T0)
    chain = list(plan.entries)
    days = expected_balance_days("b", ZoneInfo("UTC"), chain)
    assert check_balance_days("b", ZoneInfo("UTC"), chain, days) == []
    broken = [replace(days[0], closing_micros=days[0].closing_micros + 1)]
    assert check_balance_days("b", ZoneInfo("UTC"), chain, broken)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 60), st.integers(1, 8))
def test_merging_shards_page_by_page_gives_the_exact_newest_first_order(seed, limit, shards) -> None:
    """Pages of many accounts and balances spread over shards; the merge returns the global order."""
    from chalicelib.adapters import ledger_repo

    rng = random.Random(seed)
    pages = []
    seqs: dict[str, int] = {}
    for tx in range(rng.randint(0, 40)):
        billing = rng.choice(["b1", "b2", "b3"])
        posted = T0 + timedelta(seconds=rng.choice([tx, tx, tx - 1]))
        for _account in sorted(rng.sample(["a", "b", "c", "d"], rng.randint(1, 3))):
            first = seqs.get(billing, 0) + 1
            count = rng.randint(1, 5)
            seqs[billing] = first + count - 1
            pages.append((ledger_repo.row_key(posted, billing, first), count, rng.randrange(shards)))
    all_rows = sorted(
        (
            key[: key.rindex("#")] + f"#{int(key[key.rindex('#') + 1 :]) + i:012d}"
            for key, count, _ in pages
            for i in range(count)
        ),
        reverse=True,
    )

    class Page:
        def __init__(self, key: str, count: int) -> None:
            self.row_key = key
            self.first_seq = int(key[key.rindex("#") + 1 :])
            self.last_seq = self.first_seq + count - 1

    def fetcher(shard: int):
        mine = sorted((Page(k, c) for k, c, s in pages if s == shard), key=lambda p: p.row_key, reverse=True)

        def fetch(count, after):
            start = after or 0
            chunk = mine[start : start + count]
            return chunk, (start + count if start + count < len(mine) else None)

        return fetch

    expanded = {}

    def entries_of(page):
        prefix = page.row_key[: page.row_key.rindex("#")]
        rows = [f"{prefix}#{seq:012d}" for seq in range(page.first_seq, page.last_seq + 1)]
        expanded[id(page)] = rows
        return rows

    streams = [ledger_repo._ShardStream(fetcher(s)) for s in range(shards)]
    original = ledger_repo.page_entries
    ledger_repo.page_entries = entries_of  # type: ignore[assignment]
    try:
        got, resume = ledger_repo._merge_newest(streams, limit, lambda row: True)
    finally:
        ledger_repo.page_entries = original
    assert [str(row) for row in got] == all_rows[:limit]
    assert (resume is not None) == (len(all_rows) > limit)
