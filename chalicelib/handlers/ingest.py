"""The SQS usage-queue consumer: Lambda's batch in, partial batch failures out."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..adapters.queues import dead_letter, send_billing_tasks
from ..domain.payments import BillingTask
from ..services.usage import QueuedMessage, UsageOutcome, record_usage

if TYPE_CHECKING:
    from chalice.app import SQSEvent


def messages_of(event: SQSEvent) -> list[QueuedMessage]:
    messages = []
    for record in event:
        raw = record.to_dict()
        group = (raw.get("attributes") or {}).get("MessageGroupId")
        messages.append(QueuedMessage(message_id=raw.get("messageId", ""), body=record.body, group_id=group))
    return messages


def _dead_letter(message: QueuedMessage, reason: str, raw: str) -> None:
    dead_letter(raw, reason, message.message_id, source="usage-events")


def ingest_usage(event: SQSEvent) -> tuple[dict[str, Any], UsageOutcome]:
    """Charge a batch; the dict is the ReportBatchItemFailures answer Lambda expects."""
    outcome = record_usage(messages_of(event), dead_letter=_dead_letter)
    send_tasks(outcome.tasks)
    failures = [{"itemIdentifier": message_id} for message_id in outcome.failed_message_ids]
    return {"batchItemFailures": failures}, outcome


def send_tasks(tasks: list[BillingTask]) -> None:
    """Hand what the batch set off (recharges, alerts) to the billing worker.

    Best effort: a recharge whose task is lost stays flagged on the balance head and
    is put on the queue again by a later batch (see domain.payments.needs_redrive).
    """
    if not tasks:
        return
    try:
        send_billing_tasks([json.dumps(t.to_json()) for t in tasks])
    except Exception:
        from ..observability import get_logger

        get_logger().exception("billing tasks not sent", extra={"tasks": [t.to_json() for t in tasks]})
