"""The notices queue (SQS standard): usage-alert firings and webhook events to deliver.

Messages: {"type": "deliver", "owner", "id"} (a notice to deliver: its email and its
webhook) and {"type": "arm", "owner_id", "alert_id", "revision"} (look at an alert's
value once writers all know it, see services/notices.py). A webhook that failed is
retried by handing the message back with a visibility timeout of the next delay.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..config import get_settings
from .aws import client
from .queues import queue_url, send_batches

MAX_DELAY_SECONDS = 900  # SQS's limit on DelaySeconds
MAX_VISIBILITY_SECONDS = 43_200  # and on a message's visibility timeout


def send_notice_messages(messages: Sequence[Mapping[str, Any]], delay_seconds: int = 0) -> None:
    """Enqueue, ten at a time; raises if SQS refused any."""
    delay = max(0, min(delay_seconds, MAX_DELAY_SECONDS))
    entries = [
        {"MessageBody": json.dumps(m, sort_keys=True), **({"DelaySeconds": delay} if delay else {})} for m in messages
    ]
    send_batches(get_settings().notices_queue_name, entries, "notice messages")


def retry_later(receipt_handle: str, seconds: int) -> None:
    """The message comes back after `seconds` (the worker reports it failed)."""
    client("sqs").change_message_visibility(
        QueueUrl=queue_url(get_settings().notices_queue_name),
        ReceiptHandle=receipt_handle,
        VisibilityTimeout=max(0, min(seconds, MAX_VISIBILITY_SECONDS)),
    )


def dead_letter_notice(body: str, reason: str, message_id: str) -> None:
    """Park a message with the reason: a webhook that failed every attempt, or one nobody can read."""
    client("sqs").send_message(
        QueueUrl=queue_url(get_settings().notices_dlq_name),
        MessageBody=body,
        MessageAttributes={
            "reason": {"DataType": "String", "StringValue": reason[:1000] or "unknown"},
            "source_message_id": {"DataType": "String", "StringValue": message_id or "-"},
            "source": {"DataType": "String", "StringValue": "notices"},
        },
    )
