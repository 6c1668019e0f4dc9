from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.categories import Category
from chalicelib.domain.events import UsageEvent
from chalicelib.domain.ledger import (
    BalanceState,
    LedgerEntry,
    PricedEvent,
    chunk_for_transactions,
    entry_id_for,
    plan_entries,
)
from chalicelib.domain.reconcile import check_chain

T0 = datetime(2026, 11, 26, 9, tzinfo=UTC)


def priced(event_id, amount, account="a1"):
    event = UsageEvent(event_id, account, Category.CALL_MINUTES, Decimal(1), T0, "")
    return PricedEvent(event, account, None, "minute", None, amount)


def test_plan_appends_with_running_balance_and_sequence():
    state = BalanceState("b1", 1_000, 4, T0, exists=True)
    plan = plan_entries(state, [priced("e1", -300), priced("e2", 50)], T0 + timedelta(seconds=1))
    assert [(e.seq, e.balance_after_micros) for e in plan.entries] == [(5, 700), (6, 750)]
    assert (plan.after.seq, plan.after.balance_micros) == (6, 750)
    assert plan.entries[0].description == "1 call minute(s)"


def test_posting_time_never_goes_backwards():
    state = BalanceState("b1", 0, 1, T0, exists=True)
    plan = plan_entries(state, [priced("e1", -1)], T0 - timedelta(minutes=5))  # this writer's clock is behind
    assert plan.entries[0].posted_at == T0


def test_entry_ids_are_stable_per_event():
    assert entry_id_for("call-1") == entry_id_for("call-1") != entry_id_for("call-2")


def test_chunks_fit_a_transaction_counting_the_balance_item():
    chunks = chunk_for_transactions(range(250))
    assert [len(c) for c in chunks] == [99, 99, 52]


def test_chunks_count_shared_items_once():
    chunks = chunk_for_transactions(range(120), shared_keys=lambda i: {("day", i % 3)})
    assert [len(c) for c in chunks] == [96, 24]
    assert sum(len(c) for c in chunks) == 120


def test_one_item_bigger_than_a_transaction_is_an_error():
    with pytest.raises(ValueError):
        chunk_for_transactions([1], shared_keys=lambda _: set(range(100)))


@given(st.lists(st.integers(min_value=-(10**9), max_value=10**9), max_size=60), st.integers(1, 30))
def test_planned_chains_always_reconcile(amounts, split):
    state = BalanceState("b1", 0, 0, None, exists=False)
    entries: list[LedgerEntry] = []
    for start in range(0, len(amounts), split):
        batch = [priced(f"e{start + i}", a) for i, a in enumerate(amounts[start : start + split])]
        plan = plan_entries(state, batch, T0)
        entries.extend(plan.entries)
        state = plan.after
    report = check_chain(state, entries)
    assert report.ok, report.problems
    assert state.balance_micros == sum(amounts)


def test_reconcile_finds_drift():
    plan = plan_entries(BalanceState("b1", 0, 0, None, exists=False), [priced("e1", -5), priced("e2", -5)], T0)
    wrong_head = BalanceState("b1", -11, 2, T0, exists=True)
    report = check_chain(wrong_head, plan.entries)
    assert not report.ok and "sum of entries" in report.problems[0]
    gap = check_chain(plan.after, plan.entries[1:])
    assert any("gap" in p for p in gap.problems)
    twice = check_chain(plan.after, [plan.entries[0], plan.entries[0]])
    assert any("twice" in p for p in twice.problems)
