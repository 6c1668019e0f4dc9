"""The balance an account draws from, what it means, and how long it lasts.

Who sees what: the payer's own users and the platform see everything (balance,
status, runway, auto-recharge). The users of a sub-account on shared billing see
that their agency bills them; the agency's balance and status only when the agency
shares them (its billing setting `share_balance_with_sub_accounts`), and its runway,
spending, notices and auto-recharge never (domain.access.sees_payer_details).

Runway (domain/runway.py): the average daily spend of the last 30 days, the recurring
charges due in the next 30 (`upcoming`) and the local date the balance would run out
(`covered_until`), from one read of the payer's daily rollups: point reads for an
account, one scoped read for an agency and all its sub-accounts, however many.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from ..adapters.rollups_repo import ScopedAccount
from ..config import get_settings
from ..domain.access import Action, Principal, sees_payer_details
from ..domain.accounts import Account, AccountKind
from ..domain.attention import attention_of
from ..domain.balance import RUNWAY_WINDOW_DAYS, average_daily_spend, balance_status, runway_days
from ..domain.categories import USAGE_CATEGORIES
from ..domain.money import format_micros
from ..domain.periods import format_instant
from ..domain.reports import BucketRange
from ..domain.rollups import DAY, RollupKey, RollupTotals
from ..domain.runway import UPCOMING_DAYS, DayUsage, Runway, by_day_and_category, read_window, runway
from .access import require
from .stores import stores

# What a shared sub-account's users are not shown of the agency's balance.
PAYER_DETAILS = (
    "low_balance_threshold",
    "average_daily_spend",
    "runway_days",
    "upcoming",
    "covered_until",
    "notices",
    "auto_recharge",
    "entries",
    "last_posted_at",
)


def balance_view(account: Account, viewer: Principal | None = None) -> dict[str, Any]:
    """The balance `account` draws from, as `viewer` may see it (None: as the payer's own users do)."""
    billing_id = account.billing_account_id
    state = stores().ledger.balance(billing_id)
    settings = state.billing.settings
    payer = account if billing_id == account.account_id else stores().accounts.get(billing_id)
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
    payer = payer or account
    today = stores().clock().astimezone(payer.zone).date()
    usage, today_of = _daily_usage(payer, today)
    ahead = runway(state.balance_micros, today, usage, today_of)
    daily_spend = average_daily_spend(_spend(usage, today_of, today))
    recharge = state.billing.recharge
    return {
        **header,
        "balance_visible": True,
        "balance": format_micros(state.balance_micros),
        "status": balance_status(state.balance_micros, threshold).value,
        "low_balance_threshold": format_micros(threshold),
        # Runway: how long the balance lasts at the average spend of the last 30 days.
        "average_daily_spend": format_micros(daily_spend),
        "runway_days": runway_days(state.balance_micros, daily_spend),
        "upcoming": upcoming_view(ahead, today),
        "covered_until": ahead.covered_until.isoformat() if ahead.covered_until else None,
        "notices": [
            {"kind": n.kind.value, "message": n.message, "action": n.action}
            for n in attention_of(state.balance_micros, state.billing)
        ],
        "auto_recharge": {
            "enabled": settings.auto_recharge_enabled,
            "threshold": format_micros(settings.threshold_micros),
            "amount": format_micros(settings.amount_micros),
            "in_flight": recharge.in_flight_id is not None,
            "paused": recharge.paused,
            "consecutive_declines": recharge.consecutive_declines,
        },
        "entries": state.seq,
        "last_posted_at": format_instant(state.last_posted_at) if state.last_posted_at else None,
    }


def upcoming_view(ahead: Runway, today: date) -> dict[str, Any]:
    groups = by_day_and_category(ahead.upcoming)
    by_category: dict[str, list[int]] = {}
    for g in groups:
        slot = by_category.setdefault(g.category.value, [0, 0])
        slot[0] += g.count
        slot[1] += g.amount_micros
    return {
        "from": today.isoformat(),
        "to": (today + timedelta(days=UPCOMING_DAYS - 1)).isoformat(),
        "total": format_micros(sum(g.amount_micros for g in groups)),
        "count": sum(g.count for g in groups),
        "by_category": [
            {"category": category, "count": count, "amount": format_micros(amount)}
            for category, (count, amount) in sorted(by_category.items())
        ],
        "charges": [
            {
                "due_on": g.due_on.isoformat(),
                "category": g.category.value,
                "count": g.count,
                "amount": format_micros(g.amount_micros),
            }
            for g in groups
        ],
        "average_daily_usage": format_micros(ahead.average_daily_usage_micros),
    }


def _daily_usage(payer: Account, today: date) -> tuple[list[DayUsage], dict[str, date]]:
    """The daily usage drawn from `payer`'s balance over the runway's window, and each account's today."""
    first, last = read_window(today)
    if payer.kind is not AccountKind.AGENCY:
        scoped = ScopedAccount(payer.account_id, payer.agency_scope or payer.account_id)
        found = stores().rollups.of_account(scoped, [BucketRange(DAY, first.isoformat(), last.isoformat())])
        return _rows(found, {payer.account_id}), {payer.account_id: today}
    # An agency pays for itself and its shared sub-accounts: one read of the agency's days (a day
    # either side covers every sub-account's own zone).
    from .reports import read_agency

    window = [BucketRange(DAY, (first - timedelta(days=1)).isoformat(), (last + timedelta(days=1)).isoformat())]
    reads = read_agency(payer, [window])
    now = stores().clock()
    drawing = {
        a.account_id: now.astimezone(a.zone).date() for a in reads.accounts if a.billing_account_id == payer.account_id
    }
    return _rows(reads.rollups[0], set(drawing)), drawing


def _rows(found: dict[RollupKey, RollupTotals], accounts: set[str]) -> list[DayUsage]:
    return [
        DayUsage(k.account_id, date.fromisoformat(k.bucket), k.category, t.count, -t.amount_micros)
        for k, t in found.items()
        if k.period == DAY and k.account_id in accounts and k.category in USAGE_CATEGORIES
    ]


def _spend(usage: list[DayUsage], today_of: dict[str, date], today: date) -> int:
    """Usage cost of the last RUNWAY_WINDOW_DAYS complete local days of each account."""
    total = 0
    for row in usage:
        own = today_of.get(row.account_id, today)
        if own - timedelta(days=RUNWAY_WINDOW_DAYS) <= row.day <= own - timedelta(days=1):
            total += row.cost_micros
    return total


def get_balance(principal: Principal, account_id: str) -> dict[str, Any]:
    return balance_view(require(principal, Action.READ, account_id), principal)
