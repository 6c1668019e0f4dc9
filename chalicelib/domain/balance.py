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
