"""The runway's arithmetic: recurring charges projected a month on, and the day the balance runs out."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.attention import Attention, attention_of
from chalicelib.domain.categories import Category
from chalicelib.domain.payments import BillingHead, RechargeState
from chalicelib.domain.runway import DayUsage, add_months, by_day_and_category, runway

TODAY = date(2026, 12, 5)


def usage(day: date, category: Category, count: int, cost: int, account: str = "a") -> DayUsage:
    return DayUsage(account, day, category, count, cost)


def test_same_day_next_month_or_its_last_day():
    assert add_months(date(2026, 11, 19), 1) == date(2026, 12, 19)
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2027, 12, 15), 1) == date(2028, 1, 15)
    assert add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)


def test_renewals_seen_last_month_come_back_and_the_balance_runs_out_on_their_day():
    rows = [
        usage(date(2026, 11, 19), Category.NUMBER_RENEWALS, 3, 15_000_000),
        usage(date(2026, 11, 2), Category.SUBSCRIPTION_FEES, 1, 20_000_000),  # before the window: renewed already
        *(usage(TODAY - timedelta(days=d), Category.CALL_MINUTES, 10, 1_000_000) for d in range(1, 31)),
    ]
    ahead = runway(25_000_000, TODAY, rows)
    assert [(c.due_on, c.count, c.amount_micros) for c in ahead.upcoming] == [(date(2026, 12, 19), 3, 15_000_000)]
    assert ahead.average_daily_usage_micros == 1_000_000
    # 25.00 - 1.00 a day: 11.00 left at the end of Dec 18, then 15.00 of renewals on the 19th.
    assert ahead.covered_until == date(2026, 12, 19)
    groups = by_day_and_category(ahead.upcoming)
    assert [(g.due_on, g.category, g.count) for g in groups] == [(date(2026, 12, 19), Category.NUMBER_RENEWALS, 3)]


def test_nothing_draws_on_it_or_more_than_90_days_is_none_and_past_due_is_today():
    assert runway(10_000_000, TODAY, []).covered_until is None
    slow = [usage(TODAY - timedelta(days=1), Category.TEXT_MESSAGES, 1, 30_000)]  # 0.001 a day: 10,000 days
    assert runway(10_000_000, TODAY, slow).covered_until is None
    assert runway(-1, TODAY, slow).covered_until == TODAY


@given(st.integers(0, 10**9), st.integers(1, 10**7))
def test_the_day_it_runs_out_is_the_first_below_zero(balance: int, daily_cost: int):
    rows = [usage(TODAY - timedelta(days=d), Category.CALL_MINUTES, 1, daily_cost) for d in range(1, 31)]
    ahead = runway(balance, TODAY, rows)
    days = balance // daily_cost  # whole days it covers
    if days >= 90:
        assert ahead.covered_until is None
    else:
        assert ahead.covered_until == TODAY + timedelta(days=days)


def test_attention_says_what_to_do():
    paused = BillingHead(recharge=RechargeState(consecutive_declines=3, paused=True))
    declined = BillingHead(recharge=RechargeState(consecutive_declines=1))
    assert [n.kind for n in attention_of(-5, paused)] == [Attention.PAST_DUE, Attention.AUTO_RECHARGE_PAUSED]
    assert [n.kind for n in attention_of(5, declined)] == [Attention.CARD_DECLINED]
    assert attention_of(5, BillingHead()) == []
    assert all(n.action for n in attention_of(-5, paused))
