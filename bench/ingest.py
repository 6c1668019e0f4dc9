"""`ingest`: what charging usage events costs, all in, as production delivers them.

Every run writes through `record_usage` (chalicelib.services.usage) into the same
tables, with accounts and event ids of its own, and is counted by botocore hooks:
requests, round trips one after another, and the items written, from which write
capacity is computed the way AWS bills it (bench/capacity.py: 2 WCU per started KB
of each item of a transaction, plus 1 WCU per started KB of every index entry).

Traffic (events mostly minutes old, 5% up to two days late; 60% calls of 0.1-60
minutes, 40% texts; shuffled with a fixed seed):

- `hot_agency_packed`: one agency whose 100 sub-accounts all draw from its balance,
  their events interleaved, packed per billing account 100 to a message and handed
  10 messages to an invocation, as `POST /usage-events` and a FIFO event source do;
- `own_billing_packed`: 20 accounts on their own balances, the same delivery;
- `hot_account_packed`: one account on its own balance, the same delivery;
- `hot_agency_one_event` / `own_billing_one_event`: the same traffic with one event
  per message (10 events an invocation), as a producer that sends one at a time.

From the runs: `partitions` (WCU per partition key of every table and index per
1,000 events, and the events/s at which the hottest reaches 500 WCU/s: half of
DynamoDB's 1,000 WCU/s a partition) and `pipeline` (a FIFO group is one batch at a
time: events, transactions and round trips per invocation, and the ceiling at
10 ms a round trip).

Provisioning and an opening balance for every billing account ($100.00, so the
counted writes take the steady-state path) and the correctness check (every
invariant of `make reconcile` on every balance, and each balance = opening - the
priced events) run outside the counted window.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .capacity import fetch_final_items, read_capacity, shapes_of_models, write_capacity
from .counting import RequestCounter, Tally

SEED = 20261201
OPENING_MICROS = 100_000_000
EVENTS_PER_MESSAGE = 100  # as services/intake.py packs them
MESSAGES_PER_INVOCATION = 10  # the most a FIFO event source hands Lambda
EXPECTED_RATE_MICROS = {"call_minutes": 12_500, "text_messages": 7_900}
ZONES = ("UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "America/Los_Angeles")
ROUND_TRIP_MS = 10
HOT_RATE = 3_000  # events/s of one billing account
PARTITION_LIMIT_WCU = 500  # half of DynamoDB's per-partition 1,000 WCU/s
PARTITION_LIMIT_RCU = 1_500

# Targets of the issue (write cost, all in).
MAX_REQUESTS_PER_1000 = 25
MAX_WCU_PER_EVENT_HOT_AGENCY = 4.0
MAX_WCU_PER_EVENT_OWN_BILLING = 3.5


@dataclass(frozen=True)
class Population:
    """Billing account id -> the accounts that draw from it."""

    members: dict[str, list[str]]

    @property
    def billing_ids(self) -> list[str]:
        return sorted(self.members)


@dataclass(frozen=True)
class Workload:
    population: Population
    events: list[tuple[str, dict[str, Any]]]  # (billing account, event), in arrival order
    expected_micros: dict[str, int]


def provision_own(run: str, accounts: int) -> Population:
    from chalicelib.domain.access import Principal, Role
    from chalicelib.services.accounts import put_account

    service = Principal("bench", "platform", Role.SERVICE)
    members = {}
    for i in range(accounts):
        account_id = f"{run}-acct{i:03d}"
        put_account(service, account_id, {"name": f"Bench account {i}", "time_zone": ZONES[i % len(ZONES)]})
        members[account_id] = [account_id]
    return _funded(run, Population(members))


def provision_agency(run: str, subs: int) -> Population:
    from chalicelib.domain.access import Principal, Role
    from chalicelib.services.accounts import put_account

    service = Principal("bench", "platform", Role.SERVICE)
    agency = f"{run}-agency"
    put_account(service, agency, {"name": "Bench agency", "kind": "agency", "time_zone": "America/Chicago"})
    members = [agency]
    for s in range(subs):
        sub = f"{run}-sub{s:03d}"
        put_account(
            service,
            sub,
            {"name": f"Client {s}", "agency_id": agency, "billing": "agency", "time_zone": ZONES[s % len(ZONES)]},
        )
        members.append(sub)
    return _funded(run, Population({agency: members}))


def _funded(run: str, population: Population) -> Population:
    """An opening recharge per billing account (outside any window)."""
    from chalicelib.services.usage import QueuedMessage, record_usage

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    messages = [
        QueuedMessage(
            f"{run}-open-{billing_id}",
            json.dumps(
                {
                    "event_id": f"{run}-opening-{billing_id}",
                    "account_id": billing_id,
                    "category": "recharge",
                    "amount": str(Decimal(OPENING_MICROS) / 1_000_000),
                    "occurred_at": now,
                    "description": "Opening balance",
                }
            ),
            billing_id,
        )
        for billing_id in population.billing_ids
    ]
    outcome = record_usage(messages, dead_letter=lambda m, reason, raw: None)
    if outcome.charged != len(messages):
        raise RuntimeError(f"could not fund the bench accounts: {outcome}")
    return population


def make_workload(run: str, population: Population, events: int, now: datetime) -> Workload:
    """Events dealt at random over every account, interleaved, in arrival order."""
    rng = random.Random(f"{SEED}:{run}")
    accounts = [(billing, account) for billing, members in population.members.items() for account in members]
    expected = dict.fromkeys(population.billing_ids, OPENING_MICROS)
    out = []
    for i in range(events):
        billing, account = rng.choice(accounts)
        late = rng.random() < 0.05
        age = rng.randint(3_600, 2 * 86_400) if late else rng.randint(5, 2 * 3_600)
        occurred = (now - timedelta(seconds=age)).replace(microsecond=0)
        event: dict[str, Any] = {
            "event_id": f"{run}-ev{i:06d}",
            "account_id": account,
            "occurred_at": occurred.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if rng.random() < 0.6:
            quantity = Decimal(rng.randint(1, 600)) / 10
            event.update(
                category="call_minutes",
                quantity=str(quantity),
                description=f"Inbound call (555) 010-{rng.randint(0, 9999):04d}",
                metadata={"call_id": f"call-{run}-{i}", "tracking_number": "+15550100000", "duration_s": 60},
            )
        else:
            quantity = Decimal(rng.randint(1, 3))
            event.update(
                category="text_messages",
                quantity=str(quantity),
                description="Outbound text",
                metadata={"message_id": f"sms-{run}-{i}"},
            )
        price = (quantity * EXPECTED_RATE_MICROS[event["category"]]).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        expected[billing] -= int(price)
        out.append((billing, event))
    return Workload(population, out, expected)


def packed_messages(workload: Workload, per_message: int) -> list[Any]:
    """As `POST /usage-events` enqueues them: each billing account's events in arrival order,
    `per_message` to a message; messages in the order their last event arrived."""
    from chalicelib.services.usage import QueuedMessage

    open_packs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    messages: list[Any] = []

    def flush(billing: str) -> None:
        events = open_packs.pop(billing)
        body = json.dumps(events[0] if per_message == 1 else {"events": events}, separators=(",", ":"))
        messages.append(QueuedMessage(f"{billing}-m{len(messages):06d}", body, billing))

    for billing, event in workload.events:
        open_packs[billing].append(event)
        if len(open_packs[billing]) == per_message:
            flush(billing)
    for billing in list(open_packs):
        flush(billing)
    return messages


@dataclass
class Written:
    invocations: int = 0
    charged: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    failed: int = 0
    transactions: int = 0


def deliver(messages: Sequence[Any], per_invocation: int) -> Written:
    """`record_usage` over the messages, `per_invocation` at a time (one FIFO batch after another)."""
    from chalicelib.services.usage import record_usage

    written = Written()
    for start in range(0, len(messages), per_invocation):
        outcome = record_usage(messages[start : start + per_invocation], dead_letter=lambda m, r, raw: None)
        written.invocations += 1
        written.charged += outcome.charged
        written.duplicates += outcome.duplicates
        written.dead_lettered += len(outcome.dead_lettered)
        written.failed += len(outcome.failed_message_ids)
        written.transactions += outcome.transactions
    return written


def verify(workload: Workload, written: Written) -> dict[str, Any]:
    """Every invariant `make reconcile` checks, on every balance of the run, and the exact balances."""
    from chalicelib.adapters.accounts_repo import AccountRepository
    from chalicelib.services.reconcile import reconcile_all

    problems: list[str] = []
    events = len(workload.events)
    members = AccountRepository().get_many(a for m in workload.population.members.values() for a in m)
    reports = {r.billing_account_id: r for r in reconcile_all(members.values(), recheck_after=0)}
    problems += [str(p) for r in reports.values() for p in r.problems][:20]
    for billing_id in workload.population.billing_ids:
        balance = reports[billing_id].balance_micros
        if balance != workload.expected_micros[billing_id]:
            problems.append(f"{billing_id}: balance {balance} != {workload.expected_micros[billing_id]}")
    if written.charged != events or written.duplicates or written.dead_lettered or written.failed:
        problems.append(
            f"writer said charged={written.charged} duplicates={written.duplicates} "
            f"dead_lettered={written.dead_lettered} failed={written.failed}"
        )
    return {"ok": not problems, "events": events, "problems": problems[:20]}


def run_case(
    counter: RequestCounter,
    shapes: dict[str, Any],
    name: str,
    description: str,
    population: Population,
    events: int,
    per_message: int,
) -> dict[str, Any]:
    from chalicelib.adapters.tables.ledger import LedgerEntryRecord

    workload = make_workload(name, population, events, datetime.now(UTC))
    messages = packed_messages(workload, per_message)
    tally: Tally
    with counter.window() as tally:
        started = time.perf_counter()
        written = deliver(messages, MESSAGES_PER_INVOCATION)
        elapsed = time.perf_counter() - started
    client = LedgerEntryRecord._get_connection().connection.client
    final = fetch_final_items(tally.writes, shapes, client)
    capacity = write_capacity(tally.writes, shapes, final)
    reads = read_capacity(tally.read_keys, shapes, final)
    per_1000 = 1000 / events
    hottest_wcu = capacity.by_partition.most_common(1)[0]
    hottest_rcu = reads.most_common(1)[0] if reads else ("-", 0.0)
    round_trips = tally.round_trips
    per_invocation = {
        "events": round(events / written.invocations, 1),
        "transactions": round(written.transactions / written.invocations, 2),
        "requests": round(tally.total_requests / written.invocations, 2),
        "round_trips": round(round_trips / written.invocations, 2),
    }
    ceiling = per_invocation["events"] / (per_invocation["round_trips"] * ROUND_TRIP_MS / 1000)
    return {
        "description": description,
        "events": events,
        "billing_accounts": len(population.billing_ids),
        "accounts": sum(len(m) for m in population.members.values()),
        "events_per_message": per_message,
        "messages": len(messages),
        "invocations": written.invocations,
        **tally.as_dict(),
        "requests_per_1000_events": round(tally.total_requests * per_1000, 1),
        "transactions": written.transactions,
        "capacity": capacity.as_dict(events),
        "partitions": {
            "hottest_wcu": {"partition": hottest_wcu[0], "wcu_per_1000_events": round(hottest_wcu[1] * per_1000, 1)},
            "hottest_wcu_per_s_at_3000_events_per_s": round(hottest_wcu[1] * per_1000 * HOT_RATE / 1000, 1),
            "events_per_s_at_which_hottest_reaches_500_wcu": round(PARTITION_LIMIT_WCU * events / hottest_wcu[1]),
            "hottest_writer_rcu": {
                "partition": hottest_rcu[0],
                "rcu_per_1000_events": round(hottest_rcu[1] * per_1000, 2),
            },
            "hottest_writer_rcu_per_s_at_3000_events_per_s": round(hottest_rcu[1] * per_1000 * HOT_RATE / 1000, 1),
            "wcu_per_1000_events_top_partitions": [
                {"partition": p, "wcu": round(w * per_1000, 1)} for p, w in capacity.by_partition.most_common(8)
            ],
        },
        "pipeline": {
            "per_invocation": per_invocation,
            "ceiling_events_per_s_at_10ms_round_trips": round(ceiling),
        },
        "wall_time_s": round(elapsed, 2),
        "correctness": verify(workload, written),
    }


def run(counter: RequestCounter, events: int = 10_000, one_event_events: int = 2_000) -> dict[str, Any]:
    from chalicelib.adapters.tables.base import all_models, bind

    bind()
    shapes = shapes_of_models(all_models())
    # Warm up clients and DynamoDB Local, outside any window.
    deliver(packed_messages(make_workload("warm", provision_own("warm", 3), 300, datetime.now(UTC)), 100), 10)
    counter.attach_models(all_models())
    runs: dict[str, Any] = {}
    cases = [
        (
            "hot_agency_packed",
            "agency + 100 shared-billing sub-accounts, 100 events a message",
            provision_agency,
            100,
            events,
            EVENTS_PER_MESSAGE,
        ),
        (
            "own_billing_packed",
            "20 accounts on their own balances, 100 events a message",
            provision_own,
            20,
            events,
            EVENTS_PER_MESSAGE,
        ),
        (
            "hot_account_packed",
            "1 account on its own balance, 100 events a message",
            provision_own,
            1,
            events,
            EVENTS_PER_MESSAGE,
        ),
        (
            "hot_agency_one_event",
            "agency + 100 shared-billing sub-accounts, one event a message",
            provision_agency,
            100,
            one_event_events,
            1,
        ),
        (
            "own_billing_one_event",
            "20 accounts on their own balances, one event a message",
            provision_own,
            20,
            one_event_events,
            1,
        ),
    ]
    for name, description, provision, size, count, per_message in cases:
        print(f"ingest: {name} ...", flush=True)
        runs[name] = run_case(counter, shapes, name, description, provision(name, size), count, per_message)
    return {
        "config": {
            "events_per_packed_run": events,
            "events_per_one_event_run": one_event_events,
            "events_per_message": EVENTS_PER_MESSAGE,
            "messages_per_invocation": MESSAGES_PER_INVOCATION,
            "opening_balance_micros": OPENING_MICROS,
            "capacity_rules": "transactional write 2 WCU per started KB of the item (as it ended up); "
            "every index entry 1 WCU per started KB (projected attributes + keys + 100 bytes)",
            "seed": SEED,
        },
        "runs": runs,
    }


def targets(bench: dict[str, Any]) -> dict[str, Any]:
    runs = bench["runs"]
    checks: dict[str, Any] = {}
    for name in ("hot_agency_packed", "own_billing_packed", "hot_account_packed"):
        value = runs[name]["requests_per_1000_events"]
        checks[f"ingest_requests_per_1000_events_{name}"] = {
            "limit": f"<= {MAX_REQUESTS_PER_1000}",
            "value": value,
            "met": value <= MAX_REQUESTS_PER_1000,
        }
    for name, limit in (
        ("hot_agency_packed", MAX_WCU_PER_EVENT_HOT_AGENCY),
        ("own_billing_packed", MAX_WCU_PER_EVENT_OWN_BILLING),
        ("hot_account_packed", MAX_WCU_PER_EVENT_OWN_BILLING),
    ):
        value = runs[name]["capacity"]["wcu_per_event"]
        checks[f"ingest_wcu_per_event_all_in_{name}"] = {
            "limit": f"<= {limit} (indexes included)",
            "value": value,
            "tables_only": runs[name]["capacity"]["wcu_per_event_tables_only"],
            "met": value <= limit,
        }
    for name in ("hot_agency_packed", "hot_account_packed"):
        part = runs[name]["partitions"]
        wcu = part["hottest_wcu_per_s_at_3000_events_per_s"]
        rcu = part["hottest_writer_rcu_per_s_at_3000_events_per_s"]
        checks[f"partitions_hottest_wcu_per_s_at_3000_events_per_s_{name}"] = {
            "limit": f"<= {PARTITION_LIMIT_WCU} WCU/s on any partition key of any table or index",
            "value": wcu,
            "partition": part["hottest_wcu"]["partition"],
            "events_per_s_at_500_wcu": part["events_per_s_at_which_hottest_reaches_500_wcu"],
            "met": wcu <= PARTITION_LIMIT_WCU,
        }
        checks[f"partitions_hottest_writer_rcu_per_s_at_3000_events_per_s_{name}"] = {
            "limit": f"<= {PARTITION_LIMIT_RCU} RCU/s from the writer",
            "value": rcu,
            "met": rcu <= PARTITION_LIMIT_RCU,
        }
        ceiling = runs[name]["pipeline"]["ceiling_events_per_s_at_10ms_round_trips"]
        checks[f"pipeline_ceiling_events_per_s_{name}"] = {
            "limit": f">= {HOT_RATE} events/s for one billing account (10 ms a round trip)",
            "value": ceiling,
            "per_invocation": runs[name]["pipeline"]["per_invocation"],
            "met": ceiling >= HOT_RATE,
        }
    wrong = [name for name, r in runs.items() if not r["correctness"]["ok"]]
    checks["ingest_correct_every_run"] = {
        "limit": "every reconcile invariant on every balance; balances = opening - priced events; nothing twice",
        "value": "all runs correct" if not wrong else f"wrong: {', '.join(wrong)}",
        "met": not wrong,
    }
    return checks
