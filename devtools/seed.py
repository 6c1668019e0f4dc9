"""Demo data for `make run`: an agency, three sub-accounts and months of usage, funded by card.

Everything goes through the service layer (`put_account`, `put_billing_settings`,
`record_usage`, the billing worker's `run_task`), the same code the API, the queue
handler and the worker use. The data is deterministic: each day's events are drawn
from an RNG seeded by (account, date) and carry ids made of the account, kind, date
and index. Running the seed again charges nothing new (the ledger dedupes event ids
forever); running it on a later day only adds the days since.

One story, told the way the platform lives it: the balances start empty and are
funded by auto-recharge. Usage is rated nightly (a batch per billing account and
local day, posted at 23:59 local; today's so far is posted now); when a night's batch takes a balance below its
threshold, the billing worker charges the card on file at that moment, records the
payment (with its receipt) and credits it. So every card-funded credit in the Logs is
a payment in Payment History, with a receipt, and every statement's card charges
match its recharges. Thames Lettings' card expired weeks ago: its recharges since
were declined, and after three declines auto-recharge paused (devtools/seed_payments.py
adds today's manual top-ups).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .demo_ids import AGENCY_ID, OWN_1_ID, OWN_2_ID, SHARED_ID

MONTHS_BACK = 3
BATCH_MESSAGES = 500


@dataclass(frozen=True)
class DemoAccount:
    account_id: str
    body: dict[str, Any]
    numbers: tuple[str, ...] = ()  # phone numbers renewed monthly
    plan: tuple[str, str] | None = None  # (description, monthly amount)
    calls_per_weekday: tuple[int, int] = (0, 0)
    texts_per_day: tuple[int, int] = (0, 0)
    goodwill_credit: str | None = None  # a quarterly adjustment (credit) on the 21st

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(str(self.body["time_zone"]))


DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount(
        AGENCY_ID,
        {
            "name": "Demo Agency",
            "kind": "agency",
            "time_zone": "America/New_York",
            "currency": "USD",
            "emails": ["billing@demo-agency.example"],
        },
        plan=("Agency plan (monthly)", "99.00"),  # its balance pays for itself and the shared sub-account
    ),
    DemoAccount(
        SHARED_ID,
        {
            "name": "Brightside Dental",
            "time_zone": "America/New_York",
            "currency": "USD",
            "agency_id": AGENCY_ID,
            "billing": "agency",
            "emails": ["office@brightside-dental.example"],
        },
        numbers=("+15550100101", "+15550100102"),
        plan=("Starter plan (monthly)", "29.00"),
        calls_per_weekday=(3, 9),
        texts_per_day=(0, 4),
    ),
    DemoAccount(
        OWN_1_ID,
        {
            "name": "Harbor Plumbing",
            "time_zone": "America/Chicago",
            "currency": "USD",
            "agency_id": AGENCY_ID,
            "billing": "own",
            "emails": ["accounts@harbor-plumbing.example"],
        },
        numbers=("+15550100201", "+15550100202", "+15550100203"),
        plan=("Pro plan (monthly)", "49.00"),
        calls_per_weekday=(2, 8),
        texts_per_day=(0, 5),
        goodwill_credit="5.00",
    ),
    DemoAccount(
        OWN_2_ID,
        {
            "name": "Thames Lettings",
            "time_zone": "Europe/London",
            "currency": "USD",
            "agency_id": AGENCY_ID,
            "billing": "own",
            "emails": ["finance@thames-lettings.example"],
        },
        numbers=("+15550100301",),
        plan=("Starter plan (monthly)", "29.00"),
        calls_per_weekday=(1, 5),
        texts_per_day=(1, 6),
    ),
)


@dataclass
class SeedSummary:
    accounts_created: int = 0
    accounts_updated: int = 0
    events: int = 0
    charged: int = 0
    duplicates: int = 0
    rejected: list[str] = field(default_factory=list)
    first_day: date | None = None
    last_day: date | None = None
    seconds: float = 0.0


def first_day(today: date) -> date:
    """The first day of the month MONTHS_BACK months before today's month."""
    month_index = today.year * 12 + (today.month - 1) - MONTHS_BACK
    return date(month_index // 12, month_index % 12 + 1, 1)


def _days(start: date, end: date) -> Iterator[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def _at(day: date, hour: int, minute: int, zone: ZoneInfo) -> str:
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
    return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pretty(number: str) -> str:
    digits = number[-10:]
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


def day_events(account: DemoAccount, day: date) -> list[dict[str, Any]]:
    """The account's events of one (local) day: a pure function of (account, day)."""
    zone = account.zone
    key = f"{account.account_id}-{day.isoformat()}"
    events: list[dict[str, Any]] = []
    if day.day == 1:
        if account.plan:
            description, amount = account.plan
            events.append(
                {
                    "event_id": f"seed-{account.account_id}-subscription-{day:%Y-%m}",
                    "account_id": account.account_id,
                    "category": "subscription_fees",
                    "amount": amount,
                    "occurred_at": _at(day, 0, 5, zone),
                    "description": f"{description} {day:%B %Y}",
                }
            )
        for n, number in enumerate(account.numbers):
            events.append(
                {
                    "event_id": f"seed-{account.account_id}-renewal-{day:%Y-%m}-{n}",
                    "account_id": account.account_id,
                    "category": "number_renewals",
                    "quantity": "1",
                    "occurred_at": _at(day, 0, 10 + n, zone),
                    "description": f"Number renewal {_pretty(number)}",
                    "metadata": {"phone_number": number},
                }
            )
    if account.goodwill_credit and day.day == 21 and day.month % 3 == 0:
        # A quarterly goodwill credit: an adjustment always says why.
        events.append(
            {
                "event_id": f"seed-{account.account_id}-adjustment-{day.isoformat()}",
                "account_id": account.account_id,
                "category": "adjustment",
                "amount": account.goodwill_credit,
                "occurred_at": _at(day, 10, 30, zone),
                "description": f"Goodwill credit: dropped calls on {day:%b} {day.day - 1}",
            }
        )
    rng = random.Random(key)
    low, high = account.calls_per_weekday
    calls = rng.randint(low, high) if day.weekday() < 5 else rng.randint(0, max(low, high // 3))
    for i in range(calls):
        minutes = rng.choice((1, 1, 2, 2, 3, 3, 4, 5, 6, 8, 11, 15))
        hour, minute = rng.randint(8, 18), rng.randint(0, 59)
        caller = f"+1555{rng.randint(2000000, 9999999)}"
        number = account.numbers[i % len(account.numbers)] if account.numbers else ""
        events.append(
            {
                "event_id": f"seed-{key}-call-{i}",
                "account_id": account.account_id,
                "category": "call_minutes",
                "quantity": str(minutes),
                "occurred_at": _at(day, hour, minute, zone),
                "description": f"Inbound call from {_pretty(caller)}",
                "metadata": {"call_id": f"{key}-{i}", "phone_number": number},
            }
        )
    low, high = account.texts_per_day
    for i in range(rng.randint(low, high)):
        segments = rng.choice((1, 1, 1, 2))
        hour, minute = rng.randint(8, 20), rng.randint(0, 59)
        events.append(
            {
                "event_id": f"seed-{key}-text-{i}",
                "account_id": account.account_id,
                "category": "text_messages",
                "quantity": str(segments),
                "occurred_at": _at(day, hour, minute, zone),
                "description": "Outbound text message" + (f" ({segments} segments)" if segments > 1 else ""),
                "metadata": {"message_id": f"{key}-sms-{i}"},
            }
        )
    return events


def demo_events(today: date, now: datetime) -> list[dict[str, Any]]:
    """Every demo event from first_day(today) up to now (today's so far), never in the future."""
    start, end = first_day(today), today
    events: list[dict[str, Any]] = []
    for account in DEMO_ACCOUNTS:
        for day in _days(start, end):
            events.extend(day_events(account, day))
    now_text = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    events = [e for e in events if e["occurred_at"] <= now_text]
    events.sort(key=lambda e: (e["occurred_at"], e["event_id"]))
    return events


def _fixed_clock(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def provision(summary: SeedSummary) -> None:
    from chalicelib.domain.access import Principal, Role
    from chalicelib.services.accounts import put_account

    seeder = Principal("seed", "platform", Role.SERVICE)
    for account in DEMO_ACCOUNTS:  # the agency first: sub-accounts name it
        _, created = put_account(seeder, account.account_id, account.body)
        if created:
            summary.accounts_created += 1
        else:
            summary.accounts_updated += 1


def billing_timelines(events: list[dict[str, Any]], now: datetime) -> dict[str, dict[datetime, list[dict[str, Any]]]]:
    """The events of each billing account, in nightly batches: {billing account: {posted at: events}}.

    A batch is one local day of the billing account (the day the events happened in their
    own account's zone), posted at 23:59 that night in the billing account's zone."""
    accounts = {a.account_id: a for a in DEMO_ACCOUNTS}
    timelines: dict[str, dict[datetime, list[dict[str, Any]]]] = {}
    for event in events:
        account = accounts[event["account_id"]]
        billing = accounts[billing_account_of(account)]
        local_day = datetime.fromisoformat(event["occurred_at"]).astimezone(account.zone).date()
        night = datetime(local_day.year, local_day.month, local_day.day, 23, 59, tzinfo=billing.zone).astimezone(UTC)
        timelines.setdefault(billing.account_id, {}).setdefault(min(now, night), []).append(event)
    return timelines


def billing_account_of(account: DemoAccount) -> str:
    if account.body.get("billing") == "agency":
        return str(account.body["agency_id"])
    return account.account_id


def seed(today: date | None = None, verbose: bool = True) -> SeedSummary:
    """Provision the demo accounts, their cards, and charge their history (idempotent)."""
    from chalicelib.adapters.ledger_repo import LedgerRepository
    from chalicelib.services.usage import QueuedMessage, record_usage

    from .seed_payments import PaymentSeedSummary, ensure_settings, run_recharges, seed_payments

    started = time.monotonic()
    now = datetime.now(UTC)
    today = today or now.date()
    summary = SeedSummary(first_day=first_day(today), last_day=today)
    provision(summary)

    events = demo_events(today, now)
    summary.events = len(events)

    def dead_letter(message: QueuedMessage, reason: str, raw: str) -> None:
        summary.rejected.append(f"{message.message_id}: {reason}")

    payments = PaymentSeedSummary()
    ledger = LedgerRepository()
    for billing_id, nights in billing_timelines(events, now).items():
        # Nights already posted by an earlier run are skipped: postings stay in time order.
        last_posted = ledger.balance(billing_id).last_posted_at
        for posted, batch in sorted(nights.items()):
            if last_posted is not None and posted <= last_posted:
                summary.duplicates += len(batch)
                continue
            ensure_settings(billing_id, posted.date(), today, payments)  # the card on file that night
            for start in range(0, len(batch), BATCH_MESSAGES):
                chunk = batch[start : start + BATCH_MESSAGES]
                messages = [QueuedMessage(e["event_id"], json.dumps(e), "seed") for e in chunk]
                outcome = record_usage(messages, dead_letter=dead_letter, clock=_fixed_clock(posted))
                summary.charged += outcome.charged
                summary.duplicates += outcome.duplicates
                if outcome.failed_message_ids:
                    raise RuntimeError(f"seeding failed for {len(outcome.failed_message_ids)} event(s) posted {posted}")
                # The billing worker, that night: a balance left below its threshold is recharged.
                run_recharges(billing_id, outcome.tasks, min(now, posted + timedelta(minutes=1)), payments)

    seed_payments(today, payments, verbose=verbose)
    summary.seconds = time.monotonic() - started
    if summary.rejected:
        raise RuntimeError("demo events were rejected: " + "; ".join(summary.rejected[:5]))
    if verbose:
        print(
            f"seed: {len(DEMO_ACCOUNTS)} accounts ({summary.accounts_created} created, "
            f"{summary.accounts_updated} already there), {summary.events} events "
            f"{summary.first_day} .. {summary.last_day}: {summary.charged} charged, "
            f"{summary.duplicates} already charged, in {summary.seconds:.1f}s",
            flush=True,
        )
    return summary


def main() -> int:
    """`python -m devtools.seed`: seed the stack `make run` runs (it must be running)."""
    from devtools.stack_config import StackConfig, apply_env

    apply_env(StackConfig.from_env())
    seed()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
