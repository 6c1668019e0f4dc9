"""The balance an account draws from, and what it means.

Who sees what: the payer's own users and the platform see everything (balance,
status, runway, auto-recharge). The users of a sub-account on shared billing see
that their agency bills them; the agency's balance and status only when the agency
shares them (its billing setting `share_balance_with_sub_accounts`), and its runway,
spending and auto-recharge never (domain.access.sees_payer_details).
"""

from __future__ import annotations

from typing import Any

from ..adapters.accounts_repo import AccountRepository
from ..adapters.ledger_repo import LedgerRepository
from ..config import get_settings
from ..domain.access import Action, Principal, sees_payer_details
from ..domain.accounts import Account
from ..domain.balance import RUNWAY_WINDOW_DAYS, average_daily_spend, balance_status, runway_days
from ..domain.money import format_micros
from ..domain.periods import format_instant
from .access import require
from .reports import spend_over_last_days

# What a shared sub-account's users are not shown of the agency's balance.
PAYER_DETAILS = (
    "low_balance_threshold",
    "average_daily_spend",
    "runway_days",
    "auto_recharge",
    "entries",
    "last_posted_at",
)


def balance_view(account: Account, viewer: Principal | None = None) -> dict[str, Any]:
    """The balance `account` draws from, as `viewer` may see it (None: as the payer's own users do)."""
    billing_id = account.billing_account_id
    state = LedgerRepository().balance(billing_id)
    settings = state.billing.settings
    payer = account if billing_id == account.account_id else AccountRepository().get(billing_id)
    header = {
        "account_id": account.account_id,
        "billing": account.billing.value,
        "billing_account_id": billing_id,
        "billing_account_name": payer.name if payer else None,
        "currency": payer.currency if payer else account.currency,
    }
    # "low" below the account's own alert threshold, else the platform default.
    threshold = (
        settings.low_balance_alert_micros
        if settings.low_balance_alert_micros is not None
        else get_settings().low_balance_micros
    )
    if viewer is not None and not sees_payer_details(viewer, account):
        shared = settings.share_balance_with_sub_accounts
        return {
            **header,
            "balance_visible": shared,
            "balance": format_micros(state.balance_micros) if shared else None,
            "status": balance_status(state.balance_micros, threshold).value if shared else None,
            **dict.fromkeys(PAYER_DETAILS),
        }
    daily_spend = average_daily_spend(spend_over_last_days(payer or account, RUNWAY_WINDOW_DAYS))
    return {
        **header,
        "balance_visible": True,
        "balance": format_micros(state.balance_micros),
        "status": balance_status(state.balance_micros, threshold).value,
        "low_balance_threshold": format_micros(threshold),
        # Runway: how long the balance lasts at the average spend of the last 30 days.
        "average_daily_spend": format_micros(daily_spend),
        "runway_days": runway_days(state.balance_micros, daily_spend),
        "auto_recharge": {
            "enabled": settings.auto_recharge_enabled,
            "threshold": format_micros(settings.threshold_micros),
            "amount": format_micros(settings.amount_micros),
            "in_flight": state.billing.recharge.in_flight_id is not None,
            "paused": state.billing.recharge.paused,
        },
        "entries": state.seq,
        "last_posted_at": format_instant(state.last_posted_at) if state.last_posted_at else None,
    }


def get_balance(principal: Principal, account_id: str) -> dict[str, Any]:
    return balance_view(require(principal, Action.READ, account_id), principal)
