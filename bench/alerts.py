"""`alerts`: what usage alerts cost the ledger writer, at an agency of 1,000 sub-accounts.

The same traffic as `ingest`'s hot agency (events packed 100 to a message for the agency's
balance, 10 messages an invocation, as FIFO delivers them; 60% calls, 40% texts, 5% up to
two days late) over an agency whose 1,000 sub-accounts all draw from its balance, written
three times: with no usage alert, with one (the agency's cost this month), and with fifty
(agency totals and each-client alerts of every period and measure, and forty clients' own
alerts). Counted as `ingest` counts: requests and round trips per 1,000 events, write
capacity all in (bench/capacity.py), items read. What the alerts add is the difference with
the run without: reads per invocation (a batch) must not grow with the agency: the same
fifty alerts over an agency of 100 sub-accounts read as many requests per batch.

Every firing is checked against the events: one per (alert, subject, period) whose final
value reached the threshold, none for the others. Deliveries are not queued here (no SQS):
the firings are what is counted.

Also: what the balance view (its runway: `upcoming`, `covered_until`) and the attention list
cost for the agency of 1,000 sub-accounts (requests, round trips).
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .capacity import fetch_final_items, shapes_of_models, write_capacity
from .counting import RequestCounter, Tally
from .ingest import (
    EVENTS_PER_MESSAGE,
    MESSAGES_PER_INVOCATION,
    Population,
    _funded,
    deliver,
    make_workload,
    packed_messages,
)

SUBS = 1_000
SMALL_SUBS = 100
EVENTS = 5_000
ZONES = ("America/New_York", "America/Chicago", "Europe/London", "Asia/Tokyo", "UTC")
# Reads an invocation (a batch) adds, whatever the agency's size: the agency's guard, and one query per
# rollup partition and shard of the periods its events touch (4 shards: a week of days that spans two
# months is 8, a year of months 4), the clients' currencies now and then, a client's own counters by key.
MAX_ALERT_READS_PER_BATCH = 16


def provision(run: str, subs: int) -> Population:
    from chalicelib.adapters.concurrency import run_all
    from chalicelib.domain.access import Principal, Role
    from chalicelib.services.accounts import put_account

    service = Principal("bench", "platform", Role.SERVICE)
    agency = f"{run}-agency"
    put_account(service, agency, {"name": f"Agency {run}", "kind": "agency", "time_zone": "America/Chicago"})
    ids = [f"{run}-c{i:04d}" for i in range(subs)]

    def make(i: int, account_id: str) -> None:
        put_account(
            service,
            account_id,
            {"name": f"Client {i}", "agency_id": agency, "billing": "agency", "time_zone": ZONES[i % len(ZONES)]},
        )

    for start in range(0, subs, 64):
        run_all([lambda i=i, a=a: make(i, a) for i, a in enumerate(ids) if start <= i < start + 64])  # type: ignore[misc]
    return _funded(run, Population({agency: [agency, *ids]}))


def alert_set(population: Population, count: int, storm: bool = False) -> list[tuple[str, bool, dict[str, Any]]]:
    """(owner, agency-wide, body) of `count` alerts: 0, 1 (the agency's cost this month) or 50 of every
    kind. Thresholds as people set them (a few fire), or, with `storm`, so low that one event in three
    or so makes one fire (the worst case: every firing is an item of its transaction)."""
    (agency,) = population.billing_ids
    subs = [a for a in population.members[agency] if a != agency]

    def body(category: str, measure: str, period: str, threshold: str, **extra: Any) -> dict[str, Any]:
        return {"name": f"{measure} {category} {period}", "category": category, "measure": measure,
                "period": period, "threshold": threshold, "recipients": ["ops@agency.example"], **extra}  # fmt: skip

    one = [(agency, True, body("total", "cost", "month", "500.00"))]
    if count == 0:
        return []
    if count == 1:
        return one
    low = storm  # thresholds a busy client reaches within a day
    totals = [
        body("total", "cost", "day", "200.00" if low else "2000.00"),
        body("total", "count", "week", "3000" if low else "50000"),
        body("total", "count", "year", "1000000"),
        body("call_minutes", "quantity", "day", "20000" if low else "200000"),
        body("text_messages", "count", "month", "1500" if low else "30000"),
    ]
    each = [
        body("total", "cost", "month", "2.00" if low else "3.00", each_account=True),
        body("total", "count", "day", "3" if low else "12", each_account=True),
        body("call_minutes", "quantity", "day", "60" if low else "400", each_account=True),
        body("total", "count", "week", "10" if low else "40", each_account=True),
    ]
    own_kinds = [
        ("call_minutes", "count", "day", "2" if low else "10"),
        ("total", "cost", "month", "1.00" if low else "5.00"),
        ("text_messages", "quantity", "week", "4" if low else "30"),
        ("total", "count", "year", "5" if low else "100"),
    ]
    mine = [(subs[(i * 7) % len(subs)], False, body(*own_kinds[i % len(own_kinds)])) for i in range(40)]
    chosen = one + [(agency, True, b) for b in totals + each] + mine
    assert len(chosen) == 50
    return chosen


def create_alerts(alerts: list[tuple[str, bool, dict[str, Any]]]) -> list[dict[str, Any]]:
    from chalicelib.domain.access import Principal, Role
    from chalicelib.services.usage_alerts import create_alert

    return [
        create_alert(Principal("bench-admin", owner, Role.ADMIN), owner, body, agency=agency)
        for owner, agency, body in alerts
    ]


def expected_firings(
    workload: Any, alerts: list[dict[str, Any]], accounts: dict[str, Any]
) -> set[tuple[str, str, str]]:
    """(alert, subject, period start) of every alert whose period's final value reached its threshold."""
    from chalicelib.domain.alerts import AlertPeriod, Measure, parse_threshold, window_of
    from chalicelib.domain.categories import Category
    from chalicelib.domain.pricing import price_event
    from chalicelib.services.rates import rate_card_for

    finals: dict[tuple[str, str, str], int] = defaultdict(int)
    cards = {a: rate_card_for(accounts[a], accounts.get(accounts[a].agency_id or "")) for a in accounts}
    for _billing, event in workload.events:
        account = accounts[event["account_id"]]
        category = Category(event["category"])
        quantity = Decimal(event["quantity"])
        occurred = datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))
        day = occurred.astimezone(account.zone).date()
        cost = -price_event(category, quantity, cards[account.account_id]).amount_micros
        for alert in alerts:
            if alert["category"] not in ("total", category.value):
                continue
            measure = Measure(alert["measure"])
            value = {Measure.COUNT: 1, Measure.QUANTITY: int(quantity * 1_000_000), Measure.COST: cost}[measure]
            if alert["scope"] == "account" and alert["owner_id"] != account.account_id:
                continue
            if alert["each_account"] and account.account_id == alert["owner_id"]:
                continue
            subject = account.account_id if alert["scope"] == "account" or alert["each_account"] else alert["owner_id"]
            window = window_of(AlertPeriod(alert["period"]), day)
            finals[(alert["id"], subject, window.start.isoformat())] += value
    limits = {a["id"]: parse_threshold(a["threshold"], Measure(a["measure"])) for a in alerts}
    return {key for key, value in finals.items() if value >= limits[key[0]]}


def written_firings(alerts: list[dict[str, Any]]) -> tuple[set[tuple[str, str, str]], int]:
    from chalicelib.adapters.notices_repo import NoticeRepository

    found: set[tuple[str, str, str]] = set()
    records = 0
    for alert in alerts:
        after: str | None = None
        while True:
            notices, after = NoticeRepository().firings(alert["id"], 500, after)
            records += len(notices)
            found |= {(alert["id"], n.account_id, str(n.data["period_start"])) for n in notices}
            if after is None:
                break
    return found, records


def run_case(
    counter: RequestCounter,
    shapes: dict[str, Any],
    name: str,
    subs: int,
    alert_count: int,
    events: int,
    storm: bool = False,
) -> dict[str, Any]:
    from chalicelib.adapters.accounts_repo import AccountRepository
    from chalicelib.adapters.tables.ledger import LedgerEntryRecord

    population = provision(name, subs)
    alerts = create_alerts(alert_set(population, alert_count, storm))
    workload = make_workload(name, population, events, datetime.now(UTC))
    messages = packed_messages(workload, EVENTS_PER_MESSAGE)
    tally: Tally
    with counter.window() as tally:
        started = time.perf_counter()
        written = deliver(messages, MESSAGES_PER_INVOCATION)
        elapsed = time.perf_counter() - started
    client = LedgerEntryRecord._get_connection().connection.client
    capacity = write_capacity(tally.writes, shapes, fetch_final_items(tally.writes, shapes, client))
    accounts = AccountRepository().get_many(population.members[population.billing_ids[0]])
    expected = expected_firings(workload, alerts, accounts)
    found, records = written_firings(alerts)
    problems = []
    if found != expected:
        problems.append(f"firings: missing {sorted(expected - found)[:5]}, unexpected {sorted(found - expected)[:5]}")
    if records != len(found):
        problems.append(f"{records} firing records for {len(found)} (alert, subject, period)")
    if written.charged != events or written.failed or written.dead_lettered:
        problems.append(f"writer: {written}")
    per_1000 = 1000 / events
    return {
        "agency_id": population.billing_ids[0],
        "sub_accounts": subs,
        "alerts": alert_count,
        "thresholds": "low: a firing every few events" if storm else "as people set them",
        "events": events,
        "invocations": written.invocations,
        "transactions": written.transactions,
        **tally.as_dict(),
        "requests_per_1000_events": round(tally.total_requests * per_1000, 1),
        "requests_per_invocation": round(tally.total_requests / written.invocations, 2),
        "round_trips_per_invocation": round(tally.round_trips / written.invocations, 2),
        "items_read_per_1000_events": round(sum(tally.items_read.values()) * per_1000, 1),
        "reads_per_invocation": round(
            (tally.requests["Query"] + tally.requests["BatchGetItem"] + tally.requests["GetItem"])
            / written.invocations,
            2,
        ),
        "capacity": capacity.as_dict(events),
        "firings": len(found),
        "wall_time_s": round(elapsed, 2),
        "correctness": {"ok": not problems, "problems": problems, "expected_firings": len(expected)},
    }


def agency_reads(counter: RequestCounter, agency: str) -> dict[str, Any]:
    """The balance view (runway) and the attention list of the agency, counted."""
    from chalicelib.domain.access import Principal, Role
    from chalicelib.services.attention import agency_attention
    from chalicelib.services.balances import get_balance

    viewer = Principal("bench", agency, Role.VIEWER)
    found: dict[str, Any] = {}
    calls: list[tuple[str, Callable[[], Any]]] = [
        ("GET /accounts/{agency}/balance", lambda: get_balance(viewer, agency)),
        ("GET /agencies/{agency}/attention", lambda: agency_attention(viewer, agency)),
    ]
    for name, call in calls:
        call()  # warm
        with counter.window() as tally:
            call()
        found[name] = {"requests": tally.total_requests, "round_trips": tally.round_trips,
                       "items_read": sum(tally.items_read.values())}  # fmt: skip
    return found


def run(counter: RequestCounter, events: int = EVENTS) -> dict[str, Any]:
    from unittest import mock

    from chalicelib.adapters.tables.base import all_models, bind

    bind()
    shapes = shapes_of_models(all_models())
    counter.attach_models(all_models())
    runs: dict[str, Any] = {}
    # No SQS here: the firings are written (and counted); their deliveries are not queued.
    with (
        mock.patch("chalicelib.services.notice_dispatch.dispatch_firings"),
        mock.patch("chalicelib.services.notices.schedule_arming"),
    ):
        for name, subs, count, storm in (
            ("alerts_0", SUBS, 0, False),
            ("alerts_1", SUBS, 1, False),
            ("alerts_50", SUBS, 50, False),
            ("alerts_50_firing_storm", SUBS, 50, True),
            ("alerts_0_small_agency", SMALL_SUBS, 0, False),
            ("alerts_50_small_agency", SMALL_SUBS, 50, False),
        ):
            print(f"alerts: {name} ({subs} sub-accounts, {count} alerts) ...", flush=True)
            tag = f"{name}-{random.Random().randrange(10**6)}"
            runs[name] = run_case(counter, shapes, tag, subs, count, events, storm)
        pages = agency_reads(counter, runs["alerts_0"]["agency_id"])
    return {"config": {"events_per_run": events, "events_per_message": EVENTS_PER_MESSAGE,
                       "messages_per_invocation": MESSAGES_PER_INVOCATION, "sub_accounts": SUBS,
                       "shared_billing": "every sub-account draws from the agency's balance"},
            "runs": runs, "agency_pages": pages}  # fmt: skip


def targets(bench: dict[str, Any]) -> dict[str, Any]:
    runs = bench["runs"]
    base = runs["alerts_0"]
    checks: dict[str, Any] = {}
    for name in ("alerts_1", "alerts_50", "alerts_50_firing_storm"):
        run = runs[name]
        reads = run["reads_per_invocation"] - base["reads_per_invocation"]
        checks[f"{name}_reads_added_per_batch"] = {
            "limit": f"<= {MAX_ALERT_READS_PER_BATCH} read requests a batch (1,000 events), {SUBS} sub-accounts",
            "value": round(reads, 2),
            "requests_per_1000_events": {
                "no alert": base["requests_per_1000_events"],
                name: run["requests_per_1000_events"],
            },
            "wcu_per_event": {"no alert": base["capacity"]["wcu_per_event"], name: run["capacity"]["wcu_per_event"]},
            "firings": run["firings"],
            "met": reads <= MAX_ALERT_READS_PER_BATCH,
        }  # fmt: skip
    pairs = ((SUBS, "alerts_50", "alerts_0"), (SMALL_SUBS, "alerts_50_small_agency", "alerts_0_small_agency"))
    added = {size: runs[big]["reads_per_invocation"] - runs[zero]["reads_per_invocation"] for size, big, zero in pairs}
    checks["alerts_reads_per_batch_independent_of_agency_size"] = {
        "limit": f"read requests 50 alerts add to an invocation at {SUBS} sub-accounts <= at {SMALL_SUBS} + 1",
        "value": {f"{size} sub-accounts": round(value, 2) for size, value in added.items()},
        "met": added[SUBS] <= added[SMALL_SUBS] + 1,
    }
    wrong = [name for name, r in runs.items() if not r["correctness"]["ok"]]
    checks["alerts_fire_exactly_once_per_period"] = {
        "limit": "every (alert, subject, period) whose final value reached its threshold fired once; no other",
        "value": "all runs exact" if not wrong else f"wrong: {', '.join(wrong)}",
        "met": not wrong,
    }
    return checks


def print_report(bench: dict[str, Any]) -> None:
    print(f"\nalerts: the writer at an agency's balance, {bench['config']['events_per_run']:,} events a run, counted")
    print("  run                      subs  alerts  req/1k ev  reads/batch  RT/batch  WCU/ev  firings  correct")
    for name, r in bench["runs"].items():
        print(
            f"  {name:<24} {r['sub_accounts']:>5} {r['alerts']:>7} {r['requests_per_1000_events']:>10.1f} "
            f"{r['reads_per_invocation']:>12.2f} {r['round_trips_per_invocation']:>9.2f} "
            f"{r['capacity']['wcu_per_event']:>7.2f} {r['firings']:>8}  {'ok' if r['correctness']['ok'] else 'WRONG'}"
        )
        for problem in r["correctness"]["problems"]:
            print(f"    {problem}")
    for page, figures in bench["agency_pages"].items():
        print(f"  {page}: {figures['requests']} requests, {figures['round_trips']} round trips, "
              f"{figures['items_read']:,} items read")  # fmt: skip
