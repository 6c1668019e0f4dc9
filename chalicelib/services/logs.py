"""Logs: ledger entries of an account, or of an agency and all its sub-accounts.

A row says when the charge happened (`occurred_at`) and when it was posted, both in
UTC and in the zone of the Logs' account (`*_local`, `time_zone`); the details the
producer sent (`metadata`); and whose balance `balance_after` is
(`billing_account_name`). The users of a sub-account on shared billing are not shown
their agency's balance here either (access.sees_balance): `balance_after` is null on
rows charged to a balance they may not see, unless its owner shares it
(`share_balance_with_sub_accounts`).

`category` and `q` filter the rows (domain/logs.py). A filtered page examines at
most SCAN_ROWS rows of the log (adapters/ledger_repo.py): a rare match may come back
with fewer rows than `limit`, even none, and a `next_cursor` that searches on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from ..adapters.concurrency import run_both
from ..adapters.ledger_repo import LogSlice
from ..domain.access import Action, Principal, sees_balance
from ..domain.accounts import Account
from ..domain.categories import CATEGORY_NAMES, Category
from ..domain.ledger import BalanceState, LedgerEntry
from ..domain.logs import LogFilter, SearchError, local_time, parse_search
from ..domain.money import format_micros
from ..domain.periods import LocalRange, PeriodError, format_instant, local_range
from .access import require
from .csv_export import to_csv
from .cursors import next_cursor, resume_after
from .errors import BadRequest
from .stores import stores

# Columns added since the first version come last, so a spreadsheet reading by position keeps working.
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
    "billing_account_name",
    "time_zone",
    "occurred_at_local",
    "posted_at_local",
    "metadata",
]
CSV_PAGE = 500


@dataclass(frozen=True)
class LogQuery:
    scope: str  # "account:<id>" or "agency:<id>"
    owner: Account
    range: LocalRange
    filter: LogFilter

    def key(self) -> dict[str, object]:
        category = self.filter.category.value if self.filter.category else None
        key: dict[str, object] = {"from": self.range.first, "to": self.range.last, "category": category}
        key["tz"] = self.range.zone
        if self.filter.search is not None:  # (absent otherwise: cursors given before searches existed stay valid)
            key["q"] = self.filter.search
        return key


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
        search = parse_search(params.get("q"))
        period = local_range(params.get("from"), params.get("to"), owner.time_zone)
    except (PeriodError, SearchError) as exc:
        raise BadRequest(str(exc)) from None
    return LogQuery(scope, owner, period, LogFilter(Category(category) if category else None, search))


def _fetch(query: LogQuery, limit: int, before_key: str | None) -> LogSlice:
    scope = query.scope.split(":", 1)[0]
    return stores().ledger.log(
        scope,
        query.owner.account_id,
        query.range.start,
        query.range.end,
        query.filter if query.filter.active else None,
        limit,
        before_key,
    )


@dataclass(frozen=True)
class _Context:
    """What the rows of one page name beside the entries: accounts, and the balances shown."""

    accounts: Mapping[str, Account]
    hidden_balances: frozenset[str]  # billing accounts whose balance_after this principal is not shown


def _context(query: LogQuery, principal: Principal, entries: Iterable[LedgerEntry]) -> _Context:
    """The accounts the rows name (the owner; for an agency the sub-accounts on this page; the
    billing accounts) and, for rows charged to a balance the principal may not see, whether its
    owner shares it: one BatchGetItem each, side by side, and only when the page needs them."""
    entries = list(entries)
    accounts = {query.owner.account_id: query.owner}
    others = ({e.account_id for e in entries} | {e.billing_account_id for e in entries}) - set(accounts)
    unseen = sorted(
        {e.billing_account_id for e in entries if not sees_balance(principal, e.account_id, e.billing_account_id)}
    )
    found, heads = run_both(
        lambda: stores().accounts.get_many(others) if others else {},
        lambda: stores().ledger.balances(unseen) if unseen else {},
    )
    hidden = frozenset(b for b in unseen if not _shared(heads.get(b)))
    return _Context({**accounts, **found}, hidden)


def _shared(head: BalanceState | None) -> bool:
    return head is not None and head.billing.settings.share_balance_with_sub_accounts


def row(entry: LedgerEntry, context: _Context, owner: Account) -> dict[str, Any]:
    accounts = context.accounts
    account = accounts.get(entry.account_id)
    payer = accounts.get(entry.billing_account_id)
    zone = ZoneInfo(owner.time_zone)
    hidden = entry.billing_account_id in context.hidden_balances
    return {
        "id": entry.entry_id,
        "account_id": entry.account_id,
        "account_name": account.name if account else None,
        "billing_account_id": entry.billing_account_id,
        "billing_account_name": payer.name if payer else None,
        "category": entry.category.value,
        "description": entry.description,
        "metadata": dict(entry.metadata),
        "quantity": format(entry.quantity.normalize(), "f"),
        "unit": entry.unit,
        "unit_price": None if entry.unit_price_micros is None else format_micros(entry.unit_price_micros),
        "amount": format_micros(entry.amount_micros),
        # Whose balance: the billing account's (billing_account_name), null when not this principal's to see.
        "balance_after": None if hidden else format_micros(entry.balance_after_micros),
        "currency": (payer or account or owner).currency,
        "occurred_at": format_instant(entry.occurred_at),
        "posted_at": format_instant(entry.posted_at),
        "time_zone": owner.time_zone,
        "occurred_at_local": local_time(entry.occurred_at, zone),
        "posted_at_local": local_time(entry.posted_at, zone),
        "event_id": entry.event_id,
    }


def _csv_row(values: dict[str, Any]) -> dict[str, Any]:
    """A row as the CSV holds it: metadata as JSON text."""
    metadata = values["metadata"]
    return {**values, "metadata": json.dumps(metadata, ensure_ascii=False, sort_keys=True) if metadata else ""}


def _before(query: LogQuery, cursor: str | None) -> str | None:
    position = resume_after(query.scope, query.key(), cursor)
    before = position.get("before") if position else None
    if position is not None and not isinstance(before, str):
        raise BadRequest("cursor: not a cursor of this list")
    return before


def _page(query: LogQuery, principal: Principal, limit: int, cursor: str | None) -> LogPage:
    page = _fetch(query, limit, _before(query, cursor))
    context = _context(query, principal, page.entries)
    rows = [row(e, context, query.owner) for e in page.entries]
    position = {"before": page.next_key} if page.next_key else None
    return LogPage(rows, next_cursor(query.scope, query.key(), position), query.range.zone)


def _all_rows(query: LogQuery, principal: Principal) -> Iterator[dict[str, Any]]:
    before: str | None = None
    while True:
        page = _fetch(query, CSV_PAGE, before)
        context = _context(query, principal, page.entries)
        for entry in page.entries:
            yield _csv_row(row(entry, context, query.owner))
        if page.next_key is None:
            return
        before = page.next_key


def account_logs(principal: Principal, account_id: str, params: Mapping[str, str], limit: int) -> LogPage:
    account = require(principal, Action.READ, account_id)
    return _page(_query(f"account:{account_id}", account, params), principal, limit, params.get("cursor"))


def agency_logs(principal: Principal, agency_id: str, params: Mapping[str, str], limit: int) -> LogPage:
    agency = require(principal, Action.READ_AGENCY, agency_id)
    return _page(_query(f"agency:{agency_id}", agency, params), principal, limit, params.get("cursor"))


def account_logs_csv(principal: Principal, account_id: str, params: Mapping[str, str]) -> str:
    account = require(principal, Action.READ, account_id)
    return to_csv(_all_rows(_query(f"account:{account_id}", account, params), principal), CSV_COLUMNS)


def agency_logs_csv(principal: Principal, agency_id: str, params: Mapping[str, str]) -> str:
    agency = require(principal, Action.READ_AGENCY, agency_id)
    return to_csv(_all_rows(_query(f"agency:{agency_id}", agency, params), principal), CSV_COLUMNS)
