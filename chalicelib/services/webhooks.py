"""Billing events for webhooks: the URL an account sets, and the events it is sent.

An account (or agency) sets one `webhook_url` in its billing settings for all its
billing events (balance.low, balance.past_due, payment.succeeded, payment.failed,
auto_recharge.paused, statement.sent); the secret that signs them is answered once,
when the URL is set. A sub-account on its own billing also has its card and balance
troubles sent to its agency's webhook: the agency is who calls the client.

`emit` records the event once per endpoint (its id comes from what happened, so a
retried worker emits the same event, recorded once) and hands it to the delivery
worker (services/notices.py): never sent from inside an API request.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..config import get_settings
from ..domain.accounts import Account, Billing
from ..domain.webhooks import EventType, UrlRefused, event_id_for, new_secret
from ..observability import get_logger
from .errors import BadRequest
from .stores import stores

EMIT_ATTEMPTS = 4  # a throttled or conflicting write is tried this often before the event is given up

# What a sub-account on its own billing also sends to its agency's webhook.
AGENCY_ALSO_GETS = frozenset({EventType.PAYMENT_FAILED, EventType.AUTO_RECHARGE_PAUSED, EventType.BALANCE_PAST_DUE})


def is_local_stage() -> bool:
    return get_settings().stage == "local"


def check_webhook_url(url: str) -> str:
    """The URL if it may be called (outside the local stage: https to public addresses); 400 otherwise."""
    from ..adapters.webhook_client import check_url

    try:
        check_url(url, local=is_local_stage())
    except UrlRefused as exc:
        raise BadRequest(str(exc)) from None
    return url


def billing_webhook_url(account_id: str) -> str | None:
    endpoint = stores().webhook_endpoints.get(account_id)
    return endpoint.url if endpoint else None


def set_billing_webhook(account: Account, url: str | None) -> str | None:
    """Set (or with None remove) the account's webhook; returns the new secret when a new URL is set."""

    repo = stores().webhook_endpoints
    if url is None:
        repo.delete(account.account_id)
        return None
    check_webhook_url(url)
    current = repo.get(account.account_id)
    if current is not None and current.url == url:
        return None  # the same URL keeps its secret
    secret = new_secret()
    repo.put(account.account_id, url, secret, stores().clock())
    return secret


def emit(
    account: Account,
    event_type: EventType,
    key: str,
    data: Mapping[str, Any],
    *,
    agency: Account | None = None,
    now: datetime | None = None,
) -> None:
    """Record a billing event of `account` for its webhook (and its agency's, for its troubles) and
    queue its delivery. Best effort, like the emails: what sets it off (a payment, a statement
    sent) must not be undone or sent twice because of it, so a failure is logged, never raised.
    A transient storage error is tried again first (recording is idempotent: one notice per
    event id), so a throttled moment does not cost a receiver its event."""
    from ..adapters.storage_errors import is_transient

    for attempt in range(1, EMIT_ATTEMPTS + 1):
        try:
            _emit(account, event_type, key, data, agency, now or stores().clock())
            return
        except Exception as exc:
            if attempt < EMIT_ATTEMPTS and is_transient(exc):
                time.sleep(0.05 * 2**attempt * random.random())
                continue
            get_logger().exception("webhook event not recorded", extra={"type": event_type.value, "key": key})
            return


def _emit(
    account: Account,
    event_type: EventType,
    key: str,
    data: Mapping[str, Any],
    agency: Account | None,
    now: datetime,
) -> None:
    from ..adapters.notices_repo import hook_owner
    from .notice_dispatch import dispatch_notices

    owners = [account.account_id]
    if account.agency_id and account.billing is Billing.OWN and event_type in AGENCY_ALSO_GETS:
        owners.append(agency.account_id if agency else account.agency_id)
    endpoints = stores().webhook_endpoints.get_many(owners)
    if not endpoints:
        return
    event_id = event_id_for(event_type, key)
    notices = stores().notices
    created = [
        (hook_owner(owner), event_id)
        for owner in endpoints
        if notices.record_event(owner, event_id, event_type.value, account.account_id, data, now)
    ]
    dispatch_notices(created)
