"""The statements queue consumer and the scheduled "who is due" function."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..adapters.statement_queue import dead_letter_statement
from ..observability import get_logger
from ..services.statement_schedules import enqueue_due, scheduled_tick
from ..services.statements import Busy, InvalidMessage, process_message

if TYPE_CHECKING:
    from chalice.app import CloudWatchEvent, SQSEvent


def send_statements(event: SQSEvent) -> dict[str, Any]:
    """Send each statement once; a busy or failed one is left for the queue to retry."""
    log = get_logger()
    failures = []
    for record in event:
        message_id = record.to_dict().get("messageId", "")
        try:
            outcome = process_message(record.body)
        except InvalidMessage as exc:
            dead_letter_statement(record.body, str(exc), message_id)
            log.warning("statement message dead-lettered", extra={"message_id": message_id, "reason": str(exc)})
            continue
        except Busy as exc:
            log.info("statement busy, retry later", extra={"message_id": message_id, "reason": str(exc)})
            failures.append({"itemIdentifier": message_id})
            continue
        except Exception:
            log.exception("statement not sent", extra={"message_id": message_id})
            failures.append({"itemIdentifier": message_id})
            continue
        log.info("statement message done", extra={"message_id": message_id, "outcome": outcome.value})
    return {"batchItemFailures": failures}


def statements_due(event: CloudWatchEvent) -> dict[str, int]:
    """The 15-minute tick: queue the statements whose schedule has come."""
    outcome = enqueue_due(scheduled_tick(event.to_dict().get("time")))
    get_logger().info("statement scheduler ran", extra=outcome)
    return outcome
