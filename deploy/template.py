"""The CloudFormation/SAM resources merged into Chalice's template (`chalice package --merge-template`).

Chalice generates the functions, their roles (from .chalice/policy.json), the API
and the SQS event sources. This module generates what it does not, from the code
itself so that it cannot drift:

- one DynamoDB table per PynamoDB model in `all_models()`, with its exact keys and
  indexes (on demand, point-in-time recovery; deletion protection and Retain on the
  tables whose loss loses money or history; TTL where the model names one);
- every queue an `@app.on_sqs_message` handler consumes, each with a dead-letter
  queue and a redrive policy, and `FunctionResponseTypes: [ReportBatchItemFailures]`
  patched onto every SQS event source Chalice generates (it never sets it);
- producers' usage events: an EventBridge rule -> a standard intake queue (queue
  policy for that rule only) -> an EventBridge Pipe -> the FIFO usage queue, with
  MessageGroupId taken from the event's `account_id` and MessageDeduplicationId from
  its `event_id` (a rule's SQS target only takes a fixed MessageGroupId; a pipe's
  target parameters take JSON paths);
- API Gateway: CORS headers and the contract's `{"error": {...}}` body on its own
  4XX/5XX answers, stage throttling (and a tighter limit on adding funds);
- CloudWatch alarms (to an SNS topic) on every dead-letter queue's depth, the usage
  queue's age and every function's errors;
- the parameters a deployment chooses: the SES sender, an alarm email.

    python -m deploy.template OUT.json     # what `make package` merges
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STAGE = "prod"

# Tables whose loss loses money or history: deletion protection, and kept when the
# stack is deleted or the resource replaced.
PROTECTED_TABLES = frozenset(
    {"accounts", "balances", "ledger_entries", "ledger_pages", "rollups", "balance_days", "payments", "statements"}
)

# Producers' usage events on EventBridge.
USAGE_EVENT_SOURCE = "call-tracking.telephony"
USAGE_EVENT_DETAIL_TYPE = "UsageEvent"
INTAKE_QUEUE = "usage-events-intake"

# SQS: Lambda's visibility timeout guidance is six times the function's timeout.
VISIBILITY_FACTOR = 6
DEFAULT_LAMBDA_TIMEOUT = 60
MAX_RECEIVE_COUNT = 5
RETENTION_14_DAYS = 1_209_600

API_RATE_LIMIT = 100  # requests per second, across the stage
API_BURST_LIMIT = 200
ADD_FUNDS_RATE_LIMIT = 5  # POST /accounts/{id}/payments, across all accounts (per account: the app's limiter)
ADD_FUNDS_BURST_LIMIT = 10

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "'*'",
    "Access-Control-Allow-Headers": "'Authorization,Content-Type,Idempotency-Key'",
    "Access-Control-Allow-Methods": "'GET,POST,PUT,OPTIONS'",
}


def camel(name: str) -> str:
    """`usage-events.fifo` -> `UsageEvents`, `ledger_entries` -> `LedgerEntries`."""
    base = name.removesuffix(".fifo")
    return "".join(part[:1].upper() + part[1:] for part in base.replace("-", "_").replace(".", "_").split("_") if part)


def dlq_name(queue: str) -> str:
    """The dead-letter queue of a queue, named as config.py names them."""
    if queue.endswith(".fifo"):
        return queue.removesuffix(".fifo") + "-dlq.fifo"
    return queue + "-dlq"


def chalice_config() -> dict[str, Any]:
    return dict(json.loads((ROOT / ".chalice" / "config.json").read_text()))


def stage_env(config: dict[str, Any]) -> dict[str, str]:
    env = dict(config.get("environment_variables") or {})
    env.update(config.get("stages", {}).get(STAGE, {}).get("environment_variables") or {})
    return env


def lambda_timeout(config: dict[str, Any]) -> int:
    stage = config.get("stages", {}).get(STAGE, {})
    return int(stage.get("lambda_timeout") or config.get("lambda_timeout") or DEFAULT_LAMBDA_TIMEOUT)


# -- what the app declares ---------------------------------------------------------------


@dataclass(frozen=True)
class SqsSource:
    function: str  # the function's logical id in Chalice's template
    queue: str
    batch_size: int


@dataclass(frozen=True)
class AppShape:
    functions: list[str]  # logical ids of every Lambda function Chalice generates
    sqs_sources: list[SqsSource]
    has_api: bool


def app_shape() -> AppShape:
    """What Chalice will generate for app.py: function names and SQS event sources."""
    from chalice.app import SQSEventConfig
    from chalice.utils import to_cfn_resource_name

    sys.path.insert(0, str(ROOT))
    import app as app_module

    app = app_module.app
    functions: list[str] = []
    if app.routes:
        functions.append("APIHandler")
    functions += [to_cfn_resource_name(a.name) for a in app.builtin_auth_handlers]
    functions += [to_cfn_resource_name(f.name) for f in app.pure_lambda_functions]
    sqs: list[SqsSource] = []
    for source in app.event_sources:
        name = to_cfn_resource_name(source.name)
        functions.append(name)
        if isinstance(source, SQSEventConfig):
            if not source.queue:
                raise ValueError(f"{source.name}: SQS sources must name their queue (queue_arn is not supported here)")
            sqs.append(SqsSource(name, source.queue, source.batch_size))
    return AppShape(functions=list(dict.fromkeys(functions)), sqs_sources=sqs, has_api=bool(app.routes))


# -- tables --------------------------------------------------------------------------------


def _key_schema(items: list[dict[str, str]]) -> list[dict[str, str]]:
    """HASH first, as CloudFormation (and DynamoDB) list them."""
    ordered = sorted(items, key=lambda k: 0 if k["KeyType"] == "HASH" else 1)
    return [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in ordered]


def _projection(projection: dict[str, Any]) -> dict[str, Any]:
    shaped: dict[str, Any] = {"ProjectionType": projection["ProjectionType"]}
    if projection.get("NonKeyAttributes"):
        shaped["NonKeyAttributes"] = list(projection["NonKeyAttributes"])
    return shaped


def table_resource(model: Any, prefix: str) -> dict[str, Any]:
    """An AWS::DynamoDB::Table with exactly the model's keys and indexes."""
    schema = model._get_schema()
    base = model.TABLE_BASE
    definitions = {d["AttributeName"]: d["AttributeType"] for d in schema["attribute_definitions"]}
    for index in schema.get("global_secondary_indexes", []) + schema.get("local_secondary_indexes", []):
        for d in index.get("attribute_definitions", []):
            definitions[d["AttributeName"]] = d["AttributeType"]
    properties: dict[str, Any] = {
        "TableName": f"{prefix}{base}",
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in sorted(definitions.items())],
        "KeySchema": _key_schema(schema["key_schema"]),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
        "DeletionProtectionEnabled": base in PROTECTED_TABLES,
    }
    gsis = [
        {
            "IndexName": index["index_name"],
            "KeySchema": _key_schema(index["key_schema"]),
            "Projection": _projection(index["projection"]),
        }
        for index in schema.get("global_secondary_indexes", [])
    ]
    if gsis:
        properties["GlobalSecondaryIndexes"] = gsis
    lsis = [
        {
            "IndexName": index["index_name"],
            "KeySchema": _key_schema(index["key_schema"]),
            "Projection": _projection(index["projection"]),
        }
        for index in schema.get("local_secondary_indexes", [])
    ]
    if lsis:
        properties["LocalSecondaryIndexes"] = lsis
    ttl = getattr(model, "TTL_ATTRIBUTE", None)
    if ttl:
        properties["TimeToLiveSpecification"] = {"AttributeName": ttl, "Enabled": True}
    resource: dict[str, Any] = {"Type": "AWS::DynamoDB::Table", "Properties": properties}
    if base in PROTECTED_TABLES:
        resource["DeletionPolicy"] = "Retain"
        resource["UpdateReplacePolicy"] = "Retain"
    return resource


def table_logical_id(model: Any) -> str:
    return f"{camel(model.TABLE_BASE)}Table"


# -- queues ----------------------------------------------------------------------------------


def queue_logical_id(name: str) -> str:
    return f"{camel(name)}Queue"


def dlq_logical_id(name: str) -> str:
    return f"{camel(name)}DeadLetterQueue"


def queue_resources(name: str, visibility_timeout: int) -> dict[str, Any]:
    """A queue and its dead-letter queue (after MAX_RECEIVE_COUNT receives), SSE on."""
    fifo = name.endswith(".fifo")
    fifo_props: dict[str, Any] = {"FifoQueue": True, "ContentBasedDeduplication": False} if fifo else {}
    dlq = {
        "Type": "AWS::SQS::Queue",
        "Properties": {
            "QueueName": dlq_name(name),
            **fifo_props,
            "MessageRetentionPeriod": RETENTION_14_DAYS,
            "SqsManagedSseEnabled": True,
        },
    }
    queue_props: dict[str, Any] = {
        "QueueName": name,
        **fifo_props,
        "VisibilityTimeout": visibility_timeout,
        "MessageRetentionPeriod": RETENTION_14_DAYS,
        "SqsManagedSseEnabled": True,
        "RedrivePolicy": {
            "deadLetterTargetArn": {"Fn::GetAtt": [dlq_logical_id(name), "Arn"]},
            "maxReceiveCount": MAX_RECEIVE_COUNT,
        },
    }
    if fifo:
        # High-throughput FIFO: deduplication and throughput per message group (billing account).
        queue_props["DeduplicationScope"] = "messageGroup"
        queue_props["FifoThroughputLimit"] = "perMessageGroupId"
    return {
        dlq_logical_id(name): dlq,
        queue_logical_id(name): {"Type": "AWS::SQS::Queue", "Properties": queue_props},
    }


# -- EventBridge: producers' usage events -> the FIFO usage queue --------------------------------


def usage_event_routing(usage_queue: str) -> dict[str, Any]:
    intake, target = queue_logical_id(INTAKE_QUEUE), queue_logical_id(usage_queue)
    return {
        "UsageEventsRule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Description": "Producers' usage events to the usage intake queue (detail = one usage event)",
                "EventBusName": {"Ref": "EventBusName"},
                "EventPattern": {"source": [USAGE_EVENT_SOURCE], "detail-type": [USAGE_EVENT_DETAIL_TYPE]},
                "State": "ENABLED",
                "Targets": [
                    {
                        "Id": "usage-intake",
                        "Arn": {"Fn::GetAtt": [intake, "Arn"]},
                        "InputPath": "$.detail",
                        "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400},
                        "DeadLetterConfig": {"Arn": {"Fn::GetAtt": [dlq_logical_id(INTAKE_QUEUE), "Arn"]}},
                    }
                ],
            },
        },
        "UsageIntakeQueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": intake}, {"Ref": dlq_logical_id(INTAKE_QUEUE)}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "UsageEventsRuleSends",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": [
                                {"Fn::GetAtt": [intake, "Arn"]},
                                {"Fn::GetAtt": [dlq_logical_id(INTAKE_QUEUE), "Arn"]},
                            ],
                            "Condition": {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["UsageEventsRule", "Arn"]}}},
                        }
                    ],
                },
            },
        },
        "UsageEventsPipeRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "pipes.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                        }
                    ],
                },
                "Policies": [
                    {
                        "PolicyName": "usage-events-pipe",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                                    "Resource": {"Fn::GetAtt": [intake, "Arn"]},
                                },
                                {
                                    "Effect": "Allow",
                                    "Action": "sqs:SendMessage",
                                    "Resource": {"Fn::GetAtt": [target, "Arn"]},
                                },
                            ],
                        },
                    }
                ],
            },
        },
        "UsageEventsPipe": {
            "Type": "AWS::Pipes::Pipe",
            "Properties": {
                "Description": "Usage intake -> FIFO usage queue, one message group per account",
                "RoleArn": {"Fn::GetAtt": ["UsageEventsPipeRole", "Arn"]},
                "Source": {"Fn::GetAtt": [intake, "Arn"]},
                "SourceParameters": {"SqsQueueParameters": {"BatchSize": 1}},
                "Target": {"Fn::GetAtt": [target, "Arn"]},
                "TargetParameters": {
                    "InputTemplate": "<$.body>",
                    "SqsQueueParameters": {
                        "MessageGroupId": "$.body.account_id",
                        "MessageDeduplicationId": "$.body.event_id",
                    },
                },
            },
        },
    }


# -- API Gateway -----------------------------------------------------------------------------


def _error_template(code: str, message: str = "$context.error.messageString") -> dict[str, str]:
    # messageString is already a quoted JSON string.
    return {"application/json": '{"error":{"code":"' + code + '","message":' + message + "}}"}


def gateway_responses() -> dict[str, Any]:
    """API Gateway's own answers, with CORS headers and the contract's error body."""
    cors = {"ResponseParameters": {"Headers": dict(CORS_HEADERS)}}
    return {
        "DEFAULT_4XX": {**cors, "ResponseTemplates": _error_template("bad_request")},
        "DEFAULT_5XX": {**cors, "ResponseTemplates": _error_template("internal_error")},
        "UNAUTHORIZED": {
            "StatusCode": "401",
            "ResponseParameters": {"Headers": {**CORS_HEADERS, "WWW-Authenticate": "'Bearer'"}},
            "ResponseTemplates": _error_template("unauthorized"),
        },
        # No such route (API Gateway answers 403 "Missing Authentication Token"): a 404.
        "MISSING_AUTHENTICATION_TOKEN": {
            **cors,
            "StatusCode": "404",
            "ResponseTemplates": _error_template("not_found", '"no such route"'),
        },
        "ACCESS_DENIED": {**cors, "StatusCode": "403", "ResponseTemplates": _error_template("forbidden")},
        "THROTTLED": {
            "StatusCode": "429",
            "ResponseParameters": {"Headers": {**CORS_HEADERS, "Retry-After": "'1'"}},
            "ResponseTemplates": _error_template("too_many_requests"),
        },
        "REQUEST_TOO_LARGE": {**cors, "StatusCode": "413", "ResponseTemplates": _error_template("too_large")},
    }


def api_patch() -> dict[str, Any]:
    return {
        "RestAPI": {
            "Properties": {
                "GatewayResponses": gateway_responses(),
                "MethodSettings": [
                    {
                        "ResourcePath": "/*",
                        "HttpMethod": "*",
                        "ThrottlingRateLimit": API_RATE_LIMIT,
                        "ThrottlingBurstLimit": API_BURST_LIMIT,
                        "MetricsEnabled": True,
                    },
                    {
                        "ResourcePath": "/~1accounts~1{account_id}~1payments",
                        "HttpMethod": "POST",
                        "ThrottlingRateLimit": ADD_FUNDS_RATE_LIMIT,
                        "ThrottlingBurstLimit": ADD_FUNDS_BURST_LIMIT,
                        "MetricsEnabled": True,
                    },
                ],
            }
        }
    }


# -- alarms ----------------------------------------------------------------------------------


def _alarm(description: str, namespace: str, metric: str, dimensions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "AlarmDescription": description,
        "Namespace": namespace,
        "MetricName": metric,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
        "Statistic": "Maximum",
        "Period": 300,
        "EvaluationPeriods": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": "AlarmTopic"}],
        "OKActions": [{"Ref": "AlarmTopic"}],
    }
    properties.update(extra)
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": properties}


def alarms(shape: AppShape, queues: list[str], usage_queue: str) -> dict[str, Any]:
    resources: dict[str, Any] = {
        "AlarmTopic": {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": "alias/aws/sns"}},
        "AlarmEmailSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasAlarmEmail",
            "Properties": {"TopicArn": {"Ref": "AlarmTopic"}, "Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}},
        },
    }
    for queue in queues:
        resources[f"{dlq_logical_id(queue)}DepthAlarm"] = _alarm(
            f"Messages in {dlq_name(queue)}: something could not be processed and needs a person",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": {"Fn::GetAtt": [dlq_logical_id(queue), "QueueName"]}},
        )
    resources[f"{queue_logical_id(usage_queue)}AgeAlarm"] = _alarm(
        f"The oldest message in {usage_queue} waits over 15 minutes: usage is not being charged",
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        {"QueueName": {"Fn::GetAtt": [queue_logical_id(usage_queue), "QueueName"]}},
        Threshold=900,
    )
    for function in shape.functions:
        resources[f"{function}ErrorsAlarm"] = _alarm(
            f"{function} raised errors",
            "AWS/Lambda",
            "Errors",
            {"FunctionName": {"Ref": function}},
            Statistic="Sum",
        )
    return resources


# -- the whole merge template -------------------------------------------------------------------


def build(shape: AppShape | None = None) -> dict[str, Any]:
    from chalicelib.adapters.tables.base import all_models

    shape = shape or app_shape()
    config = chalice_config()
    env = stage_env(config)
    prefix = env.get("BILLING_TABLE_PREFIX", f"billing-{STAGE}-")
    visibility = VISIBILITY_FACTOR * lambda_timeout(config)
    usage_queue = env.get("BILLING_USAGE_QUEUE", "usage-events.fifo")

    resources: dict[str, Any] = {}
    for model in all_models():
        resources[table_logical_id(model)] = table_resource(model, prefix)

    consumed = list(dict.fromkeys(s.queue for s in shape.sqs_sources))
    if usage_queue not in consumed:
        raise ValueError(f"no @app.on_sqs_message handler consumes the usage queue {usage_queue!r}")
    queues = [*consumed, INTAKE_QUEUE]
    for queue in queues:
        resources.update(queue_resources(queue, visibility))

    for source in shape.sqs_sources:
        resources[source.function] = {
            "Properties": {
                "Events": {
                    f"{source.function}SqsEventSource": {
                        "Properties": {
                            # Chalice writes the ARN as an Fn::Sub of the queue's name; the
                            # same key (the merge is deep) referencing the queue resource makes
                            # the mapping wait for the queue.
                            "Queue": {"Fn::Sub": "${" + queue_logical_id(source.queue) + ".Arn}"},
                            "FunctionResponseTypes": ["ReportBatchItemFailures"],
                        }
                    }
                }
            }
        }

    resources.update(usage_event_routing(usage_queue))
    if shape.has_api:
        resources.update(api_patch())
    resources.update(alarms(shape, queues, usage_queue))

    return {
        "Parameters": {
            "SenderEmail": {
                "Type": "String",
                "Description": "The SES-verified address (or an address of a verified domain) emails come from",
                "AllowedPattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
            },
            "AlarmEmail": {
                "Type": "String",
                "Default": "",
                "Description": "Where alarm notifications go (empty: subscribe to the AlarmTopic yourself)",
            },
            "EventBusName": {
                "Type": "String",
                "Default": "default",
                "Description": "The EventBridge bus producers put usage events on",
            },
        },
        "Conditions": {"HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}},
        "Globals": {
            "Function": {
                "Environment": {
                    "Variables": {
                        "BILLING_SENDER": {"Ref": "SenderEmail"},
                        "POWERTOOLS_METRICS_NAMESPACE": "ChargesAndUsage",
                    }
                }
            }
        },
        "Resources": resources,
        "Outputs": {
            "AlarmTopicArn": {"Value": {"Ref": "AlarmTopic"}},
            "UsageQueueUrl": {"Value": {"Ref": queue_logical_id(usage_queue)}},
            "UsageEventsRuleArn": {"Value": {"Fn::GetAtt": ["UsageEventsRule", "Arn"]}},
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = json.dumps(build(), indent=2, sort_keys=False) + "\n"
    if args:
        Path(args[0]).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
