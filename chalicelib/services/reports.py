"""Account Usage, Agency Usage and the Agency Dashboard, read from rollups only.

An agency's reports read its rollups per (partition, shard), all at once and beside
the read of its accounts (see adapters/rollups_repo.py): the cost grows with the
accounts that were active and the months and edge days of the range, never with
events, and never with one request per sub-account. The per-account rows are a
page (`limit`, `cursor`, `sort`, `q`); the totals always cover every account, per
currency (two currencies are never added together).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..adapters.concurrency import run_all
from ..adapters.rollups_repo import ScopedAccount
from ..config import get_settings
from ..domain.access import Action, Principal
from ..domain.accounts import Account, AccountKind
from ..domain.balance import balance_status
from ..domain.categories import USAGE_CATEGORIES, Category
from ..domain.money import format_micros, format_quantity_micros, percent
from ..domain.periods import PeriodError, format_instant, local_range
from ..domain.pricing import default_rates
from ..domain.reports import (
    BucketRange,
    GroupBy,
    SortKey,
    UsageRow,
    bucket_ranges,
    comparison_period,
    cost_micros,
    group_rollups,
    matches_search,
    page_after,
    sum_totals,
    totals_by_category,
)
from ..domain.rollups import RollupKey, RollupTotals
from .access import require
from .csv_export import to_csv
from .cursors import next_cursor, resume_after
from .errors import BadRequest
from .ports import RollupStore
from .stores import stores

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_SEARCH = 100


@dataclass(frozen=True)
class ReportQuery:
    first: date
    last: date
    group_by: GroupBy
    categories: frozenset[Category]


@dataclass(frozen=True)
class ListQuery:
    """Which page of an agency's accounts: `limit`, `sort`, `q` and where to resume."""

    limit: int
    sort: str
    q: str
    after: SortKey | None

    def key(self) -> dict[str, object]:
        return {"sort": self.sort, "q": self.q}


def parse_report_query(
    params: Mapping[str, str], zone_name: str, default_group: GroupBy = GroupBy.TOTAL
) -> ReportQuery:
    """from/to (local dates, `to` inclusive; default this month to date), group_by, category."""
    today = stores().clock().astimezone(ZoneInfo(zone_name)).date()
    try:
        period = local_range(
            params.get("from") or today.replace(day=1).isoformat(), params.get("to") or today.isoformat(), zone_name
        )
    except PeriodError as exc:
        raise BadRequest(str(exc)) from None
    assert period.first is not None and period.last is not None
    try:
        group_by = GroupBy(params.get("group_by") or default_group)
    except ValueError:
        raise BadRequest(f"group_by must be one of {', '.join(g.value for g in GroupBy)}") from None
    categories = USAGE_CATEGORIES
    if params.get("category"):
        try:
            category = Category(params["category"])
        except ValueError:
            category = None
        if category not in USAGE_CATEGORIES:
            raise BadRequest(f"category must be one of {', '.join(sorted(c.value for c in USAGE_CATEGORIES))}")
        assert category is not None
        categories = frozenset({category})
    return ReportQuery(period.first, period.last, group_by, categories)


def parse_list_query(params: Mapping[str, str], scope: str, report_key: Mapping[str, object], sort: str) -> ListQuery:
    raw_limit = params.get("limit") or str(DEFAULT_LIMIT)
    if not raw_limit.isascii() or not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    sort = params.get("sort") or sort
    if sort not in ("cost", "name"):
        raise BadRequest("sort must be cost or name")
    q = (params.get("q") or "").strip()
    if len(q) > MAX_SEARCH or not q.isprintable():
        raise BadRequest(f"q must be printable text of at most {MAX_SEARCH} characters")
    query = ListQuery(int(raw_limit), sort, q, None)
    position = resume_after(scope, {**report_key, **query.key()}, params.get("cursor"))
    after = position.get("after") if position else None
    if position is not None and not isinstance(after, list):
        raise BadRequest("cursor: not a cursor of this list")
    return ListQuery(query.limit, sort, q, tuple(after) if after is not None else None)


def _units(account: Account) -> dict[Category, str]:
    rates = {**default_rates(get_settings().default_rates_json, account.currency), **account.rates}
    return {category: rate.unit for category, rate in rates.items()}


def scoped(account: Account) -> ScopedAccount:
    return ScopedAccount(account.account_id, account.agency_scope or account.account_id)


def _totals_json(category: Category, totals: RollupTotals, units: Mapping[Category, str]) -> dict[str, Any]:
    return {
        "category": category.value,
        "count": totals.count,
        "quantity": format_quantity_micros(totals.quantity_micros),
        "unit": units.get(category, "item"),
        "amount": format_micros(cost_micros(totals)),
    }


def _row_json(row: UsageRow, units: Mapping[Category, str]) -> dict[str, Any]:
    return {
        "period": row.period.key,
        "period_start": row.period.start.isoformat(),
        "period_end": row.period.end.isoformat(),
        **_totals_json(row.category, row.totals, units),
    }


def _block(account: Account, query: ReportQuery, rows: list[UsageRow]) -> dict[str, Any]:
    units = _units(account)
    period = local_range(query.first.isoformat(), query.last.isoformat(), account.time_zone)
    totals = totals_by_category(rows)
    return {
        "account_id": account.account_id,
        "account_name": account.name,
        "billing": account.billing.value,
        "currency": account.currency,
        "time_zone": account.time_zone,
        "start": format_instant(period.start) if period.start else None,
        "end": format_instant(period.end) if period.end else None,
        "rows": [_row_json(r, units) for r in rows],
        "totals": [_totals_json(c, t, units) for c, t in totals.items()],
        "total_amount": format_micros(sum(cost_micros(t) for t in totals.values())),
    }


def _header(owner: Account, query: ReportQuery) -> dict[str, Any]:
    return {
        "from": query.first.isoformat(),
        "to": query.last.isoformat(),
        "group_by": query.group_by.value,
        "currency": owner.currency,
        "time_zone": owner.time_zone,
        "amounts": "cost of usage, positive",
    }


def _rows(rollups: Iterable[tuple[RollupKey, RollupTotals]], query: ReportQuery) -> list[UsageRow]:
    return group_rollups(rollups, query.first, query.last, query.group_by, query.categories)


def account_usage(principal: Principal, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
    account = require(principal, Action.READ, account_id)
    query = parse_report_query(params, account.time_zone)
    rollups = stores().rollups.of_account(scoped(account), bucket_ranges(query.first, query.last, query.group_by))
    return {**_header(account, query), **_block(account, query, _rows(rollups.items(), query))}


# -- agencies ---------------------------------------------------------------------------------------


def agency_accounts(agency: Account, accounts: Iterable[Account] | None = None) -> list[Account]:
    """The agency itself first, then its sub-accounts by name."""
    subs = stores().accounts.sub_accounts(agency.account_id) if accounts is None else list(accounts)
    return [agency, *sorted(subs, key=lambda a: (a.name.casefold(), a.account_id))]


@dataclass(frozen=True)
class AgencyReads:
    accounts: list[Account]  # the agency first, then its sub-accounts by name
    rollups: list[dict[RollupKey, RollupTotals]]  # one per range list asked for


def read_agency(agency: Account, range_lists: Sequence[Sequence[BucketRange]]) -> AgencyReads:
    """The agency's accounts and its rollups over each list of ranges, every query side by side."""
    repo = stores().rollups
    calls: list[Any] = [lambda: stores().accounts.sub_accounts(agency.account_id)]
    spans: list[int] = []
    for ranges in range_lists:
        part = repo.of_scope_calls(agency.account_id, ranges)
        spans.append(len(part))
        calls += part
    results = run_all(calls)
    accounts = agency_accounts(agency, results[0])
    rollups, at = [], 1
    for size in spans:
        merged: dict[RollupKey, RollupTotals] = {}
        for part_result in results[at : at + size]:
            merged.update(part_result)
        rollups.append(merged)
        at += size
    return AgencyReads(accounts, rollups)


def _by_account(rollups: Mapping[RollupKey, RollupTotals]) -> dict[str, list[tuple[RollupKey, RollupTotals]]]:
    grouped: dict[str, list[tuple[RollupKey, RollupTotals]]] = defaultdict(list)
    for key, totals in rollups.items():
        grouped[key.account_id].append((key, totals))
    return grouped


def _currencies(agency: Account, accounts: Iterable[Account]) -> list[str]:
    """The agency's currency first, then any other its accounts bill in."""
    others = sorted({a.currency for a in accounts} - {agency.currency})
    return [agency.currency, *others]


def _sort_key(agency: Account, sort: str, costs: Mapping[str, int]) -> Any:
    def key(account: Account) -> SortKey:
        name = account.name.casefold()
        if sort == "name":
            return (0 if account.account_id == agency.account_id else 1, name, account.account_id)
        currency_rank = 0 if account.currency == agency.currency else 1
        return (currency_rank, account.currency, -costs.get(account.account_id, 0), name, account.account_id)

    return key


def _select(
    agency: Account,
    accounts: Sequence[Account],
    listing: ListQuery,
    costs: Mapping[str, int],
) -> tuple[list[Account], SortKey | None, int]:
    matched = [a for a in accounts if not listing.q or matches_search(listing.q, a.name, a.account_id)]
    page, last = page_after(matched, _sort_key(agency, listing.sort, costs), listing.after, listing.limit)
    return page, last, len(matched)


def _list_fields(
    scope: str, key: Mapping[str, object], listing: ListQuery, last: SortKey | None, matched: int
) -> dict[str, Any]:
    return {
        "sort": listing.sort,
        "q": listing.q or None,
        "limit": listing.limit,
        "matched": matched,
        "next_cursor": next_cursor(scope, {**key, **listing.key()}, {"after": list(last)} if last else None),
    }


def agency_usage(
    principal: Principal, agency_id: str, params: Mapping[str, str], *, every_account: bool = False
) -> dict[str, Any]:
    """Usage of every account of the agency: per-account blocks (a page of them, or every one
    for `every_account`, as the CSV export wants), and totals over all, per currency."""
    agency = require(principal, Action.READ_AGENCY, agency_id)
    query = parse_report_query(params, agency.time_zone)
    report_key = {
        "from": query.first,
        "to": query.last,
        "group_by": query.group_by,
        "categories": sorted(query.categories),
    }
    scope = f"agency-usage:{agency_id}"
    listing = parse_list_query(params, scope, report_key, "name")
    reads = read_agency(agency, [bucket_ranges(query.first, query.last, query.group_by)])
    grouped = _by_account(reads.rollups[0])
    rows_of = {a.account_id: _rows(grouped.get(a.account_id, ()), query) for a in reads.accounts}
    costs = {
        account_id: sum(cost_micros(t) for t in totals_by_category(rows).values())
        for account_id, rows in rows_of.items()
    }
    if every_account:
        listing = ListQuery(len(reads.accounts) or 1, listing.sort, listing.q, None)
    page, last, matched = _select(agency, reads.accounts, listing, costs)
    units = _units(agency)
    by_currency = []
    for currency in _currencies(agency, reads.accounts):
        members = [a for a in reads.accounts if a.currency == currency]
        combined: dict[tuple[str, Category], UsageRow] = {}
        for account in members:
            for row in rows_of[account.account_id]:
                merged = combined.setdefault((row.period.key, row.category), UsageRow(row.period, row.category))
                merged.totals.add(row.totals)
        total_rows = sorted(combined.values(), key=lambda r: (r.period.start, r.category.value))
        totals = totals_by_category(total_rows)
        by_currency.append(
            {
                "currency": currency,
                "accounts": len(members),
                "rows": [_row_json(r, units) for r in total_rows],
                "by_category": [_totals_json(c, t, units) for c, t in totals.items()],
                "total_amount": format_micros(sum(cost_micros(t) for t in totals.values())),
            }
        )
    return {
        **_header(agency, query),
        "agency_id": agency.account_id,
        "accounts": [_block(a, query, rows_of[a.account_id]) for a in page],
        **_list_fields(scope, report_key, listing, last, matched),
        "totals": by_currency[0],
        "totals_by_currency": by_currency,
    }


def _activity(totals: Mapping[Category, RollupTotals]) -> dict[str, Any]:
    calls = totals.get(Category.CALL_MINUTES, RollupTotals())
    return {
        "calls": calls.count,
        "minutes": format_quantity_micros(calls.quantity_micros),
        "texts": format_quantity_micros(totals.get(Category.TEXT_MESSAGES, RollupTotals()).quantity_micros),
        "numbers_renewed": format_quantity_micros(totals.get(Category.NUMBER_RENEWALS, RollupTotals()).quantity_micros),
    }


def _summaries(
    accounts: Sequence[Account], rollups: Mapping[RollupKey, RollupTotals], first: date, last: date
) -> dict[str, dict[Category, RollupTotals]]:
    query = ReportQuery(first, last, GroupBy.TOTAL, USAGE_CATEGORIES)
    grouped = _by_account(rollups)
    return {a.account_id: totals_by_category(_rows(grouped.get(a.account_id, ()), query)) for a in accounts}


def agency_dashboard(principal: Principal, agency_id: str, params: Mapping[str, str]) -> dict[str, Any]:
    """Per account of the agency: activity, cost, balance and trend (a page, by cost or name);
    totals over every account, per currency."""
    agency = require(principal, Action.READ_AGENCY, agency_id)
    query = parse_report_query({k: v for k, v in params.items() if k in ("from", "to")}, agency.time_zone)
    compared = comparison_period(query.first, query.last)
    report_key = {"from": query.first, "to": query.last}
    scope = f"agency-dashboard:{agency_id}"
    listing = parse_list_query(params, scope, report_key, "cost")
    reads = read_agency(
        agency,
        [
            bucket_ranges(query.first, query.last, GroupBy.TOTAL),
            bucket_ranges(compared.first, compared.last, GroupBy.TOTAL),
        ],
    )
    current = _summaries(reads.accounts, reads.rollups[0], query.first, query.last)
    previous = _summaries(reads.accounts, reads.rollups[1], compared.first, compared.last)
    cost = {a: sum(map(cost_micros, t.values())) for a, t in current.items()}
    previous_cost = {a: sum(map(cost_micros, t.values())) for a, t in previous.items()}
    page, last, matched = _select(agency, reads.accounts, listing, cost)
    balances = stores().ledger.balances(sorted({a.billing_account_id for a in page}))
    threshold = get_settings().low_balance_micros
    currency_total: dict[str, int] = defaultdict(int)
    for account in reads.accounts:
        currency_total[account.currency] += cost[account.account_id]

    rows = []
    for account in page:
        balance = balances[account.billing_account_id].balance_micros
        rows.append(
            {
                "account_id": account.account_id,
                "account_name": account.name,
                "kind": account.kind.value,
                "billing": account.billing.value,
                "billing_account_id": account.billing_account_id,
                "currency": account.currency,
                **_activity(current[account.account_id]),
                "cost": format_micros(cost[account.account_id]),
                "share_percent": percent(cost[account.account_id], currency_total[account.currency]),
                "previous_cost": format_micros(previous_cost[account.account_id]),
                "change_percent": percent(
                    cost[account.account_id] - previous_cost[account.account_id], previous_cost[account.account_id]
                ),
                "balance": format_micros(balance),
                "status": balance_status(balance, threshold).value,
            }
        )
    by_currency = []
    for currency in _currencies(agency, reads.accounts):
        members = [a.account_id for a in reads.accounts if a.currency == currency]
        now_cost = sum(cost[a] for a in members)
        then_cost = sum(previous_cost[a] for a in members)
        by_currency.append(
            {
                "currency": currency,
                **_activity(sum_totals(current[a] for a in members)),
                "cost": format_micros(now_cost),
                "previous_cost": format_micros(then_cost),
                "change_percent": percent(now_cost - then_cost, then_cost),
                "accounts": len(members),
            }
        )
    return {
        "agency_id": agency.account_id,
        "from": query.first.isoformat(),
        "to": query.last.isoformat(),
        "previous_from": compared.first.isoformat(),
        "previous_to": compared.last.isoformat(),
        "compared_with": compared.label,
        "time_zone": agency.time_zone,
        "currency": agency.currency,
        "accounts": rows,
        **_list_fields(scope, report_key, listing, last, matched),
        "totals": by_currency[0],
        "totals_by_currency": by_currency,
    }


def agency_account_list(principal: Principal, agency_id: str, params: Mapping[str, str]) -> dict[str, Any]:
    """The agency and its sub-accounts by name, a page at a time, `q` to find one: the switcher."""
    agency = require(principal, Action.READ_AGENCY, agency_id)
    scope = f"agency-accounts:{agency_id}"
    listing = parse_list_query(params, scope, {}, "name")
    if listing.sort != "name":
        raise BadRequest("sort must be name")
    accounts = agency_accounts(agency)
    page, last, matched = _select(agency, accounts, listing, {})
    return {
        "agency_id": agency.account_id,
        "items": [
            {
                "account_id": a.account_id,
                "name": a.name,
                "kind": a.kind.value,
                "billing": a.billing.value,
                "currency": a.currency,
                "time_zone": a.time_zone,
            }
            for a in page
        ],
        **_list_fields(scope, {}, listing, last, matched),
        "total": len(accounts),
    }


USAGE_CSV_COLUMNS = [
    "account_id",
    "account_name",
    "billing",
    "time_zone",
    "period",
    "period_start",
    "period_end",
    "category",
    "count",
    "quantity",
    "unit",
    "amount",
    "currency",
]


def usage_csv(report: Mapping[str, Any]) -> str:
    """One row per account x period x category, from an account or agency report."""
    blocks = report.get("accounts") or [report]
    rows = (
        {
            **{k: block[k] for k in ("account_id", "account_name", "billing", "time_zone")},
            **row,
            "currency": block.get("currency") or report["currency"],
        }
        for block in blocks
        for row in block["rows"]
    )
    return to_csv(rows, USAGE_CSV_COLUMNS)


def spend_over_last_days(payer: Account, days: int, rollups: RollupStore | None = None) -> int:
    """Usage cost drawn from `payer`'s balance over the last `days` complete local days of each account."""
    rollups = rollups or stores().rollups

    def window(account: Account) -> tuple[date, date]:
        today = stores().clock().astimezone(account.zone).date()
        return today - timedelta(days=days), today - timedelta(days=1)

    if payer.kind is not AccountKind.AGENCY:
        first, last = window(payer)
        query = ReportQuery(first, last, GroupBy.TOTAL, USAGE_CATEGORIES)
        found = rollups.of_account(scoped(payer), bucket_ranges(first, last, GroupBy.TOTAL))
        return sum(cost_micros(t) for t in totals_by_category(_rows(found.items(), query)).values())
    # An agency pays for itself and its shared sub-accounts: one read of the agency's days
    # (a day either side of the agency's window covers every sub-account's own zone).
    agency_first, agency_last = window(payer)
    reads = read_agency(
        payer, [bucket_ranges(agency_first - timedelta(days=1), agency_last + timedelta(days=1), GroupBy.DAY)]
    )
    windows = {a.account_id: window(a) for a in reads.accounts if a.billing_account_id == payer.account_id}
    total = 0
    for key, totals in reads.rollups[0].items():
        span = windows.get(key.account_id)
        if span and key.category in USAGE_CATEGORIES and span[0].isoformat() <= key.bucket <= span[1].isoformat():
            total += cost_micros(totals)
    return total
