"""The usage queue (SQS FIFO) and its dead-letter queue."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

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


def send_usage_messages(messages: Sequence[OutgoingMessage]) -> None:
    """Enqueue in order, ten at a time; raises if SQS refused any message."""
    url = queue_url(get_settings().usage_queue_name)
    sqs = client("sqs")
    for start in range(0, len(messages), SQS_BATCH):
        batch = messages[start : start + SQS_BATCH]
        response = sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {
                    "Id": str(i),
                    "MessageBody": m.body,
                    "MessageGroupId": m.group_id,
                    "MessageDeduplicationId": _dedupe_id(m.dedupe_key),
                }
                for i, m in enumerate(batch)
            ],
        )
        failed = response.get("Failed") or []
        if failed:
            raise RuntimeError(f"SQS refused {len(failed)} usage messages: {failed[0].get('Message')}")


def dead_letter(body: str, reason: str, message_id: str, source: str) -> None:
    """Park a message that can never be processed, with the reason, for a person to look at."""
    settings = get_settings()
    fifo = source == "usage-events"
    url = queue_url(settings.usage_dlq_name if fifo else settings.billing_tasks_dlq_name)
    fifo_fields = (
        {"MessageGroupId": "malformed", "MessageDeduplicationId": _dedupe_id(f"{source}:{message_id}:{body}")}
        if fifo
        else {}
    )
    client("sqs").send_message(
        QueueUrl=url,
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
    url = queue_url(get_settings().billing_tasks_queue_name)
    sqs = client("sqs")
    for start in range(0, len(bodies), SQS_BATCH):
        batch = bodies[start : start + SQS_BATCH]
        response = sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(batch)]
        )
        failed = response.get("Failed") or []
        if failed:
            raise RuntimeError(f"SQS refused {len(failed)} billing tasks: {failed[0].get('Message')}")
