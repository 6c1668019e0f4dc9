"""The SQS queues: usage events (FIFO), billing tasks, statements, and their dead-letter queues."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..config import get_settings
from .aws import client

SQS_BATCH = 10


@dataclass(frozen=True)
class OutgoingMessage:
    body: str
    group_id: str
    dedupe_key: str


@lru_cache(maxsize=8)
def queue_url(name: str) -> str:
    return str(client("sqs").get_queue_url(QueueName=name)["QueueUrl"])


def reset_queue_urls() -> None:
    queue_url.cache_clear()


def _dedupe_id(key: str) -> str:
    # FIFO deduplication ids are at most 128 characters of a limited alphabet.
    return hashlib.sha256(key.encode()).hexdigest()


def send_batches(queue_name: str, entries: Sequence[dict[str, Any]], what: str) -> None:
    """SendMessageBatch, ten entries at a time, in order; raises if SQS refused any.

    Each entry holds the message fields (MessageBody, and MessageGroupId and
    MessageDeduplicationId for a FIFO queue); the batch ids are added here.
    """
    url = queue_url(queue_name)
    sqs = client("sqs")
    for start in range(0, len(entries), SQS_BATCH):
        batch = entries[start : start + SQS_BATCH]
        response = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), **e} for i, e in enumerate(batch)])
        failed = response.get("Failed") or []
        if failed:
            raise RuntimeError(f"SQS refused {len(failed)} {what}: {failed[0].get('Message')}")


def send_usage_messages(messages: Sequence[OutgoingMessage]) -> None:
    """Enqueue usage events in order on the FIFO usage queue."""
    entries = [
        {"MessageBody": m.body, "MessageGroupId": m.group_id, "MessageDeduplicationId": _dedupe_id(m.dedupe_key)}
        for m in messages
    ]
    send_batches(get_settings().usage_queue_name, entries, "usage messages")


def dead_letter(body: str, reason: str, message_id: str, source: str) -> None:
    """Park a message that can never be processed, with the reason, for a person to look at.

    `source` is the queue it came from: "usage-events", "billing-tasks" or "statements".
    """
    settings = get_settings()
    dlq = {
        "usage-events": settings.usage_dlq_name,
        "billing-tasks": settings.billing_tasks_dlq_name,
        "statements": settings.statements_dlq_name,
    }[source]
    fifo_fields = (
        {"MessageGroupId": "malformed", "MessageDeduplicationId": _dedupe_id(f"{source}:{message_id}:{body}")}
        if dlq.endswith(".fifo")
        else {}
    )
    client("sqs").send_message(
        QueueUrl=queue_url(dlq),
        MessageBody=body,
        **fifo_fields,
        MessageAttributes={
            "reason": {"DataType": "String", "StringValue": reason[:1000] or "unknown"},
            "source_message_id": {"DataType": "String", "StringValue": message_id or "-"},
            "source": {"DataType": "String", "StringValue": source},
        },
    )


def send_billing_tasks(bodies: Sequence[str]) -> None:
    """Put work for the billing worker (recharges, alerts) on its standard queue."""
    send_batches(get_settings().billing_tasks_queue_name, [{"MessageBody": b} for b in bodies], "billing tasks")
