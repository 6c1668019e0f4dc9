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
    assert not report.ok and [p.kind for p in report.problems] == ["head_balance"]
    gap = check_chain(plan.after, plan.entries[1:])
    assert "chain_sequence" in {p.kind for p in gap.problems}
    twice = check_chain(plan.after, [plan.entries[0], plan.entries[0]])
    assert "event_twice" in {p.kind for p in twice.problems}


KEY = b"test-ledger-key"


@given(st.lists(st.integers(-10_000, 10_000), min_size=1, max_size=20), st.integers(0, 19))
def test_seals_chain_every_entry_and_any_edit_breaks_them(amounts, at):
    from dataclasses import replace

    state = BalanceState("b1", 0, 0, None, exists=False)
    first = plan_entries(state, [priced(f"e{i}", a) for i, a in enumerate(amounts[:3])], T0, KEY)
    second = plan_entries(first.after, [priced(f"f{i}", a) for i, a in enumerate(amounts[3:])], T0, KEY)
    chain = [*first.entries, *second.entries]
    assert all(e.seal for e in chain) and second.after.seal == chain[-1].seal
    assert check_chain(second.after, chain, KEY).ok
    i = at % len(chain)
    edited = [*chain[:i], replace(chain[i], description="edited"), *chain[i + 1 :]]
    assert "entry_seal" in {p.kind for p in check_chain(second.after, edited, KEY).problems}
    # Without the key the seals cannot be made: a different key finds every entry wrong.
    assert "entry_seal" in {p.kind for p in check_chain(second.after, chain, b"other key").problems}


def test_payments_and_their_credits_must_agree():
    from chalicelib.domain.reconcile import PaymentFacts, check_payment_credits

    state = BalanceState("b1", 0, 0, None, exists=False)
    credit = PricedEvent(
        UsageEvent("payment:p1", "b1", Category.RECHARGE, Decimal(1), T0, "card"), "b1", None, "item", None, 25_000_000
    )
    chain = plan_entries(state, [credit], T0, KEY).entries
    ok = [PaymentFacts("p1", "b1", True, 25_000_000)]
    assert check_payment_credits(ok, chain) == []
    kinds = lambda payments, entries: {f.kind for f in check_payment_credits(payments, entries)}  # noqa: E731
    assert kinds([PaymentFacts("p1", "b1", True, 20_000_000)], chain) == {"payment_credit_amount"}
    assert kinds([PaymentFacts("p1", "b1", False, 25_000_000)], chain) == {"payment_credit_unpaid"}
    assert kinds([], chain) == {"credit_without_payment"}
    assert kinds([*ok, PaymentFacts("p2", "b1", True, 1)], chain) == {"payment_uncredited"}
