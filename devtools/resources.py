"""Create what the stack needs in the local stand-ins: tables, queues, the SES sender, the usage rule."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from chalicelib.adapters.aws import client
from chalicelib.adapters.schema import create_tables
from chalicelib.config import get_settings

DEFAULT_SENDER = "billing@example.com"
INTAKE_QUEUE = "usage-events-intake"  # app.USAGE_INTAKE_QUEUE: one per stand-in, nothing but producers send to it
# A webhook is attempted up to 8 times (domain/webhooks.py): SQS must not dead-letter it first.
NOTICES_MAX_RECEIVE_COUNT = 12


def ensure_queue(name: str, attributes: dict[str, str]) -> str:
    """Create the queue, or bring an existing one to these attributes (idempotent)."""
    from botocore.exceptions import ClientError

    sqs = client("sqs")
    try:
        return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("QueueNameExists", "QueueAlreadyExists"):
            raise
        # It exists with other attributes (an older run): update the mutable ones.
        url = str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
        mutable = {k: v for k, v in attributes.items() if k != "FifoQueue"}
        sqs.set_queue_attributes(QueueUrl=url, Attributes=mutable)
        return url


def create_queues() -> dict[str, str]:
    """The FIFO usage queue, the billing-tasks, statements and notices queues, and their dead-letter queues."""
    settings = get_settings()
    sqs = client("sqs")
    dlq_url = ensure_queue(
        settings.usage_dlq_name,
        {"FifoQueue": "true", "ContentBasedDeduplication": "false", "MessageRetentionPeriod": "1209600"},
    )
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = ensure_queue(
        settings.usage_queue_name,
        {
            "FifoQueue": "true",
            "ContentBasedDeduplication": "false",
            "VisibilityTimeout": "30",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
        },
    )
    tasks_dlq_url = ensure_queue(settings.billing_tasks_dlq_name, {"MessageRetentionPeriod": "1209600"})
    tasks_dlq_arn = sqs.get_queue_attributes(QueueUrl=tasks_dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    tasks_url = ensure_queue(
        settings.billing_tasks_queue_name,
        {
            "VisibilityTimeout": "60",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": tasks_dlq_arn, "maxReceiveCount": "5"}),
        },
    )
    # Statements: the lease on a statement is 5 minutes, so a retry comes after it expired.
    statements_dlq_url = ensure_queue(settings.statements_dlq_name, {"MessageRetentionPeriod": "1209600"})
    statements_dlq_arn = sqs.get_queue_attributes(QueueUrl=statements_dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    statements_url = ensure_queue(
        settings.statements_queue_name,
        {
            "VisibilityTimeout": "360",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": statements_dlq_arn, "maxReceiveCount": "5"}),
        },
    )
    # Usage-alert and webhook deliveries: a webhook is tried 8 times, so more receives than the others.
    notices_dlq_url = ensure_queue(settings.notices_dlq_name, {"MessageRetentionPeriod": "1209600"})
    notices_dlq_arn = sqs.get_queue_attributes(QueueUrl=notices_dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    notices_url = ensure_queue(
        settings.notices_queue_name,
        {
            "VisibilityTimeout": "60",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": notices_dlq_arn, "maxReceiveCount": str(NOTICES_MAX_RECEIVE_COUNT)}
            ),
        },
    )
    # Producers' usage events from EventBridge (the router, app.route_usage_events, consumes it).
    intake_url = ensure_queue(INTAKE_QUEUE, {"VisibilityTimeout": "180"})
    return {
        "usage": queue_url,
        "intake": intake_url,
        "dlq": dlq_url,
        "billing_tasks": tasks_url,
        "billing_tasks_dlq": tasks_dlq_url,
        "statements": statements_url,
        "statements_dlq": statements_dlq_url,
        "notices": notices_url,
        "notices_dlq": notices_dlq_url,
    }


def verify_sender() -> str:
    sender = os.environ.get("BILLING_SENDER", DEFAULT_SENDER)
    client("ses").verify_email_identity(EmailAddress=sender)
    return sender


def route_usage_events(intake_url: str) -> str:
    """The deployed stack's rule on moto's EventBridge: `PutEvents` of a usage event reaches the router."""
    from deploy.template import USAGE_EVENT_DETAIL_TYPE, USAGE_EVENT_SOURCE

    sqs, events = client("sqs"), client("events")
    arn = sqs.get_queue_attributes(QueueUrl=intake_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": [USAGE_EVENT_SOURCE], "detail-type": [USAGE_EVENT_DETAIL_TYPE]}
    events.put_rule(Name="usage-events", EventPattern=json.dumps(pattern), State="ENABLED")
    events.put_targets(Rule="usage-events", Targets=[{"Id": "usage-intake", "Arn": arn}])
    return "usage-events"


def create_all(create_tables: Callable[[], list[str]] = create_tables) -> dict[str, object]:
    queues = create_queues()
    return {
        "tables": create_tables(),
        "queues": queues,
        "rule": route_usage_events(queues["intake"]),
        "sender": verify_sender(),
    }
