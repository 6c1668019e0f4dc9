"""The usage intake consumer: producers' EventBridge events onto the FIFO usage queue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..adapters.queues import dead_letter
from ..observability import get_logger, record_dead_lettered
from ..services.routing import RoutingOutcome, route_usage_events
from ..services.usage import QueuedMessage

if TYPE_CHECKING:
    from chalice.app import SQSEvent


def _dead_letter(record: QueuedMessage, reason: str, raw: str) -> None:
    dead_letter(raw, reason, record.message_id, source="usage-events")
    record_dead_lettered("usage-events-intake")
    get_logger().warning("usage event dead-lettered", extra={"message_id": record.message_id, "reason": reason})


def route_usage(event: SQSEvent) -> tuple[dict[str, Any], RoutingOutcome]:
    """Route a batch; the dict is the ReportBatchItemFailures answer Lambda expects."""
    records = [QueuedMessage(message_id=record.to_dict().get("messageId", ""), body=record.body) for record in event]
    outcome = route_usage_events(records, dead_letter=_dead_letter)
    log = get_logger()
    if outcome.send_error:
        log.warning("usage events not routed, left for a retry", extra={"reason": outcome.send_error})
    log.info(
        "usage events routed",
        extra={
            "records": len(records),
            "events": outcome.routed,
            "messages": outcome.messages,
            "dead_lettered": len(outcome.dead_lettered),
            "failed": len(outcome.failed_message_ids),
        },
    )
    return {"batchItemFailures": [{"itemIdentifier": m} for m in outcome.failed_message_ids]}, outcome
