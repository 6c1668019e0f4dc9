"""Usage events as producers send them, validated into exact values.

A usage event is the same whether it arrives on the SQS queue or through
``POST /usage-events``. Validation here is shape only; whether the account exists
is checked where the accounts are (the writer and the HTTP service).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from .categories import Category
from .money import MoneyError, format_micros, parse_micros, to_decimal

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:#/@+=-]*$"
ACCOUNT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
MAX_QUANTITY = Decimal(1_000_000_000)
# Producers' clocks drift and events queue up, but an event from next week is a bug.
MAX_FUTURE_SKEW = timedelta(hours=24)
EARLIEST_OCCURRED_AT = datetime(2000, 1, 1, tzinfo=UTC)


class InvalidEvent(ValueError):
    """The reason an event cannot be charged; it is dead-lettered with this text."""


def _exact_decimal(value: Any) -> Decimal:
    try:
        return to_decimal(value, field="value")
    except MoneyError as exc:
        raise ValueError(str(exc).removeprefix("value ")) from None


ExactDecimal = Annotated[Decimal, BeforeValidator(_exact_decimal)]

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?$")


def _rfc3339_text(value: Any) -> Any:
    """Only RFC 3339 text: a bare number would be read as a Unix time, silently."""
    if not isinstance(value, str) or not _RFC3339.match(value.strip()):
        raise ValueError("must be an RFC 3339 time such as 2026-11-26T09:00:00Z")
    return value


Rfc3339 = Annotated[datetime, BeforeValidator(_rfc3339_text)]
MetadataValue = str | int | bool


class UsageEventIn(BaseModel):
    """The wire shape. Unknown fields are refused, so typos are not silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_id: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN)
    account_id: str = Field(min_length=1, max_length=64, pattern=ACCOUNT_ID_PATTERN)
    category: Category
    quantity: ExactDecimal = Decimal(1)
    occurred_at: Rfc3339
    description: str = Field(default="", max_length=500)
    metadata: dict[Annotated[str, Field(max_length=64)], MetadataValue] = Field(default_factory=dict, max_length=20)
    unit_price: ExactDecimal | None = None
    amount: ExactDecimal | None = None

    @model_validator(mode="after")
    def _check_rules(self) -> UsageEventIn:
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must carry a time zone (RFC 3339, e.g. 2026-11-26T09:00:00Z)")
        if not (Decimal(0) < self.quantity <= MAX_QUANTITY):
            raise ValueError("quantity must be greater than 0 and at most 1000000000")
        if self.quantity.as_tuple().exponent < -6:  # type: ignore[operator]
            raise ValueError("quantity has more than 6 decimal places")
        for key, value in self.metadata.items():
            if isinstance(value, str) and len(value) > 256:
                raise ValueError(f"metadata.{key} is longer than 256 characters")
        if self.unit_price is not None and self.amount is not None:
            raise ValueError("give unit_price or amount, not both")
        if self.category.is_usage:
            if self.amount is not None and self.amount <= 0:
                raise ValueError("amount of a usage item is its positive price")
            if self.unit_price is not None and self.unit_price < 0:
                raise ValueError("unit_price must not be negative")
        elif self.unit_price is not None:
            raise ValueError(f"{self.category.value} takes an amount, not a unit_price")
        elif self.amount is None:
            raise ValueError(f"{self.category.value} needs an amount")
        elif self.category is Category.RECHARGE and self.amount <= 0:
            raise ValueError("a recharge amount must be positive")
        elif self.category is Category.ADJUSTMENT:
            if self.amount == 0:
                raise ValueError("an adjustment amount must not be zero")
            if not self.description:
                raise ValueError("an adjustment needs a description saying why")
        return self


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
    occurred = model.occurred_at.astimezone(UTC)
    if occurred > now + MAX_FUTURE_SKEW:
        raise InvalidEvent("occurred_at: more than 24 hours in the future")
    if occurred < EARLIEST_OCCURRED_AT:
        raise InvalidEvent("occurred_at: before 2000-01-01")
    try:
        unit_price = None if model.unit_price is None else parse_micros(model.unit_price, field="unit_price")
        amount = None if model.amount is None else parse_micros(model.amount, field="amount")
    except MoneyError as exc:
        raise InvalidEvent(str(exc)) from None
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


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def parse_event(data: object, now: datetime) -> UsageEvent:
    """Validate one decoded event; raise InvalidEvent with a reason a person can act on."""
    if not isinstance(data, dict):
        raise InvalidEvent("an event must be a JSON object")
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

    Floats are parsed as Decimal, so nothing is ever rounded on the way in.
    """
    try:
        data = json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError):
        return [DecodedEvent(body, None, "message body is not valid JSON")]
    items = data["events"] if isinstance(data, dict) and set(data) == {"events"} else [data]
    if not isinstance(items, list) or not items:
        return [DecodedEvent(body, None, "events must be a non-empty list")]
    decoded = []
    for item in items:
        raw = body if len(items) == 1 else json.dumps(item, default=str, separators=(",", ":"))
        try:
            decoded.append(DecodedEvent(raw, parse_event(item, now), None))
        except InvalidEvent as exc:
            decoded.append(DecodedEvent(raw, None, str(exc)))
    return decoded


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
