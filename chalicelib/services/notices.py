"""Delivering notices: a usage alert's email and webhook, a billing event's webhook.

The notices queue carries one message per notice; the worker (handlers/notices.py)
settles each delivery on the notice item, so a redelivered message neither emails
twice nor loses an attempt:

- email (usage alerts): to the alert's recipients, claimed with a lease first;
- webhook: the same body, `id` and all, on every attempt; a failure (an answer other
  than 2xx, a timeout, a refused URL) is tried again after the next delay of
  domain.webhooks.RETRY_DELAYS by handing the message back to SQS with that
  visibility timeout; after the last it is dead-lettered (status `dead_lettered`,
  and the notices dead-letter queue holds it with the reason).

An alert's first look at its period: a new (or changed) alert writes an "arm" notice
(`arm#<alert id>`), which `redrive` (every 10 minutes) hands to the worker once it is five
minutes old, when every writer knows of the alert; if the period already reached the
threshold then, the alert fires (a transaction that crossed it before the writers knew of
the alert would otherwise go unnoticed, and one made after the alert was set fires as usual).
`redrive` also queues again the notices whose message never reached the worker (the queue
was down when the writer committed).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ..domain.alerts import Firing
from ..domain.periods import format_instant
from ..domain.webhooks import SIGNATURE_HEADER, envelope, retry_delay, signature
from ..observability import get_logger
from .notice_dispatch import dispatch_firings, dispatch_notices
from .stores import stores

if TYPE_CHECKING:
    from ..adapters.notices_repo import Notice
    from ..adapters.webhook_client import Attempt

ARM_OWNER = "arm#"
EMAIL_LEASE_SECONDS = 120
REDRIVE_AFTER = timedelta(minutes=5)


class Outcome(StrEnum):
    DONE = "done"
    RETRY = "retry"  # the message comes back (a webhook's next attempt, or the email again)


@dataclass(frozen=True)
class Received:
    """A message as the worker got it."""

    body: str
    message_id: str
    receipt_handle: str


# -- queueing ---------------------------------------------------------------------------------------


def schedule_arming(owner_id: str, alert_id: str, revision: int) -> None:
    """The alert's first look at its period, in about five to fifteen minutes (see the module's docstring)."""

    stores().notices.record_arm(owner_id, alert_id, revision, stores().clock())


def redrive(now: datetime | None = None) -> int:
    """Queue again every notice whose message the worker never received; returns how many."""

    now = now or stores().clock()
    waiting = stores().notices.waiting(format_instant(now - REDRIVE_AFTER))
    dispatch_notices(waiting)
    return len(waiting)


# -- the worker ---------------------------------------------------------------------------------------


def handle(message: Received, now: Callable[[], datetime] = lambda: stores().clock()) -> Outcome:
    """One message of the notices queue. Raises ValueError for a message nobody can read."""
    data = json.loads(message.body)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    kind = data.get("type")
    if kind == "deliver":
        return deliver(str(data["owner"]), str(data["id"]), message, now)
    raise ValueError(f"unknown notice message type {kind!r}")


@dataclass(frozen=True)
class _Target:
    """Where a notice goes: its email recipients and its webhook."""

    recipients: tuple[str, ...]
    webhook_url: str | None
    webhook_secret: str | None
    data: dict[str, Any]
    context: dict[str, Any]


def deliver(owner: str, notice_id: str, message: Received, now: Callable[[], datetime]) -> Outcome:
    repo = stores().notices
    notice = repo.get(owner, notice_id)
    if notice is None:
        get_logger().warning("notice to deliver not found", extra={"owner": owner, "notice_id": notice_id})
        return Outcome.DONE
    if notice.pending:
        repo.received(owner, notice_id)
    if owner.startswith(ARM_OWNER):  # an alert's first look at its period, not a delivery
        arm(str(notice.data["owner_id"]), owner.removeprefix(ARM_OWNER), int(notice.data["revision"]), now())
        return Outcome.DONE
    target = _target(notice)
    if target is None:  # the alert was deleted, or the webhook removed: nothing left to deliver
        if notice.email_status in ("pending", "sending"):
            repo.email_done(owner, notice_id, "none", (), now(), "the alert was deleted")
        if notice.webhook_status in ("pending", "retrying"):
            repo.webhook_settled(owner, notice_id, "none")
        return Outcome.DONE
    if target.data != notice.data:
        repo.set_data(owner, notice_id, target.data)
    outcome = Outcome.DONE
    if notice.email_status in ("pending", "sending") and _email(repo, notice, target, now) is Outcome.RETRY:
        outcome = Outcome.RETRY
    if notice.webhook_status in ("pending", "retrying"):
        if target.webhook_url is None or target.webhook_secret is None:
            repo.webhook_settled(owner, notice_id, "none")
        elif _webhook(repo, notice, target, message, now) is Outcome.RETRY:
            outcome = Outcome.RETRY
    return outcome


def _target(notice: Notice) -> _Target | None:
    if notice.alert_id is not None:
        owner_id = str(notice.data.get("owner_id"))
        stored = stores().alerts.get(owner_id, notice.alert_id)
        if stored is None:
            return None
        alert = stored.alert
        accounts = stores().accounts.get_many({owner_id, notice.account_id})
        data = {**notice.data, "alert_name": alert.name, "subject_account_id": notice.account_id}
        context = {
            "alert": alert,
            "data": data,
            "owner": accounts.get(owner_id),
            "subject": accounts.get(notice.account_id),
        }
        return _Target(alert.recipients, alert.webhook_url, stored.webhook_secret, data, context)
    endpoint = stores().webhook_endpoints.get(notice.owner.removeprefix("hook#"))
    if endpoint is None:
        return None
    return _Target((), endpoint.url, endpoint.secret, notice.data, {})


def _email(repo: Any, notice: Notice, target: _Target, now: Callable[[], datetime]) -> Outcome:
    from .notifications import send_usage_alert

    if not target.recipients:
        repo.email_done(notice.owner, notice.notice_id, "none", (), now(), None)
        return Outcome.DONE
    if not repo.claim_email(notice.owner, notice.notice_id, now().timestamp(), EMAIL_LEASE_SECONDS):
        return Outcome.DONE  # sent already, or being sent by another worker
    error = send_usage_alert(target.recipients, target.context)
    if error is None:
        repo.email_done(notice.owner, notice.notice_id, "sent", target.recipients, now(), None)
        return Outcome.DONE
    # SES did not take it: free the claim and let the message come back.
    repo.email_done(notice.owner, notice.notice_id, "pending", target.recipients, now(), error)
    return Outcome.RETRY


def _webhook(repo: Any, notice: Notice, target: _Target, message: Received, now: Callable[[], datetime]) -> Outcome:
    from .webhooks import is_local_stage

    assert target.webhook_url is not None and target.webhook_secret is not None
    created_at = datetime.fromisoformat(notice.created_at.replace("Z", "+00:00"))
    body = envelope(notice.event_id, notice.event_type, created_at, notice.account_id, target.data)
    sent_at = now()
    headers = {SIGNATURE_HEADER: signature(target.webhook_secret, int(sent_at.timestamp()), body)}
    attempt = stores().webhooks.post(target.webhook_url, body, headers, local=is_local_stage())
    attempts = (*notice.webhook_attempts, _attempt_json(attempt, sent_at))
    if attempt.delivered:
        repo.webhook_attempted(notice.owner, notice.notice_id, attempts, "delivered", target.webhook_url, None)
        return Outcome.DONE
    delay = retry_delay(len(attempts))
    if delay is None:
        repo.webhook_attempted(notice.owner, notice.notice_id, attempts, "dead_lettered", target.webhook_url, None)
        reason = f"webhook not delivered after {len(attempts)} attempts: {attempt.error or attempt.status}"
        stores().queues.dead_letter_notice(message.body, reason, message.message_id)
        get_logger().warning("webhook dead-lettered", extra={"event_id": notice.event_id, "reason": reason})
        return Outcome.DONE
    next_at = sent_at + timedelta(seconds=delay)
    repo.webhook_attempted(notice.owner, notice.notice_id, attempts, "retrying", target.webhook_url, next_at)
    stores().queues.retry_notice_later(message.receipt_handle, delay)
    return Outcome.RETRY


def _attempt_json(attempt: Attempt, at: datetime) -> dict[str, Any]:
    return {"at": format_instant(at), "status": attempt.status, "error": attempt.error, "ms": attempt.duration_ms}


# -- arming --------------------------------------------------------------------------------------------


def arm(owner_id: str, alert_id: str, revision: int, now: datetime) -> list[Firing]:
    """Fire the alert for the current period of each subject whose value is already at its threshold."""
    from ..adapters.alerts_repo import FiringFacts
    from .alert_check import current_values

    stored = stores().alerts.get(owner_id, alert_id)
    if stored is None or not stored.alert.enabled or stored.alert.revision != revision:
        return []
    owner = stores().accounts.get(owner_id)
    if owner is None:
        return []
    fired = []
    repo = stores().notices
    for subject, window, value in current_values(owner, stored.alert.watch, now):
        if value < stored.alert.threshold:
            continue
        firing = Firing(owner_id, stored.alert.watch, subject.account_id, window, value)
        if repo.record_firing(firing, FiringFacts(subject.currency, subject.time_zone), now):
            fired.append(firing)
    dispatch_firings(fired)
    return fired
