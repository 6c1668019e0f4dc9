"""Fakes of the usage alerts, notices and webhook endpoints tables (adapters/alerts_repo.py,
notices_repo.py, webhook_endpoints_repo.py), honouring the same conditions:

- `FakeAlerts`: an alert and its owner's watch are written together, on the condition that
  the watch is still the one the change was computed from (and that the owner exists, and that
  a new alert is new / a changed or deleted one exists); any failed condition is `WatchMoved`.
  The watch lives on the owner's account, so the fake writes it through the accounts fake.
- `FakeNotices`: creates are conditional (False when the notice exists), every delivery update
  leaves a missing notice missing, the email is claimed under a lease.
- `FakeWebhookEndpoints`: one endpoint per account, overwritten by `put`.

tests/integration/contracts/test_alerts_contract.py runs the same assertions against these
and against DynamoDB Local.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from chalicelib.adapters.alerts_repo import FiringFacts, StoredAlert, WatchMoved, firing_record
from chalicelib.adapters.notices_repo import PENDING, Notice, hook_owner
from chalicelib.adapters.webhook_endpoints_repo import Endpoint
from chalicelib.domain.accounts import Account
from chalicelib.domain.alerts import Firing, UsageAlert, Watch, encode_watches
from chalicelib.domain.periods import format_instant
from chalicelib.services.ports import AlertStore, NoticeStore, WebhookEndpointStore


class WatchKeeper(Protocol):
    """Where an owner's watch is kept: on its account item (tests/fakes/accounts.py FakeAccounts)."""

    def get(self, account_id: str) -> Account | None: ...
    def watch_of(self, account_id: str) -> str | None: ...
    def set_watch(self, account_id: str, encoded: str | None) -> None: ...


@dataclass
class _StoredRecord:
    alert: UsageAlert
    secret: str | None
    created_by: str | None


class FakeAlerts(AlertStore):
    """AlertStore in memory; the owners' watches are read from and written to `accounts`."""

    def __init__(self, accounts: WatchKeeper) -> None:
        self.accounts = accounts
        self.records: dict[tuple[str, str], _StoredRecord] = {}

    def get(self, owner_id: str, alert_id: str) -> StoredAlert | None:
        stored = self.records.get((owner_id, alert_id))
        return StoredAlert(stored.alert, stored.secret) if stored else None

    def page(self, owner_id: str, prefix: str, limit: int, after: str | None) -> tuple[list[UsageAlert], str | None]:
        ids = sorted(alert_id for owner, alert_id in self.records if owner == owner_id)
        # As the adapter's query: BETWEEN `after` and the prefix's end (inclusive), or BEGINS_WITH.
        matching = [i for i in ids if after <= i <= prefix + "~"] if after else [i for i in ids if i.startswith(prefix)]
        fetched = matching[: limit + (2 if after else 1)]
        alerts = [self.records[(owner_id, i)].alert for i in fetched if i != after][: limit + 1]
        more = len(alerts) > limit
        alerts = alerts[:limit]
        return alerts, (alerts[-1].alert_id if more and alerts else None)

    def save(
        self,
        alert: UsageAlert,
        secret: str | None,
        created_by: str | None,
        before: Sequence[Watch],
        after: Sequence[Watch],
        *,
        new: bool,
    ) -> None:
        key = (alert.owner_id, alert.alert_id)
        exists = key in self.records
        self._check(alert.owner_id, before, alert_ok=exists != new)
        self.records[key] = _StoredRecord(alert, secret if alert.webhook_url else None, created_by)
        self._set_watch(alert.owner_id, after)

    def delete(self, owner_id: str, alert_id: str, before: Sequence[Watch], after: Sequence[Watch]) -> None:
        self._check(owner_id, before, alert_ok=(owner_id, alert_id) in self.records)
        del self.records[(owner_id, alert_id)]
        self._set_watch(owner_id, after)

    def _check(self, owner_id: str, before: Sequence[Watch], *, alert_ok: bool) -> None:
        """The transaction's conditions: all hold, or nothing is written."""
        # As the adapter: the stored JSON is compared, so the order of the watches matters too.
        stored = self.accounts.watch_of(owner_id)
        watch_ok = stored is None if not before else stored == encode_watches(before)
        if not (alert_ok and watch_ok and self.accounts.get(owner_id) is not None):
            raise WatchMoved(owner_id)

    def _set_watch(self, owner_id: str, after: Sequence[Watch]) -> None:
        self.accounts.set_watch(owner_id, encode_watches(after) if after else None)


@dataclass
class FakeNotices(NoticeStore):
    """NoticeStore in memory: one dict of attributes per (owner, notice id), as the item holds them."""

    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def get(self, owner: str, notice_id: str) -> Notice | None:
        item = self.items.get((owner, notice_id))
        return None if item is None else _notice(owner, notice_id, item)

    # -- creates -------------------------------------------------------------------------------
    def record_firing(self, firing: Firing, facts: FiringFacts, now: datetime) -> bool:
        record = firing_record(firing, facts, now)
        return self._create(record.owner, record.notice_id, dict(record.attribute_values))

    def record_event(
        self,
        endpoint_owner: str,
        event_id: str,
        event_type: str,
        account_id: str,
        data: Mapping[str, Any],
        created_at: datetime,
    ) -> bool:
        return self._create(
            hook_owner(endpoint_owner),
            event_id,
            {
                "event_id": event_id,
                "event_type": event_type,
                "account_id": account_id,
                "created_at": format_instant(created_at),
                "data": json.dumps(dict(data), separators=(",", ":"), ensure_ascii=False),
                "email_status": "none",
                "webhook_status": "pending",
                "pending": PENDING,
            },
        )

    def record_arm(self, owner_id: str, alert_id: str, revision: int, now: datetime) -> bool:
        return self._create(
            f"arm#{alert_id}",
            f"r{revision:06d}",
            {
                "event_id": "-",
                "event_type": "usage_alert.arm",
                "account_id": owner_id,
                "created_at": format_instant(now),
                "data": json.dumps({"owner_id": owner_id, "revision": revision}),
                "email_status": "none",
                "webhook_status": "none",
                "pending": PENDING,
            },
        )

    def _create(self, owner: str, notice_id: str, attributes: dict[str, Any]) -> bool:
        if (owner, notice_id) in self.items:
            return False
        self.items[(owner, notice_id)] = {
            name: value
            for name, value in attributes.items()
            if name not in ("owner", "notice_id") and value is not None
        }
        return True

    # -- reads ---------------------------------------------------------------------------------
    def firings(self, alert_id: str, limit: int, after: str | None) -> tuple[list[Notice], str | None]:
        owner = f"alert#{alert_id}"
        ids = sorted((i for o, i in self.items if o == owner and (after is None or i < after)), reverse=True)
        notices = [_notice(owner, i, self.items[(owner, i)]) for i in ids[:limit]]
        # DynamoDB answers a LastEvaluatedKey whenever the query stopped at its limit.
        return notices, (notices[-1].notice_id if len(ids) >= limit and notices else None)

    def waiting(self, created_before: str, limit: int = 100) -> list[tuple[str, str]]:
        found = sorted(
            (item["created_at"], owner, notice_id)
            for (owner, notice_id), item in self.items.items()
            if item.get("pending") == PENDING and item["created_at"] < created_before
        )
        return [(owner, notice_id) for _, owner, notice_id in found[:limit]]

    # -- deliveries ----------------------------------------------------------------------------
    def received(self, owner: str, notice_id: str) -> None:
        item = self.items.get((owner, notice_id))
        if item is not None and "pending" in item:
            del item["pending"]

    def set_data(self, owner: str, notice_id: str, data: Mapping[str, Any]) -> None:
        item = self.items.get((owner, notice_id))
        if item is not None:
            item["data"] = json.dumps(dict(data), separators=(",", ":"))

    def claim_email(self, owner: str, notice_id: str, now: float, lease_seconds: int) -> bool:
        item = self.items.get((owner, notice_id))
        if item is None:
            return False
        status = item.get("email_status")
        lease = item.get("email_lease_until")
        if not (status == "pending" or (status == "sending" and lease is not None and lease < now)):
            return False
        item["email_status"] = "sending"
        item["email_lease_until"] = int(now) + lease_seconds
        return True

    def email_done(
        self, owner: str, notice_id: str, status: str, recipients: tuple[str, ...], at: datetime, error: str | None
    ) -> None:
        item = self.items.get((owner, notice_id))
        if item is None:
            return
        item["email_status"] = status
        item.pop("email_lease_until", None)
        item["email_at"] = format_instant(at)
        _set_or_remove(item, "email_recipients", list(recipients) if recipients else None)
        _set_or_remove(item, "email_error", error or None)

    def webhook_attempted(
        self,
        owner: str,
        notice_id: str,
        attempts: tuple[dict[str, Any], ...],
        status: str,
        url: str | None,
        next_attempt_at: datetime | None,
    ) -> None:
        item = self.items.get((owner, notice_id))
        if item is None:
            return
        item["webhook_attempts"] = json.dumps(list(attempts), separators=(",", ":"))
        item["webhook_status"] = status
        _set_or_remove(item, "next_attempt_at", format_instant(next_attempt_at) if next_attempt_at else None)
        if url:
            item["webhook_url"] = url

    def webhook_settled(self, owner: str, notice_id: str, status: str) -> None:
        item = self.items.get((owner, notice_id))
        if item is None:
            return
        item["webhook_status"] = status
        item.pop("next_attempt_at", None)


def _set_or_remove(item: dict[str, Any], name: str, value: Any) -> None:
    if value is None:
        item.pop(name, None)
    else:
        item[name] = value


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _notice(owner: str, notice_id: str, item: Mapping[str, Any]) -> Notice:
    return Notice(
        owner=owner,
        notice_id=notice_id,
        event_id=item["event_id"],
        event_type=item["event_type"],
        account_id=item["account_id"],
        created_at=item["created_at"],
        data=json.loads(item["data"]),
        alert_id=item.get("alert_id"),
        revision=_optional_int(item.get("revision")),
        value=_optional_int(item.get("value")),
        threshold=_optional_int(item.get("threshold")),
        email_status=item.get("email_status", "none"),
        email_recipients=tuple(str(r) for r in item.get("email_recipients") or ()),
        email_at=item.get("email_at"),
        email_error=item.get("email_error"),
        webhook_status=item.get("webhook_status", "none"),
        webhook_url=item.get("webhook_url"),
        webhook_attempts=tuple(json.loads(item.get("webhook_attempts") or "[]")),
        next_attempt_at=item.get("next_attempt_at"),
        pending=item.get("pending") is not None,
    )


@dataclass
class FakeWebhookEndpoints(WebhookEndpointStore):
    """WebhookEndpointStore in memory: one endpoint per account."""

    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    updated_at: dict[str, datetime] = field(default_factory=dict)

    def get(self, account_id: str) -> Endpoint | None:
        return self.endpoints.get(account_id)

    def get_many(self, account_ids: Iterable[str]) -> dict[str, Endpoint]:
        return {i: self.endpoints[i] for i in sorted(set(account_ids)) if i in self.endpoints}

    def put(self, account_id: str, url: str, secret: str, now: datetime) -> None:
        self.endpoints[account_id] = Endpoint(account_id, url, secret)
        self.updated_at[account_id] = now

    def delete(self, account_id: str) -> None:
        self.endpoints.pop(account_id, None)
        self.updated_at.pop(account_id, None)
