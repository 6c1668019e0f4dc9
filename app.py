"""Charges & Usage: wiring only. Routes live in chalicelib/api, logic in chalicelib/services."""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice, CloudWatchEvent, Rate, SQSEvent

from chalicelib.api.accounts import accounts_bp
from chalicelib.api.alerts import alerts_bp
from chalicelib.api.auth import auth_bp
from chalicelib.api.console import console_bp
from chalicelib.api.http import reject_unauthenticated
from chalicelib.api.logs import logs_bp
from chalicelib.api.openapi import openapi_bp
from chalicelib.api.payments import payments_bp
from chalicelib.api.reports import reports_bp
from chalicelib.api.statements import statements_bp
from chalicelib.api.usage import usage_bp
from chalicelib.observability import log_context, record_ingest

# configure_logs=False: Chalice's plain-text handler would sit on the logger the
# Powertools JSON logger uses (both are named after the app) and print every line twice.
app = Chalice(app_name="charges-and-usage", configure_logs=False)
app.register_blueprint(auth_bp)
app.register_blueprint(accounts_bp)
app.register_blueprint(logs_bp)
app.register_blueprint(reports_bp)
app.register_blueprint(payments_bp)
app.register_blueprint(usage_bp)
app.register_blueprint(statements_bp)
app.register_blueprint(alerts_bp)
app.register_blueprint(console_bp)
app.register_blueprint(openapi_bp)
# Statement PDFs: API Gateway returns binary bodies to requests that Accept this type.
app.api.binary_types.append("application/pdf")
# The first registered runs outermost: every request is logged, the refused ones too.
app.register_middleware(log_context, "all")
app.register_middleware(reject_unauthenticated, "http")

USAGE_QUEUE = "usage-events.fifo"
USAGE_INTAKE_QUEUE = "usage-events-intake"
BILLING_TASKS_QUEUE = "billing-tasks"
STATEMENTS_QUEUE = "statements"
NOTICES_QUEUE = "notices"


# Producers' events from EventBridge (a standard queue) onto the FIFO usage queue, one
# message group per billing account, packed up to 100 events a message.
@app.on_sqs_message(queue=USAGE_INTAKE_QUEUE, batch_size=500, maximum_batching_window_in_seconds=2)
def route_usage_events(event: SQSEvent) -> dict[str, Any]:
    from chalicelib.handlers.routing import route_usage

    response, _ = route_usage(event)
    return response


# FIFO event sources take at most 10 messages a batch; a message may carry many
# events of one billing account (see services/intake.py).
@app.on_sqs_message(queue=USAGE_QUEUE, batch_size=10)
def ingest_usage_events(event: SQSEvent) -> dict[str, Any]:
    from chalicelib.handlers.ingest import ingest_usage

    response, outcome = ingest_usage(event)
    record_ingest(outcome.charged, outcome.duplicates, len(outcome.dead_lettered), len(outcome.failed_message_ids))
    return response


@app.on_sqs_message(queue=BILLING_TASKS_QUEUE, batch_size=10)
def process_billing_tasks(event: SQSEvent) -> dict[str, Any]:
    from chalicelib.handlers.billing import process_billing_tasks as process

    return process(event)


# Printable statements: every 15 minutes, queue the scheduled statements that are due;
# the sender builds and emails each one once per (schedule, period).
@app.schedule(Rate(15, unit=Rate.MINUTES))
def statements_due(event: CloudWatchEvent) -> dict[str, int]:
    from chalicelib.handlers.statements import statements_due as run

    return run(event)


# Reconcile, every hour: what was posted since the last run, and a slice of the whole.
@app.schedule(Rate(1, unit=Rate.HOURS))
def reconcile_ledger(event: CloudWatchEvent) -> dict[str, Any]:
    from chalicelib.handlers.reconcile import reconcile_ledger as run

    return run(event)


@app.on_sqs_message(queue=STATEMENTS_QUEUE, batch_size=5)
def send_statements(event: SQSEvent) -> dict[str, Any]:
    from chalicelib.handlers.statements import send_statements as send

    return send(event)


# Usage-alert emails and webhooks: delivered from a queue (a webhook that fails comes back
# after its next delay, about 24 hours in all), never from inside a request.
@app.on_sqs_message(queue=NOTICES_QUEUE, batch_size=5)
def deliver_notices(event: SQSEvent) -> dict[str, Any]:
    from chalicelib.handlers.notices import deliver_notices as deliver

    return deliver(event)


# Notices whose message never reached the worker (the queue was down when they were written).
@app.schedule(Rate(10, unit=Rate.MINUTES))
def redrive_notices(event: CloudWatchEvent) -> dict[str, int]:
    from chalicelib.handlers.notices import redrive_notices as run

    return run(event)
