"""Charging usage events to balances, exactly once.

`record_usage` is what the SQS handler calls with a batch of queue messages.
Events are grouped by billing account; each group is read once (its balance
head) and written in as few transactions as fit, its events ordered by account
so that each account's entries of a transaction are one Logs page. Duplicates, whether inside the
batch or charged long ago, are dropped; malformed events are dead-lettered with
their reason; a transient failure fails only the messages it must (and, for
FIFO order, every later message of the same message group).
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from ..adapters.concurrency import run_both
from ..adapters.ledger_repo import CommitConflict
from ..adapters.storage_errors import error_code, is_transient
from ..domain.accounts import Account
from ..domain.auto_recharge import BillingTask, reactions
from ..domain.events import UsageEvent, decode_message
from ..domain.ledger import BalanceState, PricedEvent, chunk_for_transactions, plan_entries
from ..domain.posting import event_digest, posting_for
from ..domain.pricing import RateCard, RateCardError, price_event
from ..domain.rollups import keys_for
from .alert_check import GroupAlerts, group_alerts
from .ports import AccountStore, LedgerStore
from .rates import agency_ids, billing_currency_problem, rate_card_for
from .stores import stores

MAX_COMMIT_ATTEMPTS = 8


@dataclass(frozen=True)
class QueuedMessage:
    message_id: str
    body: str
    group_id: str | None = None


@dataclass
class UsageOutcome:
    charged: int = 0
    duplicates: int = 0
    dead_lettered: list[tuple[str, str]] = field(default_factory=list)  # (message id, reason)
    failed_message_ids: list[str] = field(default_factory=list)
    transactions: int = 0
    tasks: list[BillingTask] = field(default_factory=list)  # to send once the batch is written
    # Known event ids that came with other content or for another account: not charged (the
    # first version stays, forever), dead-lettered with the reason. (event id, reason)
    conflicts: list[tuple[str, str]] = field(default_factory=list)


# (the message it came in, the reason, the event's own JSON)
DeadLetter = Callable[[QueuedMessage, str, str], None]


@dataclass
class _Item:
    message: QueuedMessage
    event: UsageEvent
    account: Account
    raw: str


def record_usage(
    messages: Sequence[QueuedMessage],
    *,
    dead_letter: DeadLetter,
    accounts: AccountStore | None = None,
    ledger: LedgerStore | None = None,
    clock: Callable[[], datetime] = lambda: stores().clock(),
    sleep: Callable[[float], None] = time.sleep,
) -> UsageOutcome:
    accounts = accounts or stores().accounts
    ledger = ledger or stores().ledger
    outcome = UsageOutcome()
    now = clock()

    def reject(message: QueuedMessage, reason: str, raw: str) -> None:
        try:
            dead_letter(message, reason, raw)
        except Exception:  # the DLQ is down: let SQS redeliver rather than lose it
            outcome.failed_message_ids.append(message.message_id)
        else:
            outcome.dead_lettered.append((message.message_id, reason))

    parsed: list[tuple[QueuedMessage, UsageEvent, str]] = []
    for message in messages:
        for decoded in decode_message(message.body, now):
            if decoded.event is None:
                reject(message, decoded.error or "invalid event", decoded.raw)
            else:
                parsed.append((message, decoded.event, decoded.raw))

    known = accounts.get_many(event.account_id for _, event, _ in parsed)
    groups: dict[str, list[_Item]] = defaultdict(list)
    for message, event, raw in parsed:
        account = known.get(event.account_id)
        if account is None:
            reject(message, f"account_id: unknown account {event.account_id!r}", raw)
            continue
        groups[account.billing_account_id].append(_Item(message, event, account, raw))

    failed: set[str] = set()
    # Every balance head of the batch in one consistent read; a head that moves
    # meanwhile fails its transaction's condition and is read again. The billing
    # accounts themselves (an agency paying for its sub-accounts) and the agencies of the
    # batch's accounts (their rates price their sub-accounts; their usage alerts are on the
    # agency's item) are read beside it, in one BatchGetItem.
    missing = sorted((set(groups) | agency_ids(known.values())) - set(known))
    heads, payers = run_both(
        lambda: ledger.balances(list(groups), consistent=True) if groups else {},
        lambda: accounts.get_many(missing) if missing else {},
    )
    known = {**known, **payers}
    for billing_account_id, items in groups.items():
        payer = known.get(billing_account_id) or items[0].account
        alerts = group_alerts((item.account for item in items), known)
        failed |= _write_billing_group(
            heads[billing_account_id],
            payer,
            items,
            ledger,
            outcome,
            reject,
            clock,
            sleep,
            agencies=known,
            alerts=alerts,
        )

    outcome.failed_message_ids.extend(_fifo_closure(messages, failed | set(outcome.failed_message_ids)))
    outcome.failed_message_ids = list(dict.fromkeys(outcome.failed_message_ids))
    return outcome


def _write_billing_group(
    head: BalanceState,
    payer: Account,
    items: list[_Item],
    ledger: LedgerStore,
    outcome: UsageOutcome,
    reject: Callable[[QueuedMessage, str, str], None],
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
    agencies: Mapping[str, Account],
    alerts: GroupAlerts | None = None,
) -> set[str]:
    """Charge one billing account's events; returns the message ids that must be retried.

    `alerts`: the usage alerts these events can set off, decided in the same transactions."""
    messages_of: dict[str, list[QueuedMessage]] = defaultdict(list)
    priced: list[PricedEvent] = []
    cards: dict[str, RateCard] = {}
    digests: dict[str, str] = {}
    raw_of: dict[str, str] = {}
    account_of: dict[str, str] = {}
    twins: list[tuple[_Item, str]] = []
    # By account (stable, so each account keeps its events' order): one page per account and transaction.
    for item in sorted(items, key=lambda i: i.account.account_id):
        event_id = item.event.event_id
        digest = event_digest(item.event)
        if event_id in messages_of:
            if digests[event_id] == digest:  # the same event twice in this batch: it shares the first's fate
                messages_of[event_id].append(item.message)
                outcome.duplicates += 1
            else:  # another version: judged once the first is written, against what the ledger holds
                twins.append((item, digest))
            continue
        # A balance holds one currency: an account priced in another is refused, never charged.
        problem = billing_currency_problem(item.account, payer)
        if problem is not None:
            reject(item.message, problem, item.raw)
            continue
        card = cards.get(item.account.account_id) or cards.setdefault(
            item.account.account_id, rate_card_for(item.account, agencies.get(item.account.agency_id or ""))
        )
        try:
            price = price_event(
                item.event.category,
                item.event.quantity,
                card,
                unit_price_micros=item.event.unit_price_micros,
                amount_micros=item.event.amount_micros,
            )
        except RateCardError as exc:
            reject(item.message, str(exc), item.raw)
            continue
        messages_of[event_id].append(item.message)
        digests[event_id] = digest
        raw_of[event_id] = item.raw
        account_of[event_id] = item.account.account_id
        priced.append(
            PricedEvent(
                event=item.event,
                account_id=item.account.account_id,
                agency_id=item.account.agency_scope,
                unit=price.unit,
                unit_price_micros=price.unit_price_micros,
                amount_micros=price.amount_micros,
            )
        )
    if not priced:
        _judge_twins(ledger, twins, raw_of, outcome, reject)
        return set()

    currency = payer.currency
    zones = {item.account.account_id: item.account.zone for item in items}
    scopes = {item.account.account_id: item.account.agency_scope or item.account.account_id for item in items}
    scopes[payer.account_id] = payer.agency_scope or payer.account_id

    def shared_items(p: PricedEvent) -> tuple[object, ...]:
        """What this event shares with the others of its transaction: its account's page and rollup items."""
        local_day = p.event.occurred_at.astimezone(zones[p.account_id]).date()
        return ("page", p.account_id), *(k.item for k in keys_for(p.account_id, p.event.category, local_day))

    # Fixed items of every transaction: the balance head and its posting day (and room for alerts).
    fixed = 2 + (alerts.reserved_items if alerts else 0)
    chunks = deque(chunk_for_transactions(priced, shared_keys=shared_items, fixed_items=fixed))
    if alerts:
        alerts.plan_reads(priced)
    key = stores().secrets.ledger_key()
    billing_account_id = head.billing_account_id
    state = head
    while chunks:
        pending = list(chunks.popleft())
        attempts = 0
        while pending:
            now = clock()
            plan = plan_entries(state, pending, now, key)
            # Auto-recharge and low-balance alerts are decided in the same transaction
            # that moves the balance, so concurrent writers can never both request one.
            recharge, tasks = reactions(
                billing_account_id, state.billing, plan.after.balance_micros, plan.after.seq, now
            )
            changed = recharge if recharge != state.billing.recharge else None
            posting = posting_for(
                plan,
                currency=currency,
                zones=zones,
                billing_zone=payer.zone,
                scopes=scopes,
                event_digests=digests,
            )
            try:  # the usage alerts this transaction sets off (services/alert_check.py)
                prepared = alerts.prepare(posting, now) if alerts else None
            except Exception as exc:
                if is_transient(exc):  # a read that failed: SQS tries the events again
                    return _messages_from([pending, *chunks], messages_of)
                raise
            if prepared is not None and prepared.too_big:  # its firings do not fit: two transactions
                half = len(pending) // 2
                chunks.extendleft([pending[half:], pending[:half]])
                break
            try:
                outcome.transactions += 1
                if prepared:
                    ledger.commit(posting, changed, extra=prepared.writes)
                else:
                    ledger.commit(posting, changed)
            except CommitConflict as conflict:
                if alerts:
                    alerts.conflict(conflict, prepared)
                attempts += 1
                if conflict.duplicate_event_ids:
                    known = conflict.duplicate_event_ids
                    _sort_known(ledger, known, digests, account_of, messages_of, raw_of, outcome, reject)
                    pending = [p for p in pending if p.event.event_id not in conflict.duplicate_event_ids]
                if attempts >= MAX_COMMIT_ATTEMPTS:
                    return _messages_from([pending, *chunks], messages_of) | {t.message.message_id for t, _ in twins}
                if conflict.balance_moved or conflict.transient:
                    if conflict.transient:
                        sleep(min(0.05 * 2**attempts, 1.0) * random.random())
                    state = ledger.balance(billing_account_id)
                continue
            except Exception as exc:
                if is_transient(exc):
                    # Unknown outcome (network, throttling beyond retries): the events are
                    # retried by SQS and the dedupe condition makes that safe.
                    return _messages_from([pending, *chunks], messages_of) | {t.message.message_id for t, _ in twins}
                # DynamoDB refused the write itself (an item too large, a value it cannot
                # store): retrying cannot help. Find the event that cannot be written by
                # writing the chunk's events one at a time; that one is dead-lettered alone.
                if len(pending) > 1:
                    chunks.extendleft(reversed([[p] for p in pending]))
                else:
                    reason = f"event {pending[0].event.event_id!r}: DynamoDB refused it: {error_code(exc) or exc}"
                    for message in messages_of[pending[0].event.event_id]:
                        reject(message, reason, raw_of[pending[0].event.event_id])
                break
            outcome.charged += len(plan.entries)
            outcome.tasks.extend(tasks)
            if alerts and prepared is not None:
                alerts.committed(posting, prepared, now)
            state = replace(plan.after, billing=replace(plan.after.billing, recharge=recharge))
            break
    _judge_twins(ledger, twins, raw_of, outcome, reject)
    return set()


def _judge_twins(
    ledger: LedgerStore,
    twins: list[tuple[_Item, str]],
    raw_of: dict[str, str],
    outcome: UsageOutcome,
    reject: Callable[[QueuedMessage, str, str], None],
) -> None:
    """Other versions of an event id that came earlier in the batch: the same as what the ledger
    holds is a duplicate, anything else a conflict."""
    if not twins:
        return
    charged = ledger.charged(t.event.event_id for t, _ in twins)
    for twin, digest in twins:
        event_id = twin.event.event_id
        stored = charged.get(event_id)
        if stored is not None and stored[1] in (None, digest):
            outcome.duplicates += 1
            continue
        reason = (
            f"event {event_id!r}: came twice in one batch with different content; "
            "the version the ledger holds is charged, this one is not"
        )
        _conflict(outcome, reject, twin.message, twin.raw, event_id, reason, raw_of.get(event_id, ""))


def _sort_known(
    ledger: LedgerStore,
    event_ids: set[str],
    digests: dict[str, str],
    account_of: dict[str, str],
    messages_of: dict[str, list[QueuedMessage]],
    raw_of: dict[str, str],
    outcome: UsageOutcome,
    reject: Callable[[QueuedMessage, str, str], None],
) -> None:
    """Events charged before: the same event again is a duplicate (silent); another event under a
    known id (other content, or another account) is a conflict: reported, never charged."""
    charged = ledger.charged(event_ids)
    for event_id in sorted(event_ids):
        entry, digest = charged.get(event_id, (None, None))
        if entry is None or digest is None or digest == digests[event_id]:
            outcome.duplicates += 1  # (an entry from before digests were kept is taken as the same)
            continue
        whose = "another account's" if account_of[event_id] != entry.account_id else "other"
        reason = (
            f"event {event_id!r}: already charged for account {entry.account_id!r} (entry {entry.entry_id}, "
            f"posted {entry.posted_at.isoformat()}); this one has {whose} content and is not charged"
        )
        charged_version = json.dumps(
            {"account_id": entry.account_id, "category": entry.category.value, "quantity": str(entry.quantity),
             "amount_micros": entry.amount_micros, "description": entry.description,
             "occurred_at": entry.occurred_at.isoformat(), "metadata": entry.metadata},
            sort_keys=True,
        )  # fmt: skip
        for message in messages_of[event_id]:
            _conflict(outcome, reject, message, raw_of[event_id], event_id, reason, charged_version)


def _conflict(
    outcome: UsageOutcome,
    reject: Callable[[QueuedMessage, str, str], None],
    message: QueuedMessage,
    raw: str,
    event_id: str,
    reason: str,
    first_version: str,
) -> None:
    """Dead-letter a conflicting event with its reason, and log both versions for whoever looks."""
    from ..observability import get_logger, record_count

    outcome.conflicts.append((event_id, reason))
    record_count("UsageEventConflicts")
    get_logger().warning(
        "usage event conflict: a known event id with other content",
        extra={"event_id": event_id, "reason": reason, "charged": first_version, "received": raw},
    )
    reject(message, reason, raw)


def _messages_from(chunks: Sequence[Sequence[PricedEvent]], messages_of: dict[str, list[QueuedMessage]]) -> set[str]:
    return {m.message_id for chunk in chunks for p in chunk for m in messages_of[p.event.event_id]}


def _fifo_closure(messages: Sequence[QueuedMessage], failed: set[str]) -> list[str]:
    """Failed messages plus every later message of the same FIFO group, in batch order."""
    blocked_groups: set[str | None] = set()
    result = []
    for message in messages:
        if message.message_id in failed or (message.group_id in blocked_groups and message.group_id is not None):
            result.append(message.message_id)
            blocked_groups.add(message.group_id)
    return result
