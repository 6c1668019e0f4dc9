import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.balance import BalanceStatus, average_daily_spend, balance_status, runway_days


@pytest.mark.parametrize(
    ("balance", "status"),
    [
        (-1, BalanceStatus.PAST_DUE),
        (0, BalanceStatus.LOW),
        (14_999_999, BalanceStatus.LOW),
        (15_000_000, BalanceStatus.OK),
    ],
)
def test_status(balance, status):
    assert balance_status(balance, 15_000_000) is status


def test_runway():
    assert average_daily_spend(30_000_000) == 1_000_000
    assert average_daily_spend(45) == 2  # 1.5 rounds half up
    assert runway_days(25_000_000, 1_000_000) == "25.0"
    assert runway_days(10_000_000, 3_000_000) == "3.3"
    assert runway_days(-5, 1_000_000) == "0.0"
    assert runway_days(10_000_000, 0) is None


@given(st.integers(1, 10**12), st.integers(1, 10**9))
def test_runway_is_balance_over_spend_rounded_to_a_tenth(balance, spend):
    text = runway_days(balance, spend)
    assert text is not None
    whole, tenth = text.split(".")
    assert abs((int(whole) * 10 + int(tenth)) * spend - balance * 10) * 2 <= spend
