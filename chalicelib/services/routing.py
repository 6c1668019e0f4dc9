"""Producers' usage events, from EventBridge onto the FIFO usage queue, grouped by billing account.

An EventBridge rule cannot set a per-event MessageGroupId on an SQS FIFO target, so
the rule delivers to a standard intake queue and this router moves the events on:
it looks up each event's billing account (one BatchGetItem per batch), groups the
events of one balance into messages of up to 100 events (as `POST /usage-events`
does, see intake.py) and sends them with that balance as the message group. Events
of sub-accounts that share their agency's balance are then charged in order, in
the same transactions, by the ledger writer.

Malformed events and events of unknown accounts are dead-lettered with the reason,
exactly as the writer would (the usage dead-letter queue). When SQS refuses the
messages, every record that had events to send is reported failed and comes back:
the ledger's dedupe makes the second delivery harmless.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..domain.events import UsageEvent, decode_message
from .intake import usage_messages
from .ports import AccountStore
from .stores import stores
from .usage import QueuedMessage


@dataclass
class RoutingOutcome:
    routed: int = 0  # events put on the usage queue
    messages: int = 0  # FIFO messages they went in
    dead_lettered: list[tuple[str, str]] = field(default_factory=list)  # (message id, reason)
    failed_message_ids: list[str] = field(default_factory=list)
    send_error: str | None = None  # why SQS refused the batch (its records come back)


# (the record it came in, the reason, the event's own JSON)
DeadLetter = Callable[[QueuedMessage, str, str], None]


def event_body(body: str) -> str:
    """The usage event(s) of an intake record.

    The rule delivers the whole EventBridge event (`{"version", "id", "detail-type",
    "source", ..., "detail"}`) whose `detail` is one usage event or `{"events": [...]}`;
    a body that is not an EventBridge event is taken as the event(s) itself.
    """
    try:
        data: Any = json.loads(body)
    except (ValueError, RecursionError):
        return body  # decode_message names the problem
    if isinstance(data, dict) and "detail-type" in data and "detail" in data:
        return json.dumps(data["detail"], separators=(",", ":"))
    return body


def route_usage_events(
    records: Sequence[QueuedMessage],
    *,
    dead_letter: DeadLetter,
    accounts: AccountStore | None = None,
    send: Callable[[list[Any]], None] | None = None,
    clock: Callable[[], datetime] = lambda: stores().clock(),
) -> RoutingOutcome:
    accounts = accounts or stores().accounts
    send = send or stores().queues.send_usage
    outcome = RoutingOutcome()
    now = clock()

    def reject(record: QueuedMessage, reason: str, raw: str) -> None:
        try:
            dead_letter(record, reason, raw)
        except Exception:  # the dead-letter queue is down: let SQS redeliver rather than lose it
            outcome.failed_message_ids.append(record.message_id)
        else:
            outcome.dead_lettered.append((record.message_id, reason))

    parsed: list[tuple[QueuedMessage, UsageEvent, str]] = []
    for record in records:
        for decoded in decode_message(event_body(record.body), now):
            if decoded.event is None:
                reject(record, decoded.error or "invalid event", decoded.raw)
            else:
                parsed.append((record, decoded.event, decoded.raw))

    known = accounts.get_many(event.account_id for _, event, _ in parsed)
    by_billing: dict[str, list[UsageEvent]] = {}
    sending: list[str] = []
    for record, event, raw in parsed:
        account = known.get(event.account_id)
        if account is None:
            reject(record, f"account_id: unknown account {event.account_id!r}", raw)
            continue
        by_billing.setdefault(account.billing_account_id, []).append(event)
        sending.append(record.message_id)

    if by_billing:
        messages = usage_messages(by_billing)
        try:
            send(messages)
        except Exception as exc:
            outcome.failed_message_ids.extend(sending)
            outcome.send_error = str(exc)
        else:
            outcome.routed = sum(len(events) for events in by_billing.values())
            outcome.messages = len(messages)
    outcome.failed_message_ids = list(dict.fromkeys(outcome.failed_message_ids))
    return outcome
