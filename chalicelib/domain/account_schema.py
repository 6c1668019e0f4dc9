"""The body of PUT /accounts/{id}, validated with pydantic.

Kept apart from `accounts.py` so that only the provisioning route loads pydantic.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .accounts import AccountError, AccountKind, AccountRequest, Billing, is_email_address, is_known_time_zone
from .event_fields import ACCOUNT_ID_PATTERN
from .event_schema import CleanText, describe_validation_error


class AccountIn(BaseModel):
    """Body of PUT /accounts/{id}."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: CleanText = Field(min_length=1, max_length=200)
    kind: AccountKind = AccountKind.ACCOUNT
    time_zone: str = "UTC"
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    agency_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=ACCOUNT_ID_PATTERN)
    billing: Billing = Billing.OWN
    emails: list[CleanText] = Field(default_factory=list, max_length=20)

    @field_validator("emails")
    @classmethod
    def _valid_emails(cls, values: list[str]) -> list[str]:
        for value in values:
            if not is_email_address(value):
                raise ValueError(f"not an email address: {value!r}")
        return values

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if not is_known_time_zone(value):
            raise ValueError(f"unknown IANA time zone {value!r}")
        return value


def parse_account_body(data: object) -> AccountRequest:
    """A PUT /accounts body, its shape validated; raises AccountError naming the field."""
    if not isinstance(data, dict):
        raise AccountError("body", "must be a JSON object")
    try:
        body = AccountIn.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "body"
        raise AccountError(loc, describe_validation_error(exc).split(": ", 1)[-1]) from None
    return AccountRequest(
        name=body.name,
        kind=body.kind,
        time_zone=body.time_zone,
        currency=body.currency,
        agency_id=body.agency_id,
        billing=body.billing,
        emails=tuple(str(e) for e in body.emails),
    )
