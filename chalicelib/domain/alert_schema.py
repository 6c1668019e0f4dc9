"""The bodies of POST and PUT .../usage-alerts, validated with pydantic (loaded lazily).

POST gives a whole definition; PUT gives the fields to change (the others keep
their value; `webhook_url: null` removes the webhook). The rules that pydantic's
types do not say (threshold above zero and exact for its measure, quantity needs
one category, at least one way to tell someone) are domain/alerts.py's.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .accounts import is_email_address
from .alerts import MAX_NAME_LENGTH, MAX_RECIPIENTS, AlertError
from .event_schema import CleanText, ExactDecimal, describe_validation_error

CategoryName = Literal["call_minutes", "text_messages", "number_renewals", "subscription_fees", "total"]
MeasureName = Literal["count", "quantity", "cost"]
PeriodName = Literal["day", "week", "month", "year"]
MAX_URL_LENGTH = 2048


def _emails(values: list[str] | None) -> list[str] | None:
    for value in values or ():
        if not is_email_address(value):
            raise ValueError(f"not an email address: {value!r}")
    if values is not None and len({v.lower() for v in values}) != len(values):
        raise ValueError("an address is listed twice")
    return values


class UsageAlertIn(BaseModel):
    """A new usage alert. `each_account` is for an agency's alerts only."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: CleanText = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    category: CategoryName
    measure: MeasureName
    period: PeriodName
    threshold: ExactDecimal
    recipients: list[CleanText] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    webhook_url: CleanText | None = Field(default=None, min_length=1, max_length=MAX_URL_LENGTH)
    each_account: bool = False
    enabled: bool = True

    _check_emails = field_validator("recipients")(_emails)


class UsageAlertChange(BaseModel):
    """Fields of a usage alert to change; the scope (each_account) cannot change."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: CleanText | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    category: CategoryName | None = None
    measure: MeasureName | None = None
    period: PeriodName | None = None
    threshold: ExactDecimal | None = None
    recipients: list[CleanText] | None = Field(default=None, max_length=MAX_RECIPIENTS)
    webhook_url: CleanText | None = Field(default=None, min_length=1, max_length=MAX_URL_LENGTH)
    enabled: bool | None = None

    _check_emails = field_validator("recipients")(_emails)


def parse_new_alert(data: object) -> UsageAlertIn:
    if not isinstance(data, dict):
        raise AlertError("body must be a JSON object")
    try:
        return UsageAlertIn.model_validate(data)
    except ValidationError as exc:
        raise AlertError(describe_validation_error(exc)) from None


def parse_alert_change(data: object) -> tuple[UsageAlertChange, set[str]]:
    """The validated change and the names of the fields it gives (null included)."""
    if not isinstance(data, dict):
        raise AlertError("body must be a JSON object")
    try:
        model = UsageAlertChange.model_validate(data)
    except ValidationError as exc:
        raise AlertError(describe_validation_error(exc)) from None
    fields = set(model.model_fields_set)
    for name in fields - {"webhook_url"}:
        if getattr(model, name) is None:
            raise AlertError(f"{name}: may not be null")
    return model, fields
