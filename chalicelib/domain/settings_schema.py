"""The body of PUT /accounts/{id}/billing-settings, validated with pydantic (loaded lazily).

Fields left out keep their stored value; `null` clears a card or the alert.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .accounts import is_email_address
from .event_schema import CleanText, ExactDecimal, describe_validation_error


class BillingSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    auto_recharge_enabled: bool | None = None
    threshold: ExactDecimal | None = None
    amount: ExactDecimal | None = None
    primary_card: str | None = Field(default=None, max_length=255)
    backup_card: str | None = Field(default=None, max_length=255)
    low_balance_alert: ExactDecimal | None = None
    alert_recipients: list[CleanText] | None = Field(default=None, max_length=10)
    # An agency's balance only: show it to the users of its sub-accounts on shared billing.
    share_balance_with_sub_accounts: bool | None = None
    # One URL for all the account's billing events (services/webhooks.py); null removes it.
    webhook_url: CleanText | None = Field(default=None, min_length=1, max_length=2048)

    @field_validator("alert_recipients")
    @classmethod
    def _emails(cls, values: list[str] | None) -> list[str] | None:
        for value in values or ():
            if not is_email_address(value):
                raise ValueError(f"not an email address: {value!r}")
        return values


class SettingsBodyError(ValueError):
    pass


def parse_settings_body(data: object) -> tuple[BillingSettingsIn, set[str]]:
    """The validated body and the names of the fields it gives (null included)."""
    if not isinstance(data, dict):
        raise SettingsBodyError("body must be a JSON object")
    try:
        model = BillingSettingsIn.model_validate(data)
    except ValidationError as exc:
        raise SettingsBodyError(describe_validation_error(exc)) from None
    return model, set(model.model_fields_set)


def given(model: BillingSettingsIn, fields: set[str], name: str, default: Any) -> Any:
    return getattr(model, name) if name in fields else default
