"""The billing-tasks consumer: recharges and low-balance alerts."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..adapters.queues import dead_letter
from ..domain.auto_recharge import BillingTask
from ..observability import get_logger, record_dead_lettered, record_recharge
from ..services.recharge import run_task

if TYPE_CHECKING:
    from chalice.app import SQSEvent


def process_billing_tasks(event: SQSEvent) -> dict[str, Any]:
    """Run each task; a task that failed (a gateway timeout, say) is retried by SQS."""
    failures = []
    for record in event:
        message_id = record.to_dict().get("messageId", "")
        try:
            task = BillingTask.from_json(json.loads(record.body))
        except (ValueError, KeyError, TypeError) as exc:
            dead_letter(record.body, f"not a billing task: {exc}", message_id, source="billing-tasks")
            record_dead_lettered("billing-tasks")
            get_logger().warning("billing task dead-lettered", extra={"message_id": message_id, "reason": str(exc)})
            continue
        try:
            outcome = run_task(task)
        except Exception:
            get_logger().exception("billing task failed", extra={"task": task.to_json()})
            failures.append({"itemIdentifier": message_id})
        else:
            record_recharge(outcome.value)
            get_logger().info(
                "billing task done",
                extra={"task": task.to_json(), "outcome": outcome.value, "account_id": task.billing_account_id},
            )
    return {"batchItemFailures": failures}
