"""The SQS usage-queue consumer: Lambda's batch in, partial batch failures out."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..adapters.queues import dead_letter
from ..observability import get_logger
from ..services.tasks import dispatch
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
    event_id = account_id = None
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if isinstance(data, dict):
        event_id, account_id = data.get("event_id"), data.get("account_id")
    get_logger().warning(
        "usage event dead-lettered",
        extra={"message_id": message.message_id, "event_id": event_id, "account_id": account_id, "reason": reason},
    )


def ingest_usage(event: SQSEvent) -> tuple[dict[str, Any], UsageOutcome]:
    """Charge a batch; the dict is the ReportBatchItemFailures answer Lambda expects."""
    outcome = record_usage(messages_of(event), dead_letter=_dead_letter)
    dispatch(outcome.tasks)
    failures = [{"itemIdentifier": message_id} for message_id in outcome.failed_message_ids]
    return {"batchItemFailures": failures}, outcome
