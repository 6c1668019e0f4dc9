"""Ledger categories: what a charge or credit is, and how it moves the balance."""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    CALL_MINUTES = "call_minutes"
    TEXT_MESSAGES = "text_messages"
    NUMBER_RENEWALS = "number_renewals"
    SUBSCRIPTION_FEES = "subscription_fees"
    RECHARGE = "recharge"
    ADJUSTMENT = "adjustment"

    @property
    def is_usage(self) -> bool:
        """Usage always draws from the balance and is priced by the rate card."""
        return self in USAGE_CATEGORIES


USAGE_CATEGORIES = frozenset(
    {
        Category.CALL_MINUTES,
        Category.TEXT_MESSAGES,
        Category.NUMBER_RENEWALS,
        Category.SUBSCRIPTION_FEES,
    }
)

CATEGORY_NAMES = tuple(c.value for c in Category)
