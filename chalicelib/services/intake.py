"""`POST /usage-events`: validate a batch of events and put it on the usage queue.

All or nothing: any bad event makes a 400 listing every bad item, and nothing is
enqueued. An event is accepted only if the writer can charge it: valid, of a known
account, and priced within the ledger's range. An event the ledger holds already is
not queued again: the same content is a duplicate (counted), other content under a
known id a conflict (reported, never charged: the first version stays). Each
message's FIFO group is its billing account, so one balance's events are charged in
order and different balances in parallel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..adapters.concurrency import run_both
from ..adapters.queues import OutgoingMessage
from ..domain.access import Principal, Role
from ..domain.events import (
    InvalidEvent,
    UsageEvent,
    event_to_json,
    events_to_json,
    parse_event,
)
from ..domain.posting import event_digest
from ..domain.pricing import RateCard, RateCardError, price_event
from .errors import BadRequest, Forbidden, Unavailable
from .rates import agency_ids, billing_currency_problem, rate_card_for
from .stores import stores

MAX_EVENTS = 1000
EVENTS_PER_MESSAGE = 100
MESSAGE_BYTES = 200_000


@dataclass(frozen=True)
class Intake:
    """What POST /usage-events did with a batch: events queued, events charged before with the
    same content (nothing to do), and known event ids with other content or of another account
    (never charged: the first version stays)."""

    accepted: int
    duplicates: int
    conflicts: list[dict[str, str]]

    def as_json(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "conflicts": self.conflicts}


def submit_usage_events(principal: Principal, body: object) -> Intake:
    if principal.role is not Role.SERVICE:
        raise Forbidden("only the platform's service token may post usage events")
    if not isinstance(body, dict) or set(body) != {"events"} or not isinstance(body["events"], list):
        raise BadRequest('body must be {"events": [ ... ]}')
    raw_events = body["events"]
    if not 1 <= len(raw_events) <= MAX_EVENTS:
        raise BadRequest(f"events must hold 1 to {MAX_EVENTS} items")

    now = stores().clock()
    errors: list[dict[str, Any]] = []
    events: list[tuple[int, UsageEvent]] = []
    for index, raw in enumerate(raw_events):
        try:
            events.append((index, parse_event(raw, now)))
        except InvalidEvent as exc:
            event_id = raw.get("event_id") if isinstance(raw, dict) else None
            event_id = event_id if isinstance(event_id, str) else None
            errors.append({"index": index, "event_id": event_id, "message": str(exc)})

    # The accounts, and what the ledger already holds under these event ids, side by side.
    repo = stores().accounts
    accounts, charged = run_both(
        lambda: repo.get_many(e.account_id for _, e in events),
        lambda: stores().ledger.charged(e.event_id for _, e in events),
    )
    # The agencies whose rates price their sub-accounts (and that bill the shared ones): the writer's rule.
    agencies = agency_ids(accounts.values()) - set(accounts)
    accounts = {**accounts, **repo.get_many(agencies)} if agencies else accounts
    cards: dict[str, RateCard] = {}
    by_billing: dict[str, list[UsageEvent]] = {}
    seen: dict[str, str] = {}  # event id -> digest, in this request
    duplicates = 0
    conflicts: list[dict[str, str]] = []
    for index, event in events:
        account = accounts.get(event.account_id)
        if account is None:
            message = f"account_id: unknown account {event.account_id!r}"
            errors.append({"index": index, "event_id": event.event_id, "message": message})
            continue
        # Priced here as the writer will price it, so an event that can never be
        # charged (quantity x rate over the ledger's range) is refused, not queued.
        problem = billing_currency_problem(account, accounts.get(account.billing_account_id))
        if problem is not None:
            errors.append({"index": index, "event_id": event.event_id, "message": problem})
            continue
        card = cards.get(account.account_id) or cards.setdefault(
            account.account_id, rate_card_for(account, accounts.get(account.agency_id or ""))
        )
        try:
            price_event(
                event.category,
                event.quantity,
                card,
                unit_price_micros=event.unit_price_micros,
                amount_micros=event.amount_micros,
            )
        except RateCardError as exc:
            errors.append({"index": index, "event_id": event.event_id, "message": str(exc)})
            continue
        digest = event_digest(event)
        known = charged.get(event.event_id)
        if event.event_id in seen or known is not None:
            first_digest = seen.get(event.event_id) or (known[1] if known else None)
            if first_digest is None or first_digest == digest:
                duplicates += 1
            else:
                where = "earlier in this request" if event.event_id in seen else "already charged"
                whose = " for another account" if known and known[0].account_id != event.account_id else ""
                reason = f"a different event with this id was {where}{whose}; the first stays, this one is not charged"
                conflicts.append({"event_id": event.event_id, "reason": reason})
            continue
        seen[event.event_id] = digest
        by_billing.setdefault(account.billing_account_id, []).append(event)
    if errors:
        details = sorted(errors, key=lambda e: e["index"])
        first = details[0]
        raise BadRequest(
            f"{len(errors)} event(s) are invalid; none were accepted (events[{first['index']}]: {first['message']})",
            details,
        )
    try:
        if by_billing:
            stores().queues.send_usage(usage_messages(by_billing))
    except Exception as exc:
        # Some messages may be queued already; the ledger's dedupe makes a retry safe.
        raise Unavailable(f"could not enqueue the events, retry the same request: {exc}") from None
    return Intake(sum(len(group) for group in by_billing.values()), duplicates, conflicts)


def usage_messages(by_billing: dict[str, list[UsageEvent]]) -> list[OutgoingMessage]:
    """The FIFO messages for events grouped by billing account: packs of up to 100, in order.

    The message group is the billing account (one balance's events are charged in
    order); the deduplication key is the pack's event ids.
    """
    return [
        OutgoingMessage(events_to_json(chunk), billing_id, "\n".join(e.event_id for e in chunk))
        for billing_id, group in by_billing.items()
        for chunk in _packs(group)
    ]


def _packs(events: list[UsageEvent]) -> list[list[UsageEvent]]:
    """Events of one billing account, packed so a message stays well under 256 KiB.

    A FIFO event source hands Lambda at most 10 messages; packing lets one
    invocation (and one transaction) charge up to 1,000 events of a balance.
    """
    packs: list[list[UsageEvent]] = [[]]
    size = 0
    for event in events:
        event_size = len(event_to_json(event))
        if packs[-1] and (len(packs[-1]) == EVENTS_PER_MESSAGE or size + event_size > MESSAGE_BYTES):
            packs.append([])
            size = 0
        packs[-1].append(event)
        size += event_size + 1
    return packs
