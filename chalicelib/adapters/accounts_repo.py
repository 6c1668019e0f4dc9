"""Accounts in DynamoDB, as domain `Account`s."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pynamodb.exceptions import DoesNotExist

from ..domain.accounts import Account, AccountKind, Billing
from ..domain.alerts import decode_watches
from ..domain.categories import CATEGORY_NAMES, Category
from ..domain.pricing import Rate
from .tables.accounts import AccountRecord
from .tables.base import bind


def _card(raw: Mapping[str, Any]) -> dict[Category, Rate]:
    return {
        Category(name): Rate(Category(name), str(spec["unit"]), int(spec["unit_price_micros"]))
        for name, spec in raw.items()
    }


def _overrides(raw: Mapping[str, Any], currency: str) -> dict[str, dict[Category, Rate]]:
    """`{currency: {category: spec}}`; an item written before rates were per currency holds
    `{category: spec}`: overrides in the account's currency."""
    if raw and all(name in CATEGORY_NAMES for name in raw):
        return {currency: _card(raw)}
    return {code: _card(card) for code, card in raw.items() if card}


def _to_domain(record: AccountRecord) -> Account:
    rates_raw = record.rates.as_dict() if record.rates is not None else {}  # type: ignore[no-untyped-call]
    return Account(
        account_id=record.account_id,
        name=record.name,
        kind=AccountKind(record.kind),
        time_zone=record.time_zone,
        currency=record.currency,
        agency_id=record.agency_id,
        billing=Billing(record.billing),
        emails=tuple(str(e) for e in record.emails or ()),
        rate_overrides=_overrides(rates_raw, record.currency),
        created_at=record.created_at,
        updated_at=record.updated_at,
        alert_watch=decode_watches(record.alert_watch),
    )


def _to_record(account: Account) -> AccountRecord:
    assert account.created_at is not None and account.updated_at is not None
    return AccountRecord(
        account.account_id,
        name=account.name,
        kind=account.kind.value,
        time_zone=account.time_zone,
        currency=account.currency,
        agency_id=account.agency_id,
        billing=account.billing.value,
        emails=list(account.emails),
        rates={
            currency: {
                category.value: {"unit": rate.unit, "unit_price_micros": rate.unit_price_micros}
                for category, rate in card.items()
            }
            for currency, card in account.rate_overrides.items()
            if card
        },
        created_at=account.created_at,
        updated_at=account.updated_at,
    )


class AccountRepository:
    def get(self, account_id: str) -> Account | None:
        bind()
        try:
            return _to_domain(AccountRecord.get(account_id, consistent_read=True))
        except DoesNotExist:
            return None

    def get_many(self, account_ids: Iterable[str]) -> dict[str, Account]:
        """Accounts by id (missing ids are simply absent); BatchGetItem, 100 keys a call."""
        bind()
        ids = sorted(set(account_ids))
        found: dict[str, Account] = {}
        for record in AccountRecord.batch_get(ids):
            found[record.account_id] = _to_domain(record)
        return found

    def save(self, account: Account) -> None:
        """Write the account's profile; its rates are left as they are (see save_rates)."""
        bind()
        record = _to_record(account)
        AccountRecord(account.account_id).update(
            actions=[
                getattr(AccountRecord, name).set(getattr(record, name))
                if getattr(record, name) is not None
                else getattr(AccountRecord, name).remove()
                for name in ("name", "kind", "time_zone", "currency", "agency_id", "billing", "emails", "updated_at")
            ]
            + [AccountRecord.created_at.set(AccountRecord.created_at | record.created_at)]
        )

    def save_rates(self, account: Account) -> None:
        """Replace only the rate overrides (of every currency), so a concurrent profile update is not lost."""
        bind()
        AccountRecord(account.account_id).update(
            actions=[AccountRecord.rates.set(_to_record(account).rates)],
            condition=AccountRecord.account_id.exists(),
        )

    def all_accounts(self) -> Iterator[Account]:
        """Every account (a scan: for the reconcile job, never for a request)."""
        bind()
        for record in AccountRecord.scan():
            yield _to_domain(record)

    def sub_accounts(self, agency_id: str) -> list[Account]:
        bind()
        return [_to_domain(r) for r in AccountRecord.by_agency.query(agency_id)]

    def has_sub_accounts(self, agency_id: str) -> bool:
        bind()
        return any(True for _ in AccountRecord.by_agency.query(agency_id, limit=1))
