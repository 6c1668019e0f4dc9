"""Create what the stack needs in the local stand-ins: tables, queues, the SES sender."""

from __future__ import annotations

import json
import os

from chalicelib.adapters.aws import client
from chalicelib.adapters.schema import create_tables
from chalicelib.config import get_settings

DEFAULT_SENDER = "billing@example.com"


def create_queues() -> dict[str, str]:
    """The FIFO usage queue and its FIFO dead-letter queue (redrive after 5 receives)."""
    settings = get_settings()
    sqs = client("sqs")
    dlq_url = sqs.create_queue(
        QueueName=settings.usage_dlq_name,
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false", "MessageRetentionPeriod": "1209600"},
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=settings.usage_queue_name,
        Attributes={
            "FifoQueue": "true",
            "ContentBasedDeduplication": "false",
            "VisibilityTimeout": "30",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
        },
    )["QueueUrl"]
    return {"usage": queue_url, "dlq": dlq_url}


def verify_sender() -> str:
    sender = os.environ.get("BILLING_SENDER", DEFAULT_SENDER)
    client("ses").verify_email_identity(EmailAddress=sender)
    return sender


def create_all() -> dict[str, object]:
    return {"tables": create_tables(), "queues": create_queues(), "sender": verify_sender()}
