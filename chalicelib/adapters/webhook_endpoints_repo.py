"""The billing-events webhook of each account (tables/webhook_endpoints.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from .tables.base import bind
from .tables.webhook_endpoints import WebhookEndpointRecord


@dataclass(frozen=True)
class Endpoint:
    account_id: str
    url: str
    secret: str


class WebhookEndpointRepository:
    def get(self, account_id: str) -> Endpoint | None:
        bind()
        try:
            record = WebhookEndpointRecord.get(account_id, consistent_read=True)
        except WebhookEndpointRecord.DoesNotExist:
            return None
        return Endpoint(record.account_id, record.url, record.secret)

    def get_many(self, account_ids: Iterable[str]) -> dict[str, Endpoint]:
        bind()
        ids = sorted(set(account_ids))
        if not ids:
            return {}
        return {r.account_id: Endpoint(r.account_id, r.url, r.secret) for r in WebhookEndpointRecord.batch_get(ids)}

    def put(self, account_id: str, url: str, secret: str, now: datetime) -> None:
        bind()
        WebhookEndpointRecord(account_id, url=url, secret=secret, updated_at=now).save()

    def delete(self, account_id: str) -> None:
        bind()
        WebhookEndpointRecord(account_id).delete()
