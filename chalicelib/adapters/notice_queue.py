"""The notices queue (SQS standard): usage-alert firings and webhook events to deliver.

Messages: {"type": "deliver", "owner", "id"}: a notice to deliver (its email and its
webhook), or an alert's first look at its period (services/notices.py). A webhook that
failed is retried by handing the message back with a visibility timeout of the next delay;
no message is ever delayed (a drain of the local stack waits for none).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..config import get_settings
from .aws import client
from .queues import queue_url, send_batches

MAX_VISIBILITY_SECONDS = 43_200  # and on a message's visibility timeout


def send_notice_messages(messages: Sequence[Mapping[str, Any]]) -> None:
    """Enqueue, ten at a time; raises if SQS refused any."""
    entries = [{"MessageBody": json.dumps(m, sort_keys=True)} for m in messages]
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
