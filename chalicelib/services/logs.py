"""Logs: ledger entries of an account, or of an agency and all its sub-accounts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..adapters.accounts_repo import AccountRepository
from ..adapters.ledger_repo import LedgerRepository, LogSlice
from ..domain.access import Action, Principal
from ..domain.accounts import Account
from ..domain.categories import CATEGORY_NAMES
from ..domain.ledger import LedgerEntry
from ..domain.money import format_micros
from ..domain.periods import LocalRange, PeriodError, format_instant, local_range
from .accounts import require
from .csv_export import to_csv
from .cursors import next_cursor, resume_after
from .errors import BadRequest

CSV_COLUMNS = [
    "id",
    "account_id",
    "account_name",
    "billing_account_id",
    "category",
    "description",
    "quantity",
    "unit",
    "unit_price",
    "amount",
    "balance_after",
    "currency",
    "occurred_at",
    "posted_at",
    "event_id",
]
CSV_PAGE = 500


@dataclass(frozen=True)
class LogQuery:
    scope: str  # "account:<id>" or "agency:<id>"
    owner: Account
    range: LocalRange
    category: str | None

    def key(self) -> dict[str, object]:
        return {"from": self.range.first, "to": self.range.last, "category": self.category, "tz": self.range.zone}


@dataclass(frozen=True)
class LogPage:
    rows: list[dict[str, Any]]
    next_cursor: str | None
    time_zone: str


def _query(scope: str, owner: Account, params: Mapping[str, str]) -> LogQuery:
    category = params.get("category") or None
    if category is not None and category not in CATEGORY_NAMES:
        raise BadRequest(f"category must be one of {', '.join(CATEGORY_NAMES)}")
    try:
        period = local_range(params.get("from"), params.get("to"), owner.time_zone)
    except PeriodError as exc:
        raise BadRequest(str(exc)) from None
    return LogQuery(scope, owner, period, category)


def _fetch(query: LogQuery, limit: int, before_key: str | None) -> LogSlice:
    scope = query.scope.split(":", 1)[0]
    return LedgerRepository().log(
        scope, query.owner.account_id, query.range.start, query.range.end, query.category, limit, before_key
    )


def _names(query: LogQuery, entries: Iterable[LedgerEntry]) -> dict[str, Account]:
    """The accounts the rows name: the owner, and for an agency only the sub-accounts on this page."""
    accounts = {query.owner.account_id: query.owner}
    others = {e.account_id for e in entries} - set(accounts)
    if others:
        accounts.update(AccountRepository().get_many(others))
    return accounts


def row(entry: LedgerEntry, accounts: Mapping[str, Account], currency: str) -> dict[str, Any]:
    account = accounts.get(entry.account_id)
    return {
        "id": entry.entry_id,
        "account_id": entry.account_id,
        "account_name": account.name if account else None,
        "billing_account_id": entry.billing_account_id,
        "category": entry.category.value,
        "description": entry.description,
        "quantity": format(entry.quantity.normalize(), "f"),
        "unit": entry.unit,
        "unit_price": None if entry.unit_price_micros is None else format_micros(entry.unit_price_micros),
        "amount": format_micros(entry.amount_micros),
        "balance_after": format_micros(entry.balance_after_micros),
        "currency": account.currency if account else currency,
        "occurred_at": format_instant(entry.occurred_at),
        "posted_at": format_instant(entry.posted_at),
        "event_id": entry.event_id,
    }


def _before(query: LogQuery, cursor: str | None) -> str | None:
    position = resume_after(query.scope, query.key(), cursor)
    before = position.get("before") if position else None
    if position is not None and not isinstance(before, str):
        raise BadRequest("cursor: not a cursor of this list")
    return before


def _page(query: LogQuery, limit: int, cursor: str | None) -> LogPage:
    page = _fetch(query, limit, _before(query, cursor))
    accounts = _names(query, page.entries)
    rows = [row(e, accounts, query.owner.currency) for e in page.entries]
    position = {"before": page.next_key} if page.next_key else None
    return LogPage(rows, next_cursor(query.scope, query.key(), position), query.range.zone)


def _all_rows(query: LogQuery) -> Iterator[dict[str, Any]]:
    before: str | None = None
    while True:
        page = _fetch(query, CSV_PAGE, before)
        accounts = _names(query, page.entries)
        for entry in page.entries:
            yield row(entry, accounts, query.owner.currency)
        if page.next_key is None:
            return
        before = page.next_key


def account_logs(principal: Principal, account_id: str, params: Mapping[str, str], limit: int) -> LogPage:
    account = require(principal, Action.READ, account_id)
    return _page(_query(f"account:{account_id}", account, params), limit, params.get("cursor"))


def agency_logs(principal: Principal, agency_id: str, params: Mapping[str, str], limit: int) -> LogPage:
    agency = require(principal, Action.READ_AGENCY, agency_id)
    return _page(_query(f"agency:{agency_id}", agency, params), limit, params.get("cursor"))


def account_logs_csv(principal: Principal, account_id: str, params: Mapping[str, str]) -> str:
    account = require(principal, Action.READ, account_id)
    return to_csv(_all_rows(_query(f"account:{account_id}", account, params)), CSV_COLUMNS)


def agency_logs_csv(principal: Principal, agency_id: str, params: Mapping[str, str]) -> str:
    agency = require(principal, Action.READ_AGENCY, agency_id)
    return to_csv(_all_rows(_query(f"agency:{agency_id}", agency, params)), CSV_COLUMNS)
