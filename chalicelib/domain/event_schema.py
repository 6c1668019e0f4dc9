"""The wire shape of a usage event, validated with pydantic.

Kept apart from `events.py` so pydantic loads when the first event is parsed,
not when a handler module is imported (Lambda cold starts pay for imports).
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from .categories import Category
from .event_fields import (
    ACCOUNT_ID_PATTERN,
    ID_PATTERN,
    MAX_METADATA_INT_DIGITS,
    MAX_METADATA_TEXT,
    MAX_QUANTITY,
    MetadataValue,
)
from .money import MoneyError, to_decimal
from .text import NO_CONTROL_CHARACTERS_PATTERN, text_problem


def _exact_decimal(value: Any) -> Decimal:
    try:
        return to_decimal(value, field="value")
    except MoneyError as exc:
        raise ValueError(str(exc).removeprefix("value ")) from None


ExactDecimal = Annotated[Decimal, BeforeValidator(_exact_decimal)]


def _clean_text(value: Any) -> Any:
    """Refuse control characters in the text as sent (before any whitespace is stripped)."""
    if isinstance(value, str):
        problem = text_problem(value)
        if problem is not None:
            raise ValueError(problem)
    return value


# Names, descriptions, emails: text without control characters (see domain/text.py).
CleanText = Annotated[
    str, BeforeValidator(_clean_text), Field(json_schema_extra={"pattern": NO_CONTROL_CHARACTERS_PATTERN})
]


def _metadata_value(value: Any) -> MetadataValue:
    """A string, an integer DynamoDB can store exactly (at most 38 digits), or a boolean."""
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal) and value.is_finite() and value.adjusted() < MAX_METADATA_INT_DIGITS:
        if value != value.to_integral_value():
            raise ValueError(f'a number with a fraction is not stored exactly: send it as a string ("{value}")')
        value = int(value)
    if isinstance(value, int):
        if abs(value) >= 10**MAX_METADATA_INT_DIGITS:
            raise ValueError(
                f"an integer of more than {MAX_METADATA_INT_DIGITS} digits cannot be stored: send it as a string"
            )
        return value
    if isinstance(value, Decimal):
        raise ValueError(f"a number this large cannot be stored (over {MAX_METADATA_INT_DIGITS} digits): send a string")
    if isinstance(value, str):
        problem = text_problem(value)
        if problem is not None:
            raise ValueError(problem)
        if len(value) > MAX_METADATA_TEXT:
            raise ValueError(f"is longer than {MAX_METADATA_TEXT} characters")
        return value
    raise ValueError("must be a string, an integer or true/false")


_METADATA_INT_LIMIT = 10**MAX_METADATA_INT_DIGITS - 1
MetadataField = Annotated[
    MetadataValue,
    PlainValidator(_metadata_value),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "maxLength": MAX_METADATA_TEXT, "pattern": NO_CONTROL_CHARACTERS_PATTERN},
                {"type": "integer", "minimum": -_METADATA_INT_LIMIT, "maximum": _METADATA_INT_LIMIT},
                {"type": "boolean"},
            ]
        }
    ),
]
MetadataKey = Annotated[CleanText, Field(min_length=1, max_length=64)]

# ASCII digits only (re.ASCII: `\d` would also match other scripts' digits).
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?", re.ASCII)


def _rfc3339_text(value: Any) -> Any:
    """Only RFC 3339 text: a bare number would be read as a Unix time, silently."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 time such as 2026-11-26T09:00:00Z")
    return value


Rfc3339 = Annotated[datetime, BeforeValidator(_rfc3339_text)]


class UsageEventIn(BaseModel):
    """The wire shape. Unknown fields are refused, so typos are not silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_id: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN)
    account_id: str = Field(min_length=1, max_length=64, pattern=ACCOUNT_ID_PATTERN)
    category: Category
    quantity: ExactDecimal = Decimal(1)
    occurred_at: Rfc3339
    description: CleanText = Field(default="", max_length=500)
    metadata: dict[MetadataKey, MetadataField] = Field(default_factory=dict, max_length=20)
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


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)
