"""What a balance means to its owner: ok, low, or past due."""

from __future__ import annotations

from enum import StrEnum


class BalanceStatus(StrEnum):
    OK = "ok"
    LOW = "low"
    PAST_DUE = "past_due"


def balance_status(balance_micros: int, low_threshold_micros: int) -> BalanceStatus:
    if balance_micros < 0:
        return BalanceStatus.PAST_DUE
    if balance_micros < low_threshold_micros:
        return BalanceStatus.LOW
    return BalanceStatus.OK


RUNWAY_WINDOW_DAYS = 30


def average_daily_spend(spend_micros: int, days: int = RUNWAY_WINDOW_DAYS) -> int:
    """Spend over the window divided by its days, half-up to a micro-unit."""
    return (2 * spend_micros + days) // (2 * days)


def runway_days(balance_micros: int, daily_spend_micros: int) -> str | None:
    """How many days the balance lasts at that spend, to one decimal (None: no spend)."""
    if daily_spend_micros <= 0:
        return None
    if balance_micros <= 0:
        return "0.0"
    tenths = (balance_micros * 10 * 2 + daily_spend_micros) // (2 * daily_spend_micros)
    return f"{tenths // 10}.{tenths % 10}"
