"""`agency_scale`: what each agency page costs at 10, 100 and 1,000 sub-accounts.

The agency (America/Chicago) has N sub-accounts in five time zones, nine in ten on
the agency's balance and one in ten on its own, every one with usage in each of the
last 13 months (calls, texts, a monthly number renewal) and the own-billing ones a
monthly recharge. Data goes in through the service functions (`put_account`,
`record_usage` with 100-event messages, 10 a call), as production would write it.

Counted per page (botocore hooks on every DynamoDB client): requests, round trips
on the critical path (requests that ran side by side count once), items read, the
local wall time (median of 3 runs, interleaved page by page) and the projected time
at 10 ms a round trip. Pages, called as the routes call them:

- dashboard for last month, and for an unaligned range (the 17th eight months ago
  to the 23rd of last month), first page of 50 by cost;
- usage over the 12 last complete months (group_by=month), the unaligned range
  (group_by=total) and the 12 months as CSV (every account);
- agency Logs, first page of 50 and the next;
- the account switcher (first page by name) and a search (`q=`) for one client;
- the agency statement of last month (its numbers: every read a statement makes).

Also: at N=100, the events are doubled (more events on the same days) and every
page is counted again: items read must not change (they grow with accounts and
periods, not events).
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .counting import RequestCounter

SIZES = (10, 100, 1_000)
AGENCY_ZONE = "America/Chicago"
ZONES = ("America/New_York", "Europe/London", "Asia/Kolkata", "America/Los_Angeles", "UTC")
OWN_EVERY = 10  # one sub-account in ten pays its own
MONTHS = 13
PAGE = 50
RUNS = 3
ROUND_TRIP_MS = 10
SEED = 20261202

MAX_REQUESTS = 60
MAX_ROUND_TRIPS = 6
LOG_ITEMS_SLACK = 16  # a page or two per shard beyond the rows returned


@dataclass(frozen=True)
class Agency:
    agency_id: str
    subs: list[str]
    own: list[str]
    today: date  # in the agency's zone


def _months_back(today: date, months: int) -> date:
    index = today.year * 12 + today.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def build_agency(run: str, subs: int, events_per_month: int = 2, seed: int = SEED, months: int = MONTHS) -> Agency:
    """An agency with `subs` sub-accounts and `months` months of usage, written through the services."""
    from chalicelib.adapters.concurrency import run_all
    from chalicelib.domain.access import Principal, Role
    from chalicelib.services.accounts import put_account

    service = Principal("bench", "platform", Role.SERVICE)
    agency = f"{run}-agency"
    put_account(service, agency, {"name": f"Agency {run}", "kind": "agency", "time_zone": AGENCY_ZONE})
    ids = [f"{run}-c{i:04d}" for i in range(subs)]
    own = [a for i, a in enumerate(ids) if i % OWN_EVERY == OWN_EVERY - 1]

    def provision(i: int, account_id: str) -> None:
        put_account(
            service,
            account_id,
            {
                "name": f"Client {i:04d} {random.Random(i).choice(['Dental', 'Roofing', 'Law', 'Auto', 'Spa'])}",
                "agency_id": agency,
                "billing": "own" if account_id in own else "agency",
                "time_zone": ZONES[i % len(ZONES)],
            },
        )

    for start in range(0, subs, 64):
        run_all([lambda i=i, a=a: provision(i, a) for i, a in enumerate(ids) if start <= i < start + 64])  # type: ignore[misc]
    today = datetime.now(UTC).astimezone(ZoneInfo(AGENCY_ZONE)).date()
    write_usage(run, agency, ids, own, today, events_per_month, seed, months=months)
    return Agency(agency, ids, own, today)


def write_usage(
    run: str,
    agency: str,
    ids: list[str],
    own: list[str],
    today: date,
    per_month: int,
    seed: int,
    tag: str = "a",
    months: int = MONTHS,
) -> int:
    """Per sub-account and month: `per_month` calls and texts, a number renewal; own payers a recharge."""
    from chalicelib.services.usage import QueuedMessage, record_usage

    # Days from a generator of their own: more events (another tag) land on the same days.
    days_rng = random.Random(f"{seed}:{run}")
    rng = random.Random(f"{seed}:{run}:{tag}")
    by_billing: dict[str, list[dict[str, Any]]] = {}
    now = datetime.now(UTC)
    for account in ids:
        billing = account if account in own else agency
        for m in range(months):
            first = _months_back(today, m)
            days = 28
            for k in range(per_month + 1):
                day = first + timedelta(days=days_rng.randrange(days))
                occurred = datetime(day.year, day.month, day.day, 15, days_rng.randrange(60), tzinfo=UTC)
                if occurred > now - timedelta(minutes=5):
                    continue
                event: dict[str, Any] = {
                    "event_id": f"{run}-{tag}-{account}-{m}-{k}",
                    "account_id": account,
                    "occurred_at": occurred.strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
                if k == per_month:
                    event.update(category="number_renewals", quantity="1", description="Tracking number renewal")
                elif k % 2 == 0:
                    event.update(category="call_minutes", quantity=str(rng.randint(1, 30)), metadata={"call": k})
                else:
                    event.update(category="text_messages", quantity=str(rng.randint(1, 3)))
                by_billing.setdefault(billing, []).append(event)
            if account in own and tag == "a":
                when = datetime(first.year, first.month, 1, 12, tzinfo=UTC)
                if when < now:
                    by_billing.setdefault(billing, []).append(  # its calls may all be still to come
                        {
                            "event_id": f"{run}-{account}-{m}-recharge",
                            "account_id": account,
                            "category": "recharge",
                            "amount": "25.00",
                            "occurred_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        }
                    )
    messages = []
    for billing, events in by_billing.items():
        for start in range(0, len(events), 100):
            body = json.dumps({"events": events[start : start + 100]})
            messages.append(QueuedMessage(f"{billing}-{tag}-{start}", body, billing))
    charged = 0
    for start in range(0, len(messages), 10):
        outcome = record_usage(messages[start : start + 10], dead_letter=_refuse)
        if outcome.failed_message_ids:
            raise RuntimeError(f"agency data not written: {outcome}")
        charged += outcome.charged
    return charged


def _refuse(_message: object, reason: str, _raw: str) -> None:
    raise RuntimeError(f"agency event refused: {reason}")


def pages(agency: Agency) -> dict[str, Callable[[], Any]]:
    """Every agency page, as its route calls the service (an agency admin asking)."""
    from chalicelib.adapters.accounts_repo import AccountRepository
    from chalicelib.domain.access import Principal, Role
    from chalicelib.services import logs, reports
    from chalicelib.services.statements import build_numbers

    admin = Principal("bench-admin", agency.agency_id, Role.ADMIN)
    last_month_first = _months_back(agency.today, 1)
    last_month_last = agency.today.replace(day=1) - timedelta(days=1)
    year_first = _months_back(agency.today, 12)
    unaligned = {
        "from": _months_back(agency.today, 8).replace(day=17).isoformat(),
        "to": last_month_last.replace(day=23).isoformat(),
    }
    month = {"from": last_month_first.isoformat(), "to": last_month_last.isoformat()}
    year = {"from": year_first.isoformat(), "to": last_month_last.isoformat()}
    first_logs = logs.agency_logs(admin, agency.agency_id, {}, PAGE)
    cursor = first_logs.next_cursor or ""
    search = agency.subs[len(agency.subs) // 2]

    def statement() -> Any:
        owner = AccountRepository().get(agency.agency_id)
        assert owner is not None
        return build_numbers(
            owner, last_month_first, last_month_last, statement_id="st_" + "0" * 24, now=datetime.now(UTC)
        )

    return {
        "dashboard_month": lambda: reports.agency_dashboard(admin, agency.agency_id, month),
        "dashboard_unaligned": lambda: reports.agency_dashboard(admin, agency.agency_id, unaligned),
        "usage_12_months": lambda: reports.agency_usage(admin, agency.agency_id, {**year, "group_by": "month"}),
        "usage_unaligned": lambda: reports.agency_usage(admin, agency.agency_id, unaligned),
        "usage_12_months_csv": lambda: reports.usage_csv(
            reports.agency_usage(admin, agency.agency_id, {**year, "group_by": "month"}, every_account=True)
        ),
        "logs_page_1": lambda: logs.agency_logs(admin, agency.agency_id, {}, PAGE),
        "logs_page_2": lambda: logs.agency_logs(admin, agency.agency_id, {"cursor": cursor}, PAGE),
        "switcher": lambda: reports.agency_account_list(admin, agency.agency_id, {}),
        "switcher_search": lambda: reports.agency_account_list(admin, agency.agency_id, {"q": search}),
        "agency_statement": statement,
    }


def rows_returned(result: Any) -> int | None:
    if hasattr(result, "rows"):
        return len(result.rows)
    return None


def measure(counter: RequestCounter, agency: Agency, runs: int = RUNS) -> dict[str, Any]:
    """Every page counted once per run, runs interleaved page by page; the median wall time."""
    calls = pages(agency)
    found: dict[str, Any] = {}
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(runs):
        for name, call in calls.items():
            with counter.window() as tally:
                started = time.perf_counter()
                result = call()
                times[name].append((time.perf_counter() - started) * 1000)
            counted = tally.as_dict()
            found[name] = {
                "requests": counted["requests"],
                "round_trips": counted["round_trips"],
                "items_read": counted["items_read"],
                "items_read_by_table": counted["items_read_by_table"],
                "requests_by_operation": counted["requests_by_operation"],
                "rows_returned": rows_returned(result),
            }
    for name, page in found.items():
        page["local_ms_median"] = round(statistics.median(times[name]), 1)
        page["projected_ms_at_10ms_round_trips"] = page["round_trips"] * ROUND_TRIP_MS
    return found


def run(counter: RequestCounter, sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    from chalicelib.adapters.tables.base import all_models

    results: dict[str, Any] = {}
    for size in sizes:
        print(f"agency_scale: {size} sub-accounts: writing ...", flush=True)
        started = time.perf_counter()
        agency = build_agency(f"s{size}", size)
        counter.attach_models(all_models())
        built = round(time.perf_counter() - started, 1)
        print(f"agency_scale: {size} sub-accounts: counting ...", flush=True)
        results[str(size)] = {
            "sub_accounts": size,
            "own_billing": len(agency.own),
            "build_s": built,
            "pages": measure(counter, agency),
        }
        if size == 100:
            extra = write_usage(
                agency.agency_id[: -len("-agency")],
                agency.agency_id,
                agency.subs,
                agency.own,
                agency.today,
                2,
                SEED,
                tag="b",
            )
            again = measure(counter, agency, runs=1)
            results[str(size)]["doubled_events"] = {
                "events_added": extra,
                "items_read": {name: p["items_read"] for name, p in again.items()},
            }
    return {"config": {"sizes": list(sizes), "page": PAGE, "months_of_usage": MONTHS, "runs": RUNS}, "sizes": results}


def targets(bench: dict[str, Any]) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    sizes = bench["sizes"]
    worst = max(((p["requests"], f"{s}: {n}") for s, v in sizes.items() for n, p in v["pages"].items()))
    checks["agency_pages_requests_max"] = {
        "limit": f"<= {MAX_REQUESTS} DynamoDB requests for every agency page at 10, 100 and 1,000 sub-accounts",
        "value": worst[0],
        "where": worst[1],
        "met": worst[0] <= MAX_REQUESTS,
    }
    deepest = max(((p["round_trips"], f"{s}: {n}") for s, v in sizes.items() for n, p in v["pages"].items()))
    checks["agency_pages_round_trips_max"] = {
        "limit": f"<= {MAX_ROUND_TRIPS} round trips on the critical path",
        "value": deepest[0],
        "where": deepest[1],
        "met": deepest[0] <= MAX_ROUND_TRIPS,
    }

    def table_items(page: dict[str, Any], table: str) -> int:
        return sum(n for name, n in page["items_read_by_table"].items() if name.endswith(table))

    excess = [
        (
            table_items(p, "ledger_pages") - (p["rows_returned"] or 0),
            table_items(p, "accounts"),
            p["rows_returned"],
            f"{s}: {n}",
        )
        for s, v in sizes.items()
        for n, p in v["pages"].items()
        if n.startswith("logs_")
    ]
    most = max(excess)
    checks["agency_logs_items_beyond_rows"] = {
        "limit": f"Logs pages read <= rows returned + {LOG_ITEMS_SLACK}; accounts read <= rows returned",
        "value": most[0],
        "where": most[3],
        "met": all(over <= LOG_ITEMS_SLACK and accounts <= (rows or 0) + 1 for over, accounts, rows, _ in excess),
    }
    doubled = sizes.get("100", {}).get("doubled_events")
    if doubled:
        before = {n: p["items_read"] for n, p in sizes["100"]["pages"].items()}
        changed = {
            n: (before[n], after)
            for n, after in doubled["items_read"].items()
            if n in before and after != before[n] and not n.startswith("logs_")
        }
        checks["agency_pages_items_independent_of_events"] = {
            "limit": "items read at 100 sub-accounts unchanged after doubling the events (Logs aside: a page of rows)",
            "value": changed or "unchanged",
            "met": not changed,
        }
    return checks
