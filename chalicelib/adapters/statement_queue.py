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
from .queues import dead_letter, send_batches


def send_statement_messages(messages: Sequence[Mapping[str, Any]]) -> None:
    """Enqueue, ten at a time; raises if SQS refused any message."""
    entries = [{"MessageBody": json.dumps(m, sort_keys=True)} for m in messages]
    send_batches(get_settings().statements_queue_name, entries, "statement messages")


def dead_letter_statement(body: str, reason: str, message_id: str) -> None:
    """Park a message that can never be processed, with the reason."""
    dead_letter(body, reason, message_id, source="statements")
