"""Usage events as producers send them, validated into exact values.

A usage event is the same whether it arrives on the SQS queue or through
``POST /usage-events``. Validation here is shape only; whether the account exists
is checked where the accounts are (the writer and the HTTP service).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from .categories import Category
from .event_fields import MetadataValue
from .money import MAX_ABS_MICROS, MoneyError, format_micros, multiply_micros, parse_micros, within_ledger_range

if TYPE_CHECKING:
    from .event_schema import UsageEventIn

# Producers' clocks drift and events queue up, but an event from next week is a bug.
MAX_FUTURE_SKEW = timedelta(hours=24)
EARLIEST_OCCURRED_AT = datetime(2000, 1, 1, tzinfo=UTC)


class InvalidEvent(ValueError):
    """The reason an event cannot be charged; it is dead-lettered with this text."""


@dataclass(frozen=True)
class UsageEvent:
    """A validated event with exact values: micro-units and an aware UTC time."""

    event_id: str
    account_id: str
    category: Category
    quantity: Decimal
    occurred_at: datetime
    description: str
    metadata: dict[str, MetadataValue] = field(default_factory=dict)
    unit_price_micros: int | None = None
    amount_micros: int | None = None


def _to_domain(model: UsageEventIn, now: datetime) -> UsageEvent:
    try:
        occurred = model.occurred_at.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise InvalidEvent("occurred_at: out of range") from None
    if occurred > now + MAX_FUTURE_SKEW:
        raise InvalidEvent("occurred_at: more than 24 hours in the future")
    if occurred < EARLIEST_OCCURRED_AT:
        raise InvalidEvent("occurred_at: before 2000-01-01")
    try:
        unit_price = None if model.unit_price is None else parse_micros(model.unit_price, field="unit_price")
        amount = None if model.amount is None else parse_micros(model.amount, field="amount")
    except MoneyError as exc:
        raise InvalidEvent(str(exc)) from None
    if unit_price is not None and not within_ledger_range(multiply_micros(model.quantity, unit_price)):
        raise InvalidEvent(
            f"unit_price: quantity {model.quantity:f} x unit_price {format_micros(unit_price)} is more than "
            f"the ledger's limit of {format_micros(MAX_ABS_MICROS)} for one entry"
        )
    return UsageEvent(
        event_id=model.event_id,
        account_id=model.account_id,
        category=model.category,
        quantity=model.quantity,
        occurred_at=occurred,
        description=model.description,
        metadata=dict(model.metadata),
        unit_price_micros=unit_price,
        amount_micros=amount,
    )


def parse_event(data: object, now: datetime) -> UsageEvent:
    """Validate one decoded event; raise InvalidEvent with a reason a person can act on."""
    if not isinstance(data, dict):
        raise InvalidEvent("an event must be a JSON object")
    # pydantic loads on the first event, not when the handler module is imported.
    from pydantic import ValidationError

    from .event_schema import UsageEventIn, describe_validation_error

    try:
        model = UsageEventIn.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent(describe_validation_error(exc)) from None
    return _to_domain(model, now)


@dataclass(frozen=True)
class DecodedEvent:
    """One event of a queue message: the event, or why it cannot be charged."""

    raw: str  # this event's own JSON, what a person reads in the dead-letter queue
    event: UsageEvent | None
    error: str | None


def decode_message(body: str, now: datetime) -> list[DecodedEvent]:
    """A queue message holds one event, or `{"events": [...]}` of one billing account.

    Total: whatever the body holds, the answer is a list of events and errors, never
    an exception (the consumer dead-letters each error at once, alone, with it).
    Floats are parsed as Decimal, so nothing is ever rounded on the way in.
    """
    try:
        return _decode(body, now)
    except Exception as exc:  # a bug, never bad input (tests/unit/test_event_decoding.py): still no raise
        return [DecodedEvent(_printable(body), None, f"message could not be decoded ({type(exc).__name__}: {exc})")]


def _decode(body: str, now: datetime) -> list[DecodedEvent]:
    try:
        data = json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError):
        return [DecodedEvent(body, None, "message body is not valid JSON")]
    items = data["events"] if isinstance(data, dict) and set(data) == {"events"} else [data]
    if not isinstance(items, list) or not items:
        return [DecodedEvent(body, None, "events must be a non-empty list")]
    decoded = []
    for item in items:
        raw = body if len(items) == 1 else _printable(item)
        try:
            decoded.append(DecodedEvent(raw, parse_event(item, now), None))
        except InvalidEvent as exc:
            decoded.append(DecodedEvent(raw, None, _with_event_id(item, str(exc))))
    return decoded


def _with_event_id(item: object, error: str) -> str:
    """The reason a person reads in the dead-letter queue: which event, which field, what is wrong."""
    event_id = item.get("event_id") if isinstance(item, dict) else None
    if isinstance(event_id, str) and event_id and len(event_id) <= 128 and event_id.isprintable():
        return f"event {event_id!r}: {error}"
    return error


def _printable(item: object) -> str:
    """One event's own JSON for the dead-letter queue (ASCII, so any text survives SQS)."""
    if isinstance(item, str):
        return item.encode("utf-8", "backslashreplace").decode("utf-8")
    try:
        return json.dumps(item, default=str, separators=(",", ":"))
    except (ValueError, RecursionError):
        return repr(item)[:10_000]


def _event_dict(event: UsageEvent) -> dict[str, object]:
    body: dict[str, object] = {
        "event_id": event.event_id,
        "account_id": event.account_id,
        "category": event.category.value,
        "quantity": format(event.quantity, "f"),
        "occurred_at": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "description": event.description,
        "metadata": event.metadata,
    }
    if event.unit_price_micros is not None:
        body["unit_price"] = format_micros(event.unit_price_micros)
    if event.amount_micros is not None:
        body["amount"] = format_micros(event.amount_micros)
    return body


def event_to_json(event: UsageEvent) -> str:
    """The canonical message body of one event (exact strings for every number)."""
    return json.dumps(_event_dict(event), separators=(",", ":"), sort_keys=True)


def events_to_json(events: list[UsageEvent]) -> str:
    """One message carrying several events of the same billing account."""
    return json.dumps({"events": [_event_dict(e) for e in events]}, separators=(",", ":"), sort_keys=True)
