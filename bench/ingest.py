"""`ingest`: what charging 1,000 usage events costs in DynamoDB requests.

Every run gets accounts and event ids of its own (so every event is new) in the
same tables. 20 billing accounts: 18 accounts on their own balance and 2 agencies,
each with 2 sub-accounts on shared billing (24 accounts). Events are dealt evenly
to the billing accounts (50 each), mixed call minutes and text messages, then
shuffled with a fixed seed; message group = the billing account.

Runs, all through `record_usage` (chalicelib.services.usage):

- `naive`: one event per call, accounts served from memory, so per event one
  balance read and one TransactWriteItems: the one-transaction-per-event writer;
- `batch_10`, `batch_100`, `batch_1000`: one event per message, that many messages
  per call;
- `batch_10_by_group`: one event per message, 10 messages per call, the messages
  ordered by billing account (the best case for EventBridge -> SQS FIFO, where
  every event is its own message and SQS hands out a group's messages together);
- `sqs_fifo_packed`: events packed as `POST /usage-events` enqueues them (per
  billing account, up to 100 a message), 10 messages per call (the most a FIFO
  event source hands Lambda): what production sees.

Provisioning, the opening balance of every billing account ($100.00, a `recharge`
entry, so the counted writes take the steady-state path: the balance item exists
and is updated under a seq condition) and the correctness check run outside the
counted window.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .counting import RequestCounter, Tally

EVENTS = 1_000
BILLING_ACCOUNTS = 20
AGENCIES = 2
SUBS_PER_AGENCY = 2
BATCH_SIZES = (10, 100, 1_000)
# As services/intake.py packs them, and the most a FIFO event source hands Lambda.
EVENTS_PER_MESSAGE = 100
SQS_FIFO_BATCH = 10
SEED = 20261126
# Every billing account is funded before the counted window, so the writers take the
# steady-state path (balance head exists: conditional update), not the first-write put.
OPENING_MICROS = 100_000_000
# The bench's own price list, to check the writer against (the service's defaults).
EXPECTED_RATE_MICROS = {"call_minutes": 12_500, "text_messages": 7_900}
ZONES = ("UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "America/Los_Angeles")


@dataclass(frozen=True)
class Population:
    """The accounts of one run: billing account id -> the accounts that draw from it."""

    members: dict[str, list[str]]

    @property
    def billing_ids(self) -> list[str]:
        return sorted(self.members)

    @property
    def account_ids(self) -> list[str]:
        return sorted(a for accounts in self.members.values() for a in accounts)


@dataclass(frozen=True)
class Workload:
    population: Population
    bodies: list[tuple[str, str, str]]  # (message id, body, billing account id), in delivery order
    expected_micros: dict[str, int]  # billing account -> expected balance (opening + debits)
    event_ids: frozenset[str]
    opening_event_ids: frozenset[str]


def provision(run: str) -> Population:
    """Create the run's accounts through the service the HTTP API uses (outside any window)."""
    from chalicelib.domain.access import Principal, Role
    from chalicelib.services.accounts import put_account

    service = Principal(subject="bench", account_id="platform", role=Role.SERVICE)
    members: dict[str, list[str]] = {}
    standalone = BILLING_ACCOUNTS - AGENCIES
    for i in range(standalone):
        account_id = f"{run}-acct{i:02d}"
        put_account(service, account_id, {"name": f"Bench account {i}", "time_zone": ZONES[i % len(ZONES)]})
        members[account_id] = [account_id]
    for a in range(AGENCIES):
        agency_id = f"{run}-agency{a}"
        put_account(service, agency_id, {"name": f"Bench agency {a}", "kind": "agency", "time_zone": "America/Chicago"})
        members[agency_id] = [agency_id]
        for s in range(SUBS_PER_AGENCY):
            sub_id = f"{agency_id}-sub{s}"
            put_account(
                service,
                sub_id,
                {"name": f"Bench sub-account {a}.{s}", "agency_id": agency_id, "billing": "agency"},
            )
            members[agency_id].append(sub_id)
    population = Population(members)
    fund(run, population)
    return population


def fund(run: str, population: Population) -> None:
    """An opening recharge entry per billing account (outside any window)."""
    from chalicelib.services.usage import QueuedMessage, record_usage

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    messages = [
        QueuedMessage(
            message_id=f"{run}-open-{billing_id}",
            body=json.dumps(
                {
                    "event_id": f"{run}-opening-{billing_id}",
                    "account_id": billing_id,
                    "category": "recharge",
                    "amount": str(Decimal(OPENING_MICROS) / 1_000_000),
                    "occurred_at": now,
                    "description": "Opening balance",
                }
            ),
            group_id=billing_id,
        )
        for billing_id in population.billing_ids
    ]
    outcome = record_usage(messages, dead_letter=lambda m, reason, raw: None)
    if outcome.charged != len(messages):
        raise RuntimeError(f"could not fund the bench accounts: {outcome}")


def make_workload(run: str, population: Population, now: datetime, events: int = EVENTS) -> Workload:
    rng = random.Random(f"{SEED}:{run}")
    billing_ids = population.billing_ids
    expected: dict[str, int] = dict.fromkeys(billing_ids, OPENING_MICROS)
    bodies: list[tuple[str, str, str]] = []
    for i in range(events):
        billing_id = billing_ids[i % len(billing_ids)]
        accounts = population.members[billing_id]
        account_id = accounts[(i // len(billing_ids)) % len(accounts)]
        # Most events are minutes old; one in twenty arrives up to two days late.
        late = rng.random() < 0.05
        age = rng.randint(3_600, 2 * 86_400) if late else rng.randint(5, 2 * 3_600)
        occurred = (now - timedelta(seconds=age)).replace(microsecond=0)
        event: dict[str, Any] = {
            "event_id": f"{run}-ev{i:05d}",
            "account_id": account_id,
            "occurred_at": occurred.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if rng.random() < 0.6:
            quantity = Decimal(rng.randint(1, 600)) / 10  # 0.1 to 60.0 minutes
            event.update(
                category="call_minutes",
                quantity=str(quantity),
                description=f"Inbound call (555) 010-{rng.randint(0, 9999):04d}",
                metadata={"call_id": f"call-{run}-{i}", "direction": "inbound"},
            )
        else:
            quantity = Decimal(rng.randint(1, 3))
            event.update(
                category="text_messages",
                quantity=str(quantity),
                metadata={"message_id": f"sms-{run}-{i}"},
            )
        price = (quantity * EXPECTED_RATE_MICROS[event["category"]]).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        expected[billing_id] -= int(price)
        bodies.append((f"{run}-msg{i:05d}", json.dumps(event, separators=(",", ":")), billing_id))
    rng.shuffle(bodies)
    return Workload(
        population,
        bodies,
        expected,
        frozenset(f"{run}-ev{i:05d}" for i in range(events)),
        frozenset(f"{run}-opening-{b}" for b in billing_ids),
    )


# -- writers ------------------------------------------------------------------


@dataclass
class WriterStats:
    calls: int = 0  # record_usage calls (or events, for the naive writer)
    charged: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    failed: int = 0
    transactions: int = 0  # transactions the writer says it attempted
    ideal_requests: int = 0  # per call: 1 account read + 1 balance read + 1 transaction per billing account


def _messages(bodies: Sequence[tuple[str, str, str]]) -> list[Any]:
    from chalicelib.services.usage import QueuedMessage

    return [QueuedMessage(message_id=m, body=b, group_id=g) for m, b, g in bodies]


def packed_bodies(workload: Workload, per_message: int = EVENTS_PER_MESSAGE) -> list[tuple[str, str, str]]:
    """The same events as `POST /usage-events` enqueues them: per billing account, up to 100 a message."""
    by_billing: dict[str, list[Any]] = defaultdict(list)
    for _message_id, body, billing_id in workload.bodies:
        by_billing[billing_id].append(json.loads(body))
    packed = []
    for billing_id, events in by_billing.items():
        for start in range(0, len(events), per_message):
            chunk = events[start : start + per_message]
            body = json.dumps({"events": chunk}, separators=(",", ":"))
            packed.append((f"{billing_id}-pack{start // per_message}", body, billing_id))
    return packed


def write_batched(
    workload: Workload,
    batch_size: int,
    bodies: Sequence[tuple[str, str, str]] | None = None,
    accounts: Any = None,
) -> WriterStats:
    """`record_usage` over the messages, `batch_size` messages a call (as Lambda would hand them)."""
    from chalicelib.services.usage import QueuedMessage, record_usage

    dead: list[tuple[str, str]] = []

    def dead_letter(message: QueuedMessage, reason: str, raw: str) -> None:
        dead.append((message.message_id, reason))

    stats = WriterStats()
    messages = _messages(workload.bodies if bodies is None else bodies)
    for start in range(0, len(messages), batch_size):
        batch = messages[start : start + batch_size]
        outcome = record_usage(batch, dead_letter=dead_letter, accounts=accounts)
        stats.calls += 1
        stats.charged += outcome.charged
        stats.duplicates += outcome.duplicates
        stats.failed += len(outcome.failed_message_ids)
        stats.transactions += outcome.transactions
        account_reads = 0 if accounts is not None else 1
        stats.ideal_requests += account_reads + 1 + len({m.group_id for m in batch})
    stats.dead_lettered = len(dead)
    return stats


def write_naive(workload: Workload, known: dict[str, Any]) -> WriterStats:
    """One event at a time through the same writer: per event one balance read and one
    TransactWriteItems. Accounts come from memory (read beforehand), so this is the naive
    writer's lower bound; reading the account per event would add a request per event."""
    from chalicelib.adapters.accounts_repo import AccountRepository

    class PreloadedAccounts(AccountRepository):
        def get_many(self, account_ids: Iterable[str]) -> dict[str, Any]:
            return {a: known[a] for a in account_ids if a in known}

    return write_batched(workload, 1, accounts=PreloadedAccounts())


# -- checking -------------------------------------------------------------------


def verify(workload: Workload, stats: WriterStats) -> dict[str, Any]:
    """Balances, entries and chains after a run, read back from DynamoDB (not counted)."""
    from chalicelib.adapters.ledger_repo import LedgerRepository

    ledger = LedgerRepository()
    billing_ids = workload.population.billing_ids
    balances = ledger.balances(billing_ids)
    problems: list[str] = []
    entries_total = 0
    entry_amounts_total = 0
    seen_events: Counter[str] = Counter()
    for billing_id in billing_ids:
        running = 0
        count = 0
        for expected_seq, entry in enumerate(ledger.chain(billing_id), start=1):
            count += entry.event_id in workload.event_ids
            seen_events[entry.event_id] += 1
            running += entry.amount_micros
            if entry.seq != expected_seq:
                problems.append(f"{billing_id}: seq {entry.seq} where {expected_seq} was due")
            if entry.balance_after_micros != running:
                problems.append(f"{billing_id}: balance_after {entry.balance_after_micros} != running {running}")
        entries_total += count
        entry_amounts_total += running
        balance = balances[billing_id].balance_micros
        if balance != running:
            problems.append(f"{billing_id}: balance {balance} != sum of its entries {running}")
        if balance != workload.expected_micros[billing_id]:
            problems.append(f"{billing_id}: balance {balance} != expected {workload.expected_micros[billing_id]}")
    events = len(workload.event_ids)
    balances_total = sum(b.balance_micros for b in balances.values())
    openings_total = OPENING_MICROS * len(billing_ids)
    expected_total = sum(workload.expected_micros.values()) - openings_total  # the priced usage alone
    twice = sorted(e for e, n in seen_events.items() if n > 1)
    missing = sorted(workload.event_ids - set(seen_events))
    strays = sorted(set(seen_events) - workload.event_ids - workload.opening_event_ids)
    if twice:
        problems.append(f"{len(twice)} events charged more than once, e.g. {twice[0]}")
    if missing:
        problems.append(f"{len(missing)} events not charged, e.g. {missing[0]}")
    if strays:
        problems.append(f"{len(strays)} entries of events this run never sent, e.g. {strays[0]}")
    if entries_total != events:
        problems.append(f"{entries_total} entries for {events} events")
    if balances_total - openings_total != expected_total:
        problems.append(
            f"sum of balances {balances_total} - openings {openings_total} != sum of priced amounts {expected_total}"
        )
    if stats.charged != events or stats.duplicates or stats.dead_lettered or stats.failed:
        problems.append(
            f"writer said charged={stats.charged} duplicates={stats.duplicates} "
            f"dead_lettered={stats.dead_lettered} failed={stats.failed}"
        )
    return {
        "ok": not problems,
        "events": events,
        "usage_entries": entries_total,
        "opening_entries": sum(1 for e in seen_events if e in workload.opening_event_ids),
        "opening_balances_micros": openings_total,
        "sum_of_balances_micros": balances_total,
        "sum_of_priced_amounts_micros": expected_total,
        "sum_of_balances_minus_openings_micros": balances_total - openings_total,
        "sum_of_entry_amounts_micros": entry_amounts_total,
        "events_charged_twice": len(twice),
        "events_missing": len(missing),
        "problems": problems[:20],
    }


# -- the benchmark ------------------------------------------------------------------


def _run_one(
    counter: RequestCounter,
    run: str,
    label: str,
    write: Callable[[Workload], WriterStats],
    batch_size: int | None,
    population: Population | None = None,
) -> dict[str, Any]:
    population = population or provision(run)
    workload = make_workload(run, population, datetime.now(UTC))
    tally: Tally
    with counter.window() as tally:
        started = time.perf_counter()
        stats = write(workload)
        elapsed = time.perf_counter() - started
    counted = tally.as_dict()
    events = len(workload.event_ids)
    hook_check = {
        "transactions_counted": tally.requests["TransactWriteItems"],
        "transactions_reported_by_writer": stats.transactions,
        "agree": tally.requests["TransactWriteItems"] == stats.transactions,
    }
    return {
        "writer": label,
        "batch_size": batch_size,
        "events": events,
        "billing_accounts": len(population.billing_ids),
        "accounts": len(population.account_ids),
        "writer_calls": stats.calls,
        **counted,
        "requests_per_1000_events": round(tally.total_requests * 1000 / events, 1),
        "ideal_requests": stats.ideal_requests,
        "transactions": stats.transactions,
        "wall_time_s": round(elapsed, 3),
        "events_per_s": round(events / elapsed, 1) if elapsed else None,
        "hook_check": hook_check,
        "correctness": verify(workload, stats),
    }


def warm_up(counter: RequestCounter) -> None:
    """Create the clients and warm DynamoDB Local's JIT, outside any window."""
    population = provision("warm")
    workload = make_workload("warm", population, datetime.now(UTC), events=200)
    write_batched(workload, 50)
    from chalicelib.adapters.tables.base import all_models

    counter.attach_models(all_models())


def _batched(size: int) -> Callable[[Workload], WriterStats]:
    def write(workload: Workload) -> WriterStats:
        return write_batched(workload, size)

    return write


def run(counter: RequestCounter, batch_sizes: Sequence[int] = BATCH_SIZES) -> dict[str, Any]:
    from chalicelib.adapters.accounts_repo import AccountRepository

    warm_up(counter)
    runs: dict[str, Any] = {}
    population = provision("naive")
    known = AccountRepository().get_many(population.account_ids)
    runs["naive"] = _run_one(
        counter, "naive", "naive: one event per call", lambda w: write_naive(w, known), 1, population=population
    )
    for size in batch_sizes:
        runs[f"batch_{size}"] = _run_one(
            counter, f"b{size}", f"record_usage, {size} one-event messages per call", _batched(size), size
        )
    runs["batch_10_by_group"] = _run_one(
        counter,
        "grouped",
        "record_usage, 10 one-event messages per call, ordered by billing account (SQS FIFO returns a "
        "message group's messages together where it can: the best case of one event per message)",
        lambda w: write_batched(w, SQS_FIFO_BATCH, bodies=sorted(w.bodies, key=lambda body: body[2])),
        SQS_FIFO_BATCH,
    )
    runs["sqs_fifo_packed"] = _run_one(
        counter,
        "packed",
        f"record_usage, {SQS_FIFO_BATCH} messages per call, each up to {EVENTS_PER_MESSAGE} events "
        "of one billing account (what POST /usage-events enqueues and a FIFO Lambda receives)",
        lambda w: write_batched(w, SQS_FIFO_BATCH, bodies=packed_bodies(w)),
        SQS_FIFO_BATCH,
    )
    return {
        "config": {
            "events_per_run": EVENTS,
            "billing_accounts": BILLING_ACCOUNTS,
            "accounts": BILLING_ACCOUNTS - AGENCIES + AGENCIES * (1 + SUBS_PER_AGENCY),
            "opening_balance_micros_per_billing_account": OPENING_MICROS,
            "shared_billing": f"{AGENCIES} agencies x {SUBS_PER_AGENCY} sub-accounts on the agency's balance",
            "distribution": "50 events per billing account, shuffled (seeded); batch_N and naive: one event per "
            "message; batch_10_by_group: the same messages ordered by billing account; sqs_fifo_packed: events "
            "packed per billing account, 100 a message, 10 messages a call",
            "events": "about 60% call_minutes (0.1-60.0 min), 40% text_messages (1-3); occurred in the last 2 "
            "hours, 5% up to 2 days late",
            "naive_writer": "record_usage called once per event with the accounts served from memory: per event "
            "1 balance read + 1 TransactWriteItems (entry, balance, rollups)",
            "ideal_requests": "per record_usage call: 1 BatchGetItem (accounts; none for naive) + 1 BatchGetItem "
            "(every balance head of the call, consistent) + 1 TransactWriteItems per billing account in the call",
            "seed": SEED,
        },
        "runs": runs,
    }
