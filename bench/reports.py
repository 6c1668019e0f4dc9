"""`reports`: what one 12-month Agency Usage report costs to read, at N and at 10N events.

The population: one agency (America/Chicago) with 100 sub-accounts, 60 on the
agency's balance (`billing: agency`) and 40 on their own, in six more time zones
(a :30 offset, and DST rules of both hemispheres among them). Every account
of the report, the agency included, has usage in every month of the window.

The window: the 12 complete months before the current month (in the agency's
zone), read per account in the account's own zone as the report does. Every
event happens on a local date of that window and never in the future.

Events per volume (exactly N, or 10N):

- `subscription_fees`: one per account and month, at local midnight on the 1st
  (an explicit `amount`: the account's plan), the edge a UTC cut gets wrong;
- `call_minutes`, `text_messages`, `number_renewals`: at least one of each per
  account and month, the rest dealt at random (accounts weighted, 1 in 10 calls
  with an explicit `unit_price`), 3% of them within two minutes of a local midnight.

Just outside the window, every account also has a call 30 s before its first local
midnight and one 30 s after its last (when that has passed), which the report must
leave out (not counted in N). Besides usage, every billing account (the agency and the 40 own-billing
sub-accounts) is recharged once a month (not counted in N: the ledger of a real
agency holds them, and the report's Query reads their rollups too).

Each volume gets an agency of its own in the same tables. Events are written
through `record_usage` as production would after a backfill: per billing account,
in time order, packed 100 to a message, 10 messages (1,000 events) a call.

Counted (hooks on every botocore DynamoDB client, outside the writes): one call of
`agency_usage(service, agency, {from, to, group_by, limit=500})` (every account on one
page) for group_by=month, then one for group_by=total. The report must equal, per account x month x category, the sums
of the generated events (count, quantity, amount), and its totals the sum of all.

The naive peer: the same raw events (recharges included) in an in-memory SQLite
table with an index on (account_id, occurred_at) and the account's local month
stored beside each event; the same report as one `GROUP BY account_id, month,
category` over the events in each account's range (an index range search per
account, see the query plan). Rows read = the events in range (counted by a
COUNT over the same ranges, and the rows that reach the GROUP BY by a counting
function inside SUM()).
"""

from __future__ import annotations

import calendar
import json
import random
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from .counting import RequestCounter, Tally

# N, and 10N. N is sized so that the whole `make bench` stays within about 5 minutes
# on a 2-core machine (writing 11N events through record_usage is most of it).
N = 10_000
SCALE = 10
SUB_ACCOUNTS = 100
SHARED_BILLING = 60  # sub-accounts on the agency's balance; the other 40 pay their own
MONTHS = 12
AGENCY_ZONE = "America/Chicago"
ZONES = ("America/New_York", "Europe/London", "Asia/Kolkata", "America/Los_Angeles", "Australia/Sydney", "UTC")
EVENTS_PER_MESSAGE = 100
MESSAGES_PER_CALL = 10
SEED = 20261127
NEAR_MIDNIGHT = 0.03
MAX_ITEMS_READ = 9_600  # the target for the 12-month agency report

USAGE = ("call_minutes", "text_messages", "number_renewals", "subscription_fees")
RECHARGE = "recharge"
# The service's default prices (chalicelib.domain.pricing), restated here to check it.
RATE_MICROS = {"call_minutes": 12_500, "text_messages": 7_900, "number_renewals": 1_000_000}
INTERNATIONAL_CALL_MICROS = 13_500  # an explicit unit_price on 1 call in 10
PLANS = ("29.00", "49.00", "99.00")  # subscription fee per month, as an explicit amount
RECHARGE_AMOUNT = "500.00"
# How the events beyond the per-month minimum are dealt to categories.
EXTRA_WEIGHTS = {"call_minutes": 0.6, "text_messages": 0.35, "number_renewals": 0.05}
MICROS = 1_000_000


@dataclass(frozen=True)
class Member:
    account_id: str
    name: str
    zone: str
    billing_account_id: str  # whose balance moves
    plan: str
    weight: float

    @property
    def billing(self) -> str:
        return "own" if self.billing_account_id == self.account_id else "agency"


@dataclass(frozen=True)
class Event:
    event_id: str
    account_id: str
    billing_account_id: str
    category: str
    occurred_at: datetime  # UTC
    local_month: str  # "YYYY-MM" in the account's zone
    quantity_micros: int
    amount_micros: int  # the positive price (usage) or the credit (recharge)
    body: dict[str, Any]
    in_window: bool = True  # False: a call just outside the report's range, which it must leave out


@dataclass(frozen=True)
class Window:
    first: date
    last: date
    months: tuple[tuple[int, int], ...]

    @property
    def params(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def report_window(now: datetime, zone: str = AGENCY_ZONE, months: int = MONTHS) -> Window:
    """The `months` complete months before the current month in `zone`."""
    today = now.astimezone(ZoneInfo(zone)).date()
    last = today.replace(day=1) - timedelta(days=1)
    year, month = last.year, last.month
    listed = []
    for _ in range(months):
        listed.append((year, month))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    listed.reverse()
    first = date(listed[0][0], listed[0][1], 1)
    return Window(first, last, tuple(listed))


# -- the population and its events ----------------------------------------------


def provision(run: str, subs: int = SUB_ACCOUNTS) -> tuple[str, list[Member]]:
    """The agency and its sub-accounts, through the service the HTTP API uses (not counted)."""
    from chalicelib.domain.access import Principal, Role
    from chalicelib.services.accounts import put_account

    service = Principal(subject="bench", account_id="platform", role=Role.SERVICE)
    rng = random.Random(f"{SEED}:{run}:accounts")
    agency_id = f"{run}-agency"
    put_account(service, agency_id, {"name": f"Bench agency {run}", "kind": "agency", "time_zone": AGENCY_ZONE})
    members = [Member(agency_id, f"Bench agency {run}", AGENCY_ZONE, agency_id, PLANS[2], 3.0)]
    for i in range(subs):
        account_id = f"{run}-sub{i:03d}"
        shared = i % 5 < 3  # 60 of 100, interleaved
        zone = ZONES[i % len(ZONES)]
        body = {
            "name": f"Sub-account {i:03d}",
            "agency_id": agency_id,
            "billing": "agency" if shared else "own",
            "time_zone": zone,
        }
        put_account(service, account_id, body)
        # A few large customers, many small ones.
        weight = min(rng.paretovariate(1.5), 20.0)
        members.append(
            Member(account_id, body["name"], zone, agency_id if shared else account_id, rng.choice(PLANS), weight)
        )
    if subs == SUB_ACCOUNTS and sum(1 for m in members[1:] if m.billing == "agency") != SHARED_BILLING:
        raise RuntimeError("the population does not have the intended billing mix")
    return agency_id, members


def _instant(
    rng: random.Random,
    zone: ZoneInfo,
    year: int,
    month: int,
    now: datetime,
    *,
    day: int | None = None,
    second: int | None = None,
) -> tuple[datetime, str]:
    """A UTC instant whose local date (in `zone`) lies in year-month, not in the future."""
    days = calendar.monthrange(year, month)[1]
    for _ in range(100):
        d = day or rng.randint(1, days)
        if second is not None:
            s = second
        elif rng.random() < NEAR_MIDNIGHT:
            s = rng.choice((rng.randint(0, 119), rng.randint(86_280, 86_399)))
        else:
            s = rng.randint(0, 86_399)
        local = datetime(year, month, d, s // 3600, s // 60 % 60, s % 60, tzinfo=zone)
        instant = local.astimezone(UTC)
        back = instant.astimezone(zone)
        if (back.year, back.month) == (year, month) and instant < now - timedelta(minutes=1):
            return instant, f"{year:04d}-{month:02d}"
        day = second = None  # that moment does not exist or is yet to come: draw another
    raise RuntimeError(f"no past instant in {year}-{month:02d} ({zone})")


def _usage_event(
    rng: random.Random, event_id: str, member: Member, category: str, instant: datetime, local_month: str
) -> Event:
    body: dict[str, Any] = {
        "event_id": event_id,
        "account_id": member.account_id,
        "category": category,
        "occurred_at": instant.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if category == "subscription_fees":
        quantity = Decimal(1)
        amount = int(Decimal(member.plan) * MICROS)
        body["amount"] = member.plan
        body["description"] = "Monthly plan"
    else:
        if category == "call_minutes":
            quantity = Decimal(rng.randint(1, 900)) / 10  # 0.1 to 90.0 minutes
            unit_price = RATE_MICROS[category]
            if rng.random() < 0.1:
                unit_price = INTERNATIONAL_CALL_MICROS
                body["unit_price"] = str(Decimal(unit_price) / MICROS)
        else:
            quantity = Decimal(rng.randint(1, 4 if category == "text_messages" else 5))
            unit_price = RATE_MICROS[category]
        body["quantity"] = str(quantity)
        amount = int((quantity * unit_price).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return Event(
        event_id,
        member.account_id,
        member.billing_account_id,
        category,
        instant,
        local_month,
        int(quantity * MICROS),
        amount,
        body,
    )


def make_events(run: str, members: Sequence[Member], window: Window, volume: int, now: datetime) -> list[Event]:
    """Exactly `volume` usage events over the window (plus the monthly recharges)."""
    rng = random.Random(f"{SEED}:{run}:events")
    zones = {m.account_id: ZoneInfo(m.zone) for m in members}
    cells = [(m, ym) for m in members for ym in window.months]
    # Per account and month: the subscription fee and one of every other usage category.
    wanted: Counter[tuple[str, tuple[int, int], str]] = Counter()
    for m, ym in cells:
        for category in USAGE:
            wanted[(m.account_id, ym, category)] += 1
    extra = volume - sum(wanted.values())
    if extra < 0:
        raise ValueError(f"{volume} events cannot cover {len(cells)} account-months x {len(USAGE)} categories")
    weights = [m.weight for m, _ in cells]
    categories = list(EXTRA_WEIGHTS)
    for (m, ym), category in zip(
        rng.choices(cells, weights=weights, k=extra),
        rng.choices(categories, weights=[EXTRA_WEIGHTS[c] for c in categories], k=extra),
        strict=True,
    ):
        wanted[(m.account_id, ym, category)] += 1
    by_id = {m.account_id: m for m in members}
    events: list[Event] = []
    for (account_id, (year, month), category), count in sorted(wanted.items()):
        member, zone = by_id[account_id], zones[account_id]
        for _ in range(count):
            if category == "subscription_fees":  # at local midnight on the 1st
                instant, local_month = _instant(rng, zone, year, month, now, day=1, second=0)
            else:
                instant, local_month = _instant(rng, zone, year, month, now)
            events.append(_usage_event(rng, f"{run}-ev{len(events):07d}", member, category, instant, local_month))
    for member in members:
        if member.billing != "own":
            continue
        zone = zones[member.account_id]
        for year, month in window.months:
            instant, local_month = _instant(rng, zone, year, month, now, day=1, second=9 * 3600)
            event_id = f"{run}-recharge-{member.account_id}-{local_month}"
            body = {
                "event_id": event_id,
                "account_id": member.account_id,
                "category": RECHARGE,
                "amount": RECHARGE_AMOUNT,
                "occurred_at": instant.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "description": "Monthly recharge",
            }
            amount = int(Decimal(RECHARGE_AMOUNT) * MICROS)
            events.append(
                Event(
                    event_id, member.account_id, member.account_id, RECHARGE, instant, local_month, MICROS, amount, body
                )
            )
    # Just outside the range, in local time: 30 s before its first local midnight, and
    # 30 s after its last (when that has passed). A UTC cut of the range gets these wrong.
    for member in members:
        zone = zones[member.account_id]
        edges = (
            datetime.combine(window.first - timedelta(days=1), datetime.min.time(), zone)
            + timedelta(hours=23, minutes=59, seconds=30),
            datetime.combine(window.last + timedelta(days=1), datetime.min.time(), zone) + timedelta(seconds=30),
        )
        for side, local in zip(("before", "after"), edges, strict=True):
            instant = local.astimezone(UTC)
            if instant >= now - timedelta(minutes=1):
                continue
            back = instant.astimezone(zone)
            event = _usage_event(
                rng,
                f"{run}-{side}-{member.account_id}",
                member,
                "call_minutes",
                instant,
                f"{back.year:04d}-{back.month:02d}",
            )
            events.append(replace(event, in_window=False))
    return events


# -- writing (not counted) ------------------------------------------------------------


@dataclass
class WriteStats:
    calls: int = 0
    messages: int = 0
    charged: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    failed: int = 0
    transactions: int = 0
    wall_time_s: float = 0.0
    reasons: list[str] = field(default_factory=list)


def _calls(events: Sequence[Event]) -> Iterator[list[Any]]:
    """Per billing account in time order, 100 events a message, 10 messages a call."""
    from chalicelib.services.usage import QueuedMessage

    by_billing: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_billing[event.billing_account_id].append(event)
    messages = []
    for billing_id in sorted(by_billing):
        ordered = sorted(by_billing[billing_id], key=lambda e: (e.account_id, e.occurred_at, e.event_id))
        for start in range(0, len(ordered), EVENTS_PER_MESSAGE):
            chunk = ordered[start : start + EVENTS_PER_MESSAGE]
            body = json.dumps({"events": [e.body for e in chunk]}, separators=(",", ":"))
            messages.append(QueuedMessage(f"{chunk[0].event_id}-msg", body, billing_id))
    for start in range(0, len(messages), MESSAGES_PER_CALL):
        yield messages[start : start + MESSAGES_PER_CALL]


def write(events: Sequence[Event]) -> WriteStats:
    from chalicelib.services.usage import QueuedMessage, record_usage

    stats = WriteStats()

    def dead_letter(message: QueuedMessage, reason: str, raw: str) -> None:
        if len(stats.reasons) < 5:
            stats.reasons.append(reason)

    started = time.perf_counter()
    for batch in _calls(events):
        outcome = record_usage(batch, dead_letter=dead_letter)
        stats.calls += 1
        stats.messages += len(batch)
        stats.charged += outcome.charged
        stats.duplicates += outcome.duplicates
        stats.dead_lettered += len(outcome.dead_lettered)
        stats.failed += len(outcome.failed_message_ids)
        stats.transactions += outcome.transactions
    stats.wall_time_s = round(time.perf_counter() - started, 2)
    return stats


# -- what the report must say ------------------------------------------------------------

Cell = tuple[str, str, str]  # (account id, period key, category)
Sums = tuple[int, int, int]  # (count, quantity micros, amount micros)


def expected_cells(events: Sequence[Event], group_by: str) -> dict[Cell, Sums]:
    sums: dict[Cell, list[int]] = defaultdict(lambda: [0, 0, 0])
    for e in events:
        if e.category == RECHARGE or not e.in_window:
            continue
        cell = sums[(e.account_id, e.local_month if group_by == "month" else "total", e.category)]
        cell[0] += 1
        cell[1] += e.quantity_micros
        cell[2] += e.amount_micros
    return {k: (v[0], v[1], v[2]) for k, v in sums.items()}


def _micros(text: str) -> int:
    value = Decimal(text) * MICROS
    if value != value.to_integral_value():
        raise ValueError(f"{text} is finer than a micro-unit")
    return int(value)


def report_cells(report: dict[str, Any]) -> dict[Cell, Sums]:
    cells: dict[Cell, Sums] = {}
    for block in report["accounts"]:
        for row in block["rows"]:
            key = (block["account_id"], row["period"], row["category"])
            if key in cells:
                raise ValueError(f"row {key} appears twice")
            cells[key] = (int(row["count"]), _micros(row["quantity"]), _micros(row["amount"]))
    return cells


def compare(what: str, got: dict[Cell, Sums], want: dict[Cell, Sums]) -> list[str]:
    problems = []
    for key in sorted(set(got) | set(want)):
        if got.get(key) != want.get(key):
            problems.append(f"{what} {key}: got {got.get(key)}, events say {want.get(key)}")
    return problems


def check_report(report: dict[str, Any], events: Sequence[Event], group_by: str) -> dict[str, Any]:
    """The report against the generated events: every row, every block total, the agency totals."""
    want = expected_cells(events, group_by)
    problems = compare("row", report_cells(report), want)
    usage = [e for e in events if e.category != RECHARGE and e.in_window]
    want_total = sum(e.amount_micros for e in usage)
    got_total = _micros(report["totals"]["total_amount"])
    if got_total != want_total:
        problems.append(f"agency total_amount {got_total} != sum of event amounts {want_total}")
    by_category: dict[str, Sums] = {
        t["category"]: (int(t["count"]), _micros(t["quantity"]), _micros(t["amount"]))
        for t in report["totals"]["by_category"]
    }
    for category in USAGE:
        of = [e for e in usage if e.category == category]
        want_c = (len(of), sum(e.quantity_micros for e in of), sum(e.amount_micros for e in of))
        if by_category.get(category) != want_c:
            problems.append(f"agency totals {category}: got {by_category.get(category)}, events say {want_c}")
    blocks_total = sum(_micros(b["total_amount"]) for b in report["accounts"])
    if blocks_total != got_total:
        problems.append(f"sum of account blocks {blocks_total} != agency total {got_total}")
    return {
        "ok": not problems,
        "rows_compared": len(want),
        "events": len(usage),
        "report_total_amount": report["totals"]["total_amount"],
        "sum_of_event_amounts_micros": want_total,
        "problems": problems[:20],
    }


def check_balances(members: Sequence[Member], events: Sequence[Event]) -> dict[str, Any]:
    """Every billing account's balance = its recharges - the usage drawn from it (not counted)."""
    from chalicelib.adapters.ledger_repo import LedgerRepository

    want: Counter[str] = Counter()
    for e in events:
        want[e.billing_account_id] += e.amount_micros if e.category == RECHARGE else -e.amount_micros
    billing_ids = sorted({m.billing_account_id for m in members})
    balances = LedgerRepository().balances(billing_ids, consistent=True)
    wrong = [b for b in billing_ids if balances[b].balance_micros != want[b]]
    return {"ok": not wrong, "billing_accounts": len(billing_ids), "wrong": wrong[:10]}


# -- the counted report ------------------------------------------------------------------


def measure(
    counter: RequestCounter, agency_id: str, window: Window, group_by: str
) -> tuple[Tally, dict[str, Any], float]:
    from chalicelib.domain.access import Principal, Role
    from chalicelib.services.reports import agency_usage

    service = Principal(subject="bench", account_id="platform", role=Role.SERVICE)
    tally: Tally
    with counter.window() as tally:
        started = time.perf_counter()
        report = agency_usage(service, agency_id, {**window.params, "group_by": group_by, "limit": "500"})
        elapsed = time.perf_counter() - started
    return tally, report, elapsed


def expected_reads(members: Sequence[Member], events: Sequence[Event]) -> dict[str, Any]:
    """What the report must read: its accounts, and the monthly rollups of the window, nothing else.

    A monthly rollup item holds every category of one (account, month); the agency's items
    are kept in one partition per year and shard, read by one range query each.
    """
    from chalicelib.adapters.tables.rollups import ROLLUP_SHARDS

    monthly = {(e.account_id, e.local_month, e.category) for e in events if e.in_window}
    usage_monthly = {c for c in monthly if c[2] != RECHARGE}
    items = {(account_id, month) for account_id, month, _category in monthly}
    years = {month[:4] for _account_id, month in items}
    categories_present: dict[str, set[str]] = defaultdict(set)
    for account_id, _month, category in monthly:
        categories_present[account_id].add(category)
    return {
        "account_items": 1 + (len(members) - 1),  # GetItem of the agency + its sub-accounts from the by_agency index
        "monthly_rollups": len(items),
        "monthly_rollups_usage": len(usage_monthly),
        "monthly_rollups_recharge": len(monthly) - len(usage_monthly),
        "items": len(members) + len(items),
        "requests": 1 + 1 + len(years) * ROLLUP_SHARDS,  # GetItem, Query by_agency, a Query per year and shard
        # The bound, "12 items per account per category present", summed over the
        # report's accounts (the agency is one of them), plus the account items themselves.
        "bound_items": len(members) + sum(MONTHS * len(c) for c in categories_present.values()),
        "categories_present": dict(sorted(Counter(len(c) for c in categories_present.values()).items())),
    }


def _tally_json(tally: Tally, prefix: str) -> dict[str, Any]:
    counted = tally.as_dict()
    for key in ("requests_by_table", "items_read_by_table"):
        counted[key] = {name.removeprefix(prefix): n for name, n in counted[key].items()}
    return counted


# -- the naive peer: SQLite over the raw events ----------------------------------------------

PEER_SCHEMA = """
CREATE TABLE accounts (account_id TEXT PRIMARY KEY, agency_id TEXT, time_zone TEXT NOT NULL);
CREATE TABLE usage_events (
    event_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    category TEXT NOT NULL,
    occurred_at TEXT NOT NULL,     -- UTC, RFC 3339 (sorts in time order)
    local_month TEXT NOT NULL,     -- YYYY-MM in the account's zone, stored at write time
    quantity_micros INTEGER NOT NULL,
    amount_micros INTEGER NOT NULL
);
CREATE INDEX usage_events_by_account_time ON usage_events (account_id, occurred_at);
"""

# Per account of the agency: its local range as UTC instants (as the report computes it).
PEER_RANGES = """
CREATE TEMP TABLE report_range (account_id TEXT PRIMARY KEY, start_utc TEXT NOT NULL, end_utc TEXT NOT NULL)
"""

# CROSS JOIN keeps report_range the outer loop (SQLite does not reorder it): per account
# one range search of the index. Left to itself, the planner scanned the whole index.
PEER_QUERY = """
SELECT e.account_id, {period} AS period, e.category,
       COUNT(*), SUM(e.quantity_micros), {amount}
FROM report_range r
CROSS JOIN usage_events e INDEXED BY usage_events_by_account_time
  ON e.account_id = r.account_id AND e.occurred_at >= r.start_utc AND e.occurred_at < r.end_utc
WHERE e.category IN ('call_minutes', 'text_messages', 'number_renewals', 'subscription_fees')
GROUP BY e.account_id, period, e.category
"""

PEER_ROWS_IN_RANGE = """
SELECT COUNT(*)
FROM report_range r
CROSS JOIN usage_events e INDEXED BY usage_events_by_account_time
  ON e.account_id = r.account_id AND e.occurred_at >= r.start_utc AND e.occurred_at < r.end_utc
"""


def _utc_text(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Peer:
    """The raw events in SQLite (in memory), every volume's agency in the same table."""

    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:")
        self.db.executescript(PEER_SCHEMA)
        self.rows_aggregated = 0

        def counted(value: int) -> int:
            self.rows_aggregated += 1
            return value

        self.db.create_function("counted", 1, counted, deterministic=False)

    def load(self, agency_id: str, members: Sequence[Member], events: Sequence[Event]) -> float:
        started = time.perf_counter()
        with self.db:
            self.db.executemany(
                "INSERT INTO accounts VALUES (?, ?, ?)",
                [(m.account_id, None if m.account_id == agency_id else agency_id, m.zone) for m in members],
            )
            self.db.executemany(
                "INSERT INTO usage_events VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.event_id,
                        e.account_id,
                        e.category,
                        _utc_text(e.occurred_at),
                        e.local_month,
                        e.quantity_micros,
                        e.amount_micros,
                    )
                    for e in events
                ],
            )
        self.db.execute("ANALYZE")
        return time.perf_counter() - started

    def _set_ranges(self, agency_id: str, window: Window) -> None:
        from chalicelib.domain.periods import local_range

        self.db.execute("DROP TABLE IF EXISTS temp.report_range")
        self.db.execute(PEER_RANGES)
        accounts = self.db.execute(
            "SELECT account_id, time_zone FROM accounts WHERE account_id = ? OR agency_id = ?", (agency_id, agency_id)
        ).fetchall()
        rows = []
        for account_id, zone in accounts:
            period = local_range(window.first.isoformat(), window.last.isoformat(), zone)
            assert period.start is not None and period.end is not None
            rows.append((account_id, _utc_text(period.start), _utc_text(period.end)))
        self.db.executemany("INSERT INTO temp.report_range VALUES (?, ?, ?)", rows)

    def report(self, agency_id: str, window: Window, group_by: str) -> dict[str, Any]:
        self._set_ranges(agency_id, window)
        period = "e.local_month" if group_by == "month" else "'total'"
        plain = PEER_QUERY.format(period=period, amount="SUM(e.amount_micros)")
        started = time.perf_counter()
        rows = self.db.execute(plain).fetchall()
        elapsed = time.perf_counter() - started
        self.rows_aggregated = 0
        counted_rows = self.db.execute(
            PEER_QUERY.format(period=period, amount="SUM(counted(e.amount_micros))")
        ).fetchall()
        if sorted(counted_rows) != sorted(rows):
            raise RuntimeError("the counting query disagrees with the plain one")
        in_range = int(self.db.execute(PEER_ROWS_IN_RANGE).fetchone()[0])
        plan = [str(r[3]) for r in self.db.execute("EXPLAIN QUERY PLAN " + plain).fetchall()]
        cells: dict[Cell, Sums] = {(a, p, c): (int(n), int(q), int(m)) for a, p, c, n, q, m in rows}
        return {
            "cells": cells,
            "rows_read": in_range,
            "rows_aggregated": self.rows_aggregated,
            "result_rows": len(rows),
            "wall_time_ms": round(elapsed * 1000, 2),
            "query_plan": plan,
            "index_range_search": any(
                "SEARCH e USING INDEX usage_events_by_account_time (account_id=? AND occurred_at>? AND occurred_at<?)"
                in step
                for step in plan
            )
            and not any(step.startswith("SCAN e") for step in plan),
        }


# -- the benchmark ------------------------------------------------------------------------


def warm_up(counter: RequestCounter, now: datetime) -> None:
    """Clients, the JIT of DynamoDB Local, pydantic: a small agency written and read, uncounted."""
    from chalicelib.adapters.tables.base import all_models
    from chalicelib.domain.access import Principal, Role
    from chalicelib.services.reports import agency_usage

    agency_id, members = provision("warm", subs=4)
    window = report_window(now, months=2)
    events = make_events("warm", members, window, 5 * 2 * len(USAGE) * 2, now)
    write(events)
    counter.attach_models(all_models())
    service = Principal(subject="bench", account_id="platform", role=Role.SERVICE)
    agency_usage(service, agency_id, {**window.params, "group_by": "month"})


def run_volume(
    counter: RequestCounter, peer: Peer, run: str, volume: int, window: Window, now: datetime, prefix: str
) -> dict[str, Any]:
    agency_id, members = provision(run)
    events = make_events(run, members, window, volume, now)
    stats = write(events)
    usage = [e for e in events if e.category != RECHARGE and e.in_window]
    write_problems = []
    if stats.charged != len(events) or stats.duplicates or stats.dead_lettered or stats.failed:
        write_problems.append(
            f"writer said charged={stats.charged} of {len(events)}, duplicates={stats.duplicates}, "
            f"dead_lettered={stats.dead_lettered} {stats.reasons}, failed={stats.failed}"
        )
    load_s = peer.load(agency_id, members, events)
    expected = expected_reads(members, events)
    reports: dict[str, Any] = {}
    for group_by in ("month", "total"):
        tally, report, elapsed = measure(counter, agency_id, window, group_by)
        peer_result = peer.report(agency_id, window, group_by)
        want = expected_cells(events, group_by)
        peer_problems = compare("sqlite", peer_result.pop("cells"), want)
        if not peer_result["index_range_search"]:
            peer_problems.append(f"sqlite: not one index range search per account: {peer_result['query_plan']}")
        rollup_table_items = sum(n for t, n in tally.items_read_by_table.items() if t.endswith("-rollups"))
        items = sum(tally.items_read.values())
        reports[group_by] = {
            "dynamodb": {
                **_tally_json(tally, prefix),
                "rollup_items_read": rollup_table_items,
                "wall_time_ms": round(elapsed * 1000, 2),
                "reads_exactly_expected": items == expected["items"]
                and rollup_table_items == expected["monthly_rollups"]
                and tally.total_requests == expected["requests"],
            },
            "sqlite": {**peer_result, "correct": not peer_problems, "problems": peer_problems[:10]},
            "rows_read_ratio_sqlite_to_dynamodb": round(peer_result["rows_read"] / items, 2) if items else None,
            "correctness": check_report(report, events, group_by),
        }
    per_category = Counter(e.category for e in usage)
    return {
        "agency_id": agency_id,
        "volume": volume,
        "usage_events": len(usage),
        "recharge_events": sum(1 for e in events if e.category == RECHARGE),
        "events_just_outside_window": sum(1 for e in events if not e.in_window),
        "events_by_category": dict(sorted(per_category.items())),
        "accounts": len(members),
        "shared_billing_sub_accounts": sum(1 for m in members if m.billing == "agency"),
        "own_billing_sub_accounts": sum(1 for m in members[1:] if m.billing == "own"),
        "time_zones": sorted({m.zone for m in members}),
        "write": {
            "record_usage_calls": stats.calls,
            "messages": stats.messages,
            "transactions": stats.transactions,
            "charged": stats.charged,
            "wall_time_s": stats.wall_time_s,
            "events_per_s": round(len(events) / stats.wall_time_s, 1) if stats.wall_time_s else None,
            "problems": write_problems,
        },
        "balances": check_balances(members, events),
        "sqlite_load_s": round(load_s, 2),
        "expected_reads": expected,
        "reports": reports,
    }


def run(counter: RequestCounter, prefix: str, n: int = N, scale: int = SCALE) -> dict[str, Any]:
    now = datetime.now(UTC)
    window = report_window(now)
    warm_up(counter, now)
    peer = Peer()
    volumes: dict[str, Any] = {}
    for label, volume in (("N", n), (f"{scale}N", n * scale)):
        print(f"reports: {volume:,} events ({label}) ...", flush=True)
        volumes[label] = run_volume(counter, peer, f"r{volume}", volume, window, now, prefix)
    small, large = volumes["N"], volumes[f"{scale}N"]
    ratios = {}
    for group_by in ("month", "total"):
        at_n = small["reports"][group_by]["dynamodb"]["items_read"]
        at_10n = large["reports"][group_by]["dynamodb"]["items_read"]
        ratios[group_by] = {
            "dynamodb_items_read": round(at_10n / at_n, 2) if at_n else None,
            "dynamodb_items_equal": at_n == at_10n,
            "sqlite_rows_read": round(
                large["reports"][group_by]["sqlite"]["rows_read"] / small["reports"][group_by]["sqlite"]["rows_read"], 2
            ),
        }
    return {
        "config": {
            "n": n,
            "volumes": {label: v["volume"] for label, v in volumes.items()},
            "window": {"from": window.first.isoformat(), "to": window.last.isoformat(), "months": MONTHS},
            "agency_time_zone": AGENCY_ZONE,
            "sub_accounts": SUB_ACCOUNTS,
            "shared_billing": SHARED_BILLING,
            "zones": list(ZONES),
            "report_call": "chalicelib.services.reports.agency_usage(service principal, agency, "
            "{from, to, group_by}) once per group_by, counted; one uncounted warm-up report on a small "
            "agency before",
            "events": "per account and month: 1 subscription fee (explicit amount, local midnight on the 1st) and "
            "at least 1 each of calls, texts, number renewals; the rest dealt at random (accounts Pareto-weighted; "
            "60% calls, 35% texts, 5% renewals), 3% within 2 minutes of local midnight; plus 1 recharge per "
            "billing account and month, and per account a call 30 s before and 30 s after the window in local "
            "time (neither counted in N)",
            "writer": f"record_usage, per billing account in time order, {EVENTS_PER_MESSAGE} events a message, "
            f"{MESSAGES_PER_CALL} messages a call",
            "items_read": "GetItem items + Query Count (ScannedCount reported beside) + BatchGetItem items, "
            "from botocore's after-call event",
            "max_items_read_target": MAX_ITEMS_READ,
            "peer": "SQLite (stdlib, in memory), raw events with an index on (account_id, occurred_at) and the "
            "local month stored per event; GROUP BY account_id, month, category over each account's local range; "
            "rows read = events in range",
            "seed": SEED,
        },
        "volumes": volumes,
        "ratio_10n_to_n": ratios,
    }
