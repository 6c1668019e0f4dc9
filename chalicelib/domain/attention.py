"""What about a balance needs a person: past due, auto-recharge paused, a card that was declined.

The console shows a banner on every page of such an account, and the agency
dashboard marks such clients; each comes with what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .payments import BillingHead


class Attention(StrEnum):
    PAST_DUE = "past_due"
    AUTO_RECHARGE_PAUSED = "auto_recharge_paused"
    CARD_DECLINED = "card_declined"


@dataclass(frozen=True)
class Notice:
    kind: Attention
    message: str
    action: str


def attention_of(balance_micros: int, head: BillingHead) -> list[Notice]:
    """The notices of a balance, most pressing first."""
    notices = []
    if balance_micros < 0:
        notices.append(
            Notice(
                Attention.PAST_DUE,
                "The balance is below zero: the account is past due.",
                "Add funds to bring the balance back above zero.",
            )
        )
    recharge = head.recharge
    if recharge.paused:
        notices.append(
            Notice(
                Attention.AUTO_RECHARGE_PAUSED,
                f"Auto-recharge is paused after {recharge.consecutive_declines} declined charges in a row.",
                "Update the card in the auto-recharge settings: saving them resumes auto-recharge.",
            )
        )
    elif recharge.consecutive_declines > 0:
        notices.append(
            Notice(
                Attention.CARD_DECLINED,
                "The card was declined the last time auto-recharge charged it.",
                "Check the card, or add a backup card, in the auto-recharge settings.",
            )
        )
    return notices
