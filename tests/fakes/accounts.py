"""`FakeAccounts`: the `accounts` table in memory (AccountStore, adapters/accounts_repo.py).

Items are kept as DynamoDB stores them (the record the adapter writes, serialized), and read
back through the adapter's own mapping, so what a service reads from the fake is exactly what
it would read from the table: rates by currency, timestamps at their stored precision.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.adapters.accounts_repo import _to_domain, _to_record
from chalicelib.adapters.tables.accounts import AccountRecord
from chalicelib.domain.accounts import Account
from tests.fakes.conditions import condition_failed

# What `save` writes; the rest of an item (rates, alert watch) is left as it is.
_PROFILE = ("name", "kind", "time_zone", "currency", "agency_id", "billing", "emails", "updated_at")


class FakeAccounts:
    """`FakeAccounts()`; `items` maps account id -> the stored item (DynamoDB JSON)."""

    def __init__(self, accounts: Iterable[Account] = ()) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        for account in accounts:
            self.save(account)
            self.save_rates(account)

    def _record(self, account_id: str) -> AccountRecord | None:
        raw = self.items.get(account_id)
        return None if raw is None else AccountRecord.from_raw_data(copy.deepcopy(raw))

    def _store(self, record: AccountRecord) -> None:
        self.items[record.account_id] = record.serialize(null_check=False)

    def get(self, account_id: str) -> Account | None:
        record = self._record(account_id)
        return None if record is None else _to_domain(record)

    def get_many(self, account_ids: Iterable[str]) -> dict[str, Account]:
        found: dict[str, Account] = {}
        for account_id in sorted(set(account_ids)):
            account = self.get(account_id)
            if account is not None:
                found[account_id] = account
        return found

    def save(self, account: Account) -> None:
        """The profile only (an update that creates the item); `created_at` is kept once set."""
        written = _to_record(account)
        record = self._record(account.account_id) or AccountRecord(account.account_id)
        for name in _PROFILE:
            setattr(record, name, getattr(written, name))
        if record.created_at is None:
            record.created_at = written.created_at
        self._store(record)

    def save_rates(self, account: Account) -> None:
        """Replace the rate overrides; like the table's condition, refused for an account that does not exist."""
        record = self._record(account.account_id)
        if record is None:
            raise condition_failed(UpdateError)
        record.rates = _to_record(account).rates
        self._store(record)

    def all_accounts(self) -> Iterator[Account]:
        for account_id in list(self.items):
            account = self.get(account_id)
            if account is not None:
                yield account

    def sub_accounts(self, agency_id: str) -> list[Account]:
        """By account id, as the `by_agency` index returns them."""
        return [a for a in (self.get(i) for i in sorted(self.items)) if a is not None and a.agency_id == agency_id]

    def has_sub_accounts(self, agency_id: str) -> bool:
        return bool(self.sub_accounts(agency_id))

    # -- for the fake of the alerts table, which writes the owner's watch in its transaction -----------
    def watch_of(self, account_id: str) -> str | None:
        """The account's stored `alert_watch` (encoded), None when it has none or does not exist."""
        record = self._record(account_id)
        return None if record is None else record.alert_watch

    def set_watch(self, account_id: str, encoded: str | None) -> None:
        record = self._record(account_id)
        if record is None:
            raise KeyError(account_id)
        record.alert_watch = encoded
        self._store(record)
