"""The statements queue (SQS standard) and its dead-letter queue.

Messages: {"type": "send", "statement_id"} for a statement built on request, and
{"type": "scheduled", "account_id", "frequency", "weekday", "time_zone",
"scheduled_at"} for a scheduled run. Delivery is at least once; the sender's
claim on the statement item makes each one go out once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..config import get_settings
from .aws import client
from .queues import SQS_BATCH, queue_url


def send_statement_messages(messages: Sequence[Mapping[str, Any]]) -> None:
    """Enqueue, ten at a time; raises if SQS refused any message."""
    url = queue_url(get_settings().statements_queue_name)
    sqs = client("sqs")
    for start in range(0, len(messages), SQS_BATCH):
        batch = messages[start : start + SQS_BATCH]
        response = sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": json.dumps(m, sort_keys=True)} for i, m in enumerate(batch)],
        )
        failed = response.get("Failed") or []
        if failed:
            raise RuntimeError(f"SQS refused {len(failed)} statement messages: {failed[0].get('Message')}")


def dead_letter_statement(body: str, reason: str, message_id: str) -> None:
    """Park a message that can never be processed, with the reason."""
    client("sqs").send_message(
        QueueUrl=queue_url(get_settings().statements_dlq_name),
        MessageBody=body,
        MessageAttributes={
            "reason": {"DataType": "String", "StringValue": reason[:1000] or "unknown"},
            "source_message_id": {"DataType": "String", "StringValue": message_id or "-"},
            "source": {"DataType": "String", "StringValue": "statements"},
        },
    )
