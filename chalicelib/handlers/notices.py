"""The notices queue consumer (usage-alert and webhook deliveries) and the redrive schedule."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..adapters.notice_queue import dead_letter_notice
from ..observability import get_logger, record_count, record_dead_lettered
from ..services.notices import Outcome, Received, handle, redrive

if TYPE_CHECKING:
    from chalice.app import CloudWatchEvent, SQSEvent


def deliver_notices(event: SQSEvent) -> dict[str, Any]:
    """Deliver each notice; a webhook to try again later (or a failed email) is reported failed,
    and comes back when the visibility the worker gave it ends."""
    log = get_logger()
    failures = []
    for record in event:
        raw = record.to_dict()
        message = Received(record.body, raw.get("messageId", ""), raw.get("receiptHandle", ""))
        try:
            outcome = handle(message)
        except (ValueError, KeyError, TypeError) as exc:
            dead_letter_notice(record.body, f"not a notice message: {exc}", message.message_id)
            record_dead_lettered("notices")
            log.warning("notice message dead-lettered", extra={"message_id": message.message_id, "reason": str(exc)})
            continue
        except Exception:
            log.exception("notice not delivered", extra={"message_id": message.message_id})
            failures.append({"itemIdentifier": message.message_id})
            continue
        if outcome is Outcome.RETRY:
            failures.append({"itemIdentifier": message.message_id})
        log.info("notice message handled", extra={"message_id": message.message_id, "outcome": outcome.value})
    return {"batchItemFailures": failures}


def redrive_notices(event: CloudWatchEvent) -> dict[str, int]:
    """Every 10 minutes: queue again the notices whose message never reached the worker (by the tick's time)."""
    from datetime import UTC, datetime

    when = event.to_dict().get("time")
    queued = redrive(datetime.fromisoformat(str(when).replace("Z", "+00:00")) if when else datetime.now(UTC))
    record_count("NoticesRedriven", queued)
    get_logger().info("notice redrive ran", extra={"queued": queued})
    return {"queued": queued}
