"""Charges & Usage: wiring only. Routes live in chalicelib/api, logic in chalicelib/services."""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice, SQSEvent

from chalicelib.api.accounts import accounts_bp
from chalicelib.api.auth import auth_bp
from chalicelib.api.http import reject_unauthenticated
from chalicelib.api.logs import logs_bp
from chalicelib.api.payments import payments_bp
from chalicelib.api.reports import reports_bp
from chalicelib.api.usage import usage_bp
from chalicelib.observability import get_logger, record_ingest

app = Chalice(app_name="charges-and-usage")
app.register_blueprint(auth_bp)
app.register_blueprint(accounts_bp)
app.register_blueprint(logs_bp)
app.register_blueprint(reports_bp)
app.register_blueprint(payments_bp)
app.register_blueprint(usage_bp)
app.register_middleware(reject_unauthenticated, "http")

USAGE_QUEUE = "usage-events.fifo"
BILLING_TASKS_QUEUE = "billing-tasks"


# FIFO event sources take at most 10 messages a batch; a message may carry many
# events of one billing account (see services/intake.py).
@app.on_sqs_message(queue=USAGE_QUEUE, batch_size=10)
def ingest_usage_events(event: SQSEvent) -> dict[str, Any]:
    from chalicelib.handlers.ingest import ingest_usage

    response, outcome = ingest_usage(event)
    record_ingest(outcome.charged, outcome.duplicates, len(outcome.dead_lettered), len(outcome.failed_message_ids))
    for message_id, reason in outcome.dead_lettered:
        get_logger().warning("usage event dead-lettered", extra={"message_id": message_id, "reason": reason})
    return response


@app.on_sqs_message(queue=BILLING_TASKS_QUEUE, batch_size=10)
def process_billing_tasks(event: SQSEvent) -> dict[str, Any]:
    from chalicelib.handlers.billing import process_billing_tasks as process

    return process(event)
