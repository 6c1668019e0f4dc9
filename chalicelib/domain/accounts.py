"""Accounts, agencies and who pays: the rules for provisioning an account."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from .categories import Category
from .pricing import Rate

if TYPE_CHECKING:
    from .alerts import Watch


class AccountKind(StrEnum):
    ACCOUNT = "account"
    AGENCY = "agency"


class Billing(StrEnum):
    OWN = "own"
    AGENCY = "agency"  # shared billing: draws from the agency's balance


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    kind: AccountKind
    time_zone: str
    currency: str
    agency_id: str | None
    billing: Billing
    emails: tuple[str, ...] = ()
    # Rate overrides by currency: an account is priced in its own currency; an agency's
    # overrides in a currency also price its sub-accounts in that currency (pricing.RateCard.resolve).
    rate_overrides: Mapping[str, Mapping[Category, Rate]] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # The usage alerts this account owns, as the ledger writer needs them (domain/alerts.py).
    alert_watch: tuple[Watch, ...] = ()

    @property
    def billing_account_id(self) -> str:
        """Whose balance moves when this account uses the service."""
        if self.billing is Billing.AGENCY and self.agency_id:
            return self.agency_id
        return self.account_id

    @property
    def rates(self) -> Mapping[Category, Rate]:
        """The account's own overrides in its currency."""
        return self.overrides_in(self.currency)

    def overrides_in(self, currency: str) -> Mapping[Category, Rate]:
        return self.rate_overrides.get(currency, {})

    @property
    def agency_scope(self) -> str | None:
        """The agency whose agency-wide views include this account."""
        return self.account_id if self.kind is AccountKind.AGENCY else self.agency_id

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


@dataclass(frozen=True)
class AccountRequest:
    """What a PUT /accounts/{id} body asks for, its shape already validated
    (domain/account_schema.py parses it; `provision_account` applies the rules)."""

    name: str
    kind: AccountKind = AccountKind.ACCOUNT
    time_zone: str = "UTC"
    currency: str = "USD"
    agency_id: str | None = None
    billing: Billing = Billing.OWN
    emails: tuple[str, ...] = ()


class AccountError(ValueError):
    """A provisioning request that breaks a rule; the message names the field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


# Deliberately simple: one @, no spaces or control characters, a dot in the domain.
# Deliverability is SES's business; this only stops typos and header injection
# (fullmatch: `$` would let a trailing newline through).
_EMAIL_RE = re.compile(r"[^@\s\x00-\x1f\x7f-\x9f<>,;\"]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


def is_email_address(value: str) -> bool:
    return len(value) <= 254 and bool(_EMAIL_RE.fullmatch(value))


_ZONES: set[str] | None = None
# Files in the zoneinfo directory that are not places: "localtime" is a link to the
# host's own zone (a different zone on every machine), "Factory" means "unknown".
_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})


def is_known_time_zone(name: str) -> bool:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones() - _NOT_ZONES
    if name not in _ZONES:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def provision_account(
    account_id: str,
    body: AccountRequest,
    *,
    existing: Account | None,
    agency: Account | None,
    has_entries: bool,
    has_sub_accounts: bool,
    now: datetime,
) -> Account:
    """Decide the new state of an account, or raise AccountError naming the field.

    `agency` is the account named by `body.agency_id` as stored (None when it does
    not exist); `has_entries` says whether the ledger already holds entries of this
    account, which freezes its currency.
    """
    if body.agency_id is not None:
        if body.agency_id == account_id:
            raise AccountError("agency_id", "an account cannot be its own agency")
        if body.kind is AccountKind.AGENCY:
            raise AccountError("agency_id", "an agency cannot belong to another agency")
        if agency is None:
            raise AccountError("agency_id", f"agency {body.agency_id!r} does not exist")
        if agency.kind is not AccountKind.AGENCY or agency.agency_id is not None:
            raise AccountError("agency_id", f"{body.agency_id!r} is not an agency")
    if body.billing is Billing.AGENCY:
        if body.agency_id is None:
            raise AccountError("billing", "shared billing ('agency') needs an agency_id")
        assert agency is not None
        if agency.currency != body.currency:
            raise AccountError("currency", f"shared billing needs the agency's currency {agency.currency}")
    if existing is not None:
        if existing.currency != body.currency and has_entries:
            raise AccountError("currency", "cannot change once the account has ledger entries")
        if existing.currency != body.currency and has_sub_accounts:
            # Shared-billing sub-accounts are charged in the agency's currency.
            raise AccountError("currency", "an agency with sub-accounts cannot change its currency")
        if existing.kind is AccountKind.AGENCY and body.kind is not AccountKind.AGENCY and has_sub_accounts:
            raise AccountError("kind", "an agency with sub-accounts cannot stop being an agency")
        return replace(
            existing,
            name=body.name,
            kind=body.kind,
            time_zone=body.time_zone,
            currency=body.currency,
            agency_id=body.agency_id,
            billing=body.billing,
            emails=body.emails,
            updated_at=now,
        )
    return Account(
        account_id=account_id,
        name=body.name,
        kind=body.kind,
        time_zone=body.time_zone,
        currency=body.currency,
        agency_id=body.agency_id,
        billing=body.billing,
        emails=body.emails,
        created_at=now,
        updated_at=now,
    )
