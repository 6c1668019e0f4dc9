"""The one access policy: who may do what to which account.

Every request is decided here. Outside the caller's reach an account does not
exist (404, so ids cannot be probed); within reach, a missing privilege is 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum

from .accounts import Account, AccountKind


class Role(StrEnum):
    VIEWER = "viewer"
    ADMIN = "admin"
    SERVICE = "service"  # the platform's own back end


class Action(Enum):
    READ = "read"  # balance, logs, account, rates
    READ_AGENCY = "read_agency"  # agency-wide views: the agency's own users only
    ADMIN = "admin"  # settings, card charges, statements: a human admin
    PROVISION = "provision"  # create or update accounts: the platform
    POST_USAGE = "post_usage"  # usage events: the platform
    SET_RATES = "set_rates"  # the platform, or an agency admin for its sub-accounts


@dataclass(frozen=True)
class Principal:
    subject: str
    account_id: str
    role: Role


class AccessDenied(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _not_found(account_id: str) -> AccessDenied:
    return AccessDenied(404, f"account {account_id!r} not found")


def can_reach(principal: Principal, account: Account) -> bool:
    """Own account, or any sub-account of the principal's agency."""
    return account.account_id == principal.account_id or account.agency_id == principal.account_id


def sees_payer_details(principal: Principal, account: Account) -> bool:
    """Whether the principal sees the balance the account draws from, with its settings, runway and cards.

    A sub-account on shared billing draws from its agency's balance: that balance, its
    auto-recharge settings, runway and cards are the agency's business. The
    sub-account's own users see that the agency bills them (and their own usage, logs
    and statements), not those; the agency's users and the platform see everything.
    (An agency may still show the balance itself to its sub-accounts' users: see
    BillingSettings.share_balance_with_sub_accounts.)
    """
    return sees_balance(principal, account.account_id, account.billing_account_id)


def sees_balance(principal: Principal, account_id: str, billing_account_id: str) -> bool:
    """Whether the principal sees the balance `billing_account_id` that `account_id`'s usage
    drew from (the rule of sees_payer_details, for one Logs row: a row keeps the billing
    account it was charged to, whatever the account's billing is now)."""
    if principal.role is Role.SERVICE:
        return True
    return billing_account_id in (account_id, principal.account_id)


def authorize(principal: Principal, action: Action, account_id: str, account: Account | None) -> None:
    """Raise AccessDenied unless `principal` may do `action` on `account` (None: missing)."""
    if principal.role is Role.SERVICE:
        if action is Action.ADMIN:
            raise AccessDenied(403, "this action needs an account admin, not a service token")
        if action is Action.PROVISION:
            return
        if account is None:
            raise _not_found(account_id)
        if action is Action.READ_AGENCY and account.kind is not AccountKind.AGENCY:
            raise AccessDenied(404, f"agency {account_id!r} not found")
        return

    if account is None or not can_reach(principal, account):
        raise _not_found(account_id)
    if action is Action.READ:
        return
    if action is Action.READ_AGENCY:
        if account.kind is not AccountKind.AGENCY or account.account_id != principal.account_id:
            raise AccessDenied(404, f"agency {account_id!r} not found")
        return
    if action in (Action.PROVISION, Action.POST_USAGE):
        raise AccessDenied(403, "only the platform's service token may do this")
    if principal.role is not Role.ADMIN:
        raise AccessDenied(403, "this action needs the admin role")
    if action is Action.SET_RATES and account.agency_id != principal.account_id:
        raise AccessDenied(403, "rates are set by the platform or by the agency for its sub-accounts")
    # Action.ADMIN by an admin within reach.
