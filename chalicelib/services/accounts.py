"""Provisioning accounts and reading them, with the access policy applied."""

from __future__ import annotations

from typing import Any

from ..domain.access import AccessDenied, Action, Principal, authorize
from ..domain.accounts import Account, AccountError, provision_account
from ..domain.periods import format_instant
from .access import check_account_id, require
from .balances import balance_view
from .errors import BadRequest, Forbidden, NotFound
from .stores import stores


def put_account(principal: Principal, account_id: str, body: object) -> tuple[Account, bool]:
    """Create or update an account from a PUT body; returns (account, created)."""
    check_account_id(account_id)
    repo = stores().accounts
    existing = repo.get(account_id)
    try:
        authorize(principal, Action.PROVISION, account_id, existing)
    except AccessDenied as denied:
        raise (NotFound if denied.status == 404 else Forbidden)(str(denied)) from None
    # pydantic loads here, on the one route that provisions, not on every cold start.
    from ..domain.account_schema import parse_account_body

    try:
        parsed = parse_account_body(body)
        agency = repo.get(parsed.agency_id) if parsed.agency_id else None
        account = provision_account(
            account_id,
            parsed,
            existing=existing,
            agency=agency,
            has_entries=existing is not None and _has_entries(account_id),
            has_sub_accounts=existing is not None and repo.has_sub_accounts(account_id),
            now=stores().clock(),
        )
    except AccountError as exc:
        raise BadRequest(str(exc)) from None
    repo.save(account)
    return account, existing is None


def _has_entries(account_id: str) -> bool:
    """Entries of the account, or entries that moved its balance (a shared sub-account's)."""
    ledger = stores().ledger
    return ledger.has_entries(account_id) or ledger.balance(account_id).exists


def account_view(account: Account) -> dict[str, Any]:
    return {
        "account_id": account.account_id,
        "name": account.name,
        "kind": account.kind.value,
        "time_zone": account.time_zone,
        "currency": account.currency,
        "agency_id": account.agency_id,
        "billing": account.billing.value,
        "billing_account_id": account.billing_account_id,
        "emails": list(account.emails),
        "created_at": format_instant(account.created_at) if account.created_at else None,
        "updated_at": format_instant(account.updated_at) if account.updated_at else None,
    }


def get_account(principal: Principal, account_id: str) -> dict[str, Any]:
    account = require(principal, Action.READ, account_id)
    return {**account_view(account), "balance": balance_view(account, principal)}
