"""The access policy applied: the account a caller names, if the caller may act on it.

Every service that takes an account id from a request starts here; the rules
themselves are plain Python in domain/access.py.
"""

from __future__ import annotations

import re

from ..domain.access import AccessDenied, Action, Principal, authorize
from ..domain.accounts import Account
from ..domain.event_fields import ACCOUNT_ID_PATTERN
from .errors import BadRequest, Forbidden, NotFound
from .ports import AccountStore
from .stores import stores

_ACCOUNT_ID_RE = re.compile(ACCOUNT_ID_PATTERN)


def check_account_id(account_id: str) -> None:
    # fullmatch: the pattern's `$` would also match before a trailing newline.
    if not (1 <= len(account_id) <= 64 and _ACCOUNT_ID_RE.fullmatch(account_id)):
        raise BadRequest("account id must be 1-64 letters, digits, '.', '_' or '-'")


def require(principal: Principal, action: Action, account_id: str, repo: AccountStore | None = None) -> Account:
    """The account, if the principal may do `action` on it; otherwise 404/403."""
    check_account_id(account_id)
    account = (repo or stores().accounts).get(account_id)
    try:
        authorize(principal, action, account_id, account)
    except AccessDenied as denied:
        raise (NotFound if denied.status == 404 else Forbidden)(str(denied)) from None
    assert account is not None
    return account
