"""Account Usage, Agency Usage and the Agency Dashboard, read from rollups only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..adapters.accounts_repo import AccountRepository
from ..adapters.ledger_repo import LedgerRepository
from ..adapters.rollups_repo import RollupRepository
from ..config import get_settings
from ..domain.access import Action, Principal
from ..domain.accounts import Account, AccountKind
from ..domain.balance import balance_status
from ..domain.categories import USAGE_CATEGORIES, Category
from ..domain.money import format_micros, format_quantity_micros, percent
from ..domain.periods import PeriodError, format_instant, local_range
from ..domain.pricing import default_rates
from ..domain.reports import (
    GroupBy,
    UsageRow,
    bucket_ranges,
    cost_micros,
    group_rollups,
    sum_totals,
    totals_by_category,
)
from ..domain.rollups import RollupKey, RollupTotals
from .accounts import require
from .csv_export import to_csv
from .errors import BadRequest


@dataclass(frozen=True)
class ReportQuery:
    first: date
    last: date
    group_by: GroupBy
    categories: frozenset[Category]


def parse_report_query(
    params: Mapping[str, str], zone_name: str, default_group: GroupBy = GroupBy.TOTAL
) -> ReportQuery:
    """from/to (local dates, `to` inclusive; default this month to date), group_by, category."""
    today = datetime.now(UTC).astimezone(ZoneInfo(zone_name)).date()
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


def _units(account: Account) -> dict[Category, str]:
    rates = {**default_rates(get_settings().default_rates_json), **account.rates}
    return {category: rate.unit for category, rate in rates.items()}


def _usage_rows(account: Account, query: ReportQuery, rollups: RollupRepository) -> list[UsageRow]:
    read: list[tuple[RollupKey, RollupTotals]] = []
    for r in bucket_ranges(query.first, query.last, query.group_by):
        read.extend(rollups.range(account.account_id, r.period, r.first, r.last).items())
    return group_rollups(read, query.first, query.last, query.group_by, query.categories)


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


def _block(account: Account, query: ReportQuery, rollups: RollupRepository) -> tuple[dict[str, Any], list[UsageRow]]:
    rows = _usage_rows(account, query, rollups)
    units = _units(account)
    period = local_range(query.first.isoformat(), query.last.isoformat(), account.time_zone)
    totals = totals_by_category(rows)
    block = {
        "account_id": account.account_id,
        "account_name": account.name,
        "billing": account.billing.value,
        "time_zone": account.time_zone,
        "start": format_instant(period.start) if period.start else None,
        "end": format_instant(period.end) if period.end else None,
        "rows": [_row_json(r, units) for r in rows],
        "totals": [_totals_json(c, t, units) for c, t in totals.items()],
        "total_amount": format_micros(sum(cost_micros(t) for t in totals.values())),
    }
    return block, rows


def _header(owner: Account, query: ReportQuery) -> dict[str, Any]:
    return {
        "from": query.first.isoformat(),
        "to": query.last.isoformat(),
        "group_by": query.group_by.value,
        "currency": owner.currency,
        "time_zone": owner.time_zone,
        "amounts": "cost of usage, positive",
    }


def account_usage(principal: Principal, account_id: str, params: Mapping[str, str]) -> dict[str, Any]:
    account = require(principal, Action.READ, account_id)
    query = parse_report_query(params, account.time_zone)
    block, _ = _block(account, query, RollupRepository())
    return {**_header(account, query), **block}


def agency_accounts(agency: Account) -> list[Account]:
    """The agency itself first, then its sub-accounts by name."""
    subs = sorted(AccountRepository().sub_accounts(agency.account_id), key=lambda a: (a.name.lower(), a.account_id))
    return [agency, *subs]


def agency_usage(principal: Principal, agency_id: str, params: Mapping[str, str]) -> dict[str, Any]:
    agency = require(principal, Action.READ_AGENCY, agency_id)
    query = parse_report_query(params, agency.time_zone)
    rollups = RollupRepository()
    blocks, all_rows = [], []
    for account in agency_accounts(agency):
        block, rows = _block(account, query, rollups)
        blocks.append(block)
        all_rows.extend(rows)
    units = _units(agency)
    combined: dict[tuple[str, Category], UsageRow] = {}
    for row in all_rows:
        merged = combined.setdefault((row.period.key, row.category), UsageRow(row.period, row.category))
        merged.totals.add(row.totals)
    total_rows = sorted(combined.values(), key=lambda r: (r.period.start, r.category.value))
    totals = totals_by_category(total_rows)
    return {
        **_header(agency, query),
        "agency_id": agency.account_id,
        "accounts": blocks,
        "totals": {
            "rows": [_row_json(r, units) for r in total_rows],
            "by_category": [_totals_json(c, t, units) for c, t in totals.items()],
            "total_amount": format_micros(sum(cost_micros(t) for t in totals.values())),
        },
    }


def _summary(account: Account, first: date, last: date, rollups: RollupRepository) -> dict[Category, RollupTotals]:
    query = ReportQuery(first, last, GroupBy.TOTAL, USAGE_CATEGORIES)
    return totals_by_category(_usage_rows(account, query, rollups))


def _activity(totals: Mapping[Category, RollupTotals]) -> dict[str, Any]:
    calls = totals.get(Category.CALL_MINUTES, RollupTotals())
    return {
        "calls": calls.count,
        "minutes": format_quantity_micros(calls.quantity_micros),
        "texts": format_quantity_micros(totals.get(Category.TEXT_MESSAGES, RollupTotals()).quantity_micros),
        "numbers_renewed": format_quantity_micros(totals.get(Category.NUMBER_RENEWALS, RollupTotals()).quantity_micros),
    }


def agency_dashboard(principal: Principal, agency_id: str, params: Mapping[str, str]) -> dict[str, Any]:
    """Per account of the agency: activity, cost, balance and trend; sorted by cost."""
    agency = require(principal, Action.READ_AGENCY, agency_id)
    query = parse_report_query({k: v for k, v in params.items() if k in ("from", "to")}, agency.time_zone)
    length = (query.last - query.first).days + 1
    prev_first, prev_last = query.first - timedelta(days=length), query.first - timedelta(days=1)
    rollups = RollupRepository()
    accounts = agency_accounts(agency)
    balances = LedgerRepository().balances([a.billing_account_id for a in accounts])
    threshold = get_settings().low_balance_micros

    measured = []
    for account in accounts:
        current = _summary(account, query.first, query.last, rollups)
        previous = _summary(account, prev_first, prev_last, rollups)
        measured.append(
            (account, current, sum(map(cost_micros, current.values())), sum(map(cost_micros, previous.values())))
        )
    total_cost = sum(m[2] for m in measured)
    total_previous = sum(m[3] for m in measured)
    measured.sort(key=lambda m: (-m[2], m[0].name.lower(), m[0].account_id))

    rows = []
    for account, current, cost, previous_cost in measured:
        balance = balances[account.billing_account_id].balance_micros
        rows.append(
            {
                "account_id": account.account_id,
                "account_name": account.name,
                "kind": account.kind.value,
                "billing": account.billing.value,
                "billing_account_id": account.billing_account_id,
                **_activity(current),
                "cost": format_micros(cost),
                "share_percent": percent(cost, total_cost),
                "previous_cost": format_micros(previous_cost),
                "change_percent": percent(cost - previous_cost, previous_cost),
                "balance": format_micros(balance),
                "status": balance_status(balance, threshold).value,
            }
        )
    return {
        "agency_id": agency.account_id,
        "from": query.first.isoformat(),
        "to": query.last.isoformat(),
        "previous_from": prev_first.isoformat(),
        "previous_to": prev_last.isoformat(),
        "time_zone": agency.time_zone,
        "currency": agency.currency,
        "accounts": rows,
        "totals": {
            **_activity(sum_totals(m[1] for m in measured)),
            "cost": format_micros(total_cost),
            "previous_cost": format_micros(total_previous),
            "change_percent": percent(total_cost - total_previous, total_previous),
            "accounts": len(rows),
        },
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
            "currency": report["currency"],
        }
        for block in blocks
        for row in block["rows"]
    )
    return to_csv(rows, USAGE_CSV_COLUMNS)


def accounts_drawing_from(payer: Account) -> list[Account]:
    """The accounts whose usage moves `payer`'s balance: itself and its shared sub-accounts."""
    if payer.kind is not AccountKind.AGENCY:
        return [payer]
    shared = [a for a in AccountRepository().sub_accounts(payer.account_id) if a.billing_account_id == payer.account_id]
    return [payer, *shared]


def spend_over_last_days(payer: Account, days: int, rollups: RollupRepository | None = None) -> int:
    """Usage cost drawn from `payer`'s balance over the last `days` complete local days."""
    rollups = rollups or RollupRepository()
    total = 0
    for account in accounts_drawing_from(payer):
        today = datetime.now(UTC).astimezone(account.zone).date()
        query = ReportQuery(today - timedelta(days=days), today - timedelta(days=1), GroupBy.TOTAL, USAGE_CATEGORIES)
        total += sum(cost_micros(t) for t in totals_by_category(_usage_rows(account, query, rollups)).values())
    return total
