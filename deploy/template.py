"""The CloudFormation/SAM resources merged into Chalice's template (`chalice package --merge-template`).

Chalice generates the functions, a role per function, the API and the event
sources. This module generates the rest, and overrides what Chalice leaves at its
defaults, from the code itself so that it cannot drift:

- one DynamoDB table per PynamoDB model in `all_models()`, with its exact keys and
  indexes (on demand, point-in-time recovery; deletion protection and Retain on the
  tables that hold customers' data or what statements are built from; TTL where the
  model names one). No table or queue has a fixed name: CloudFormation names them
  after the stack, so several stacks (prod, staging) live side by side in one
  account and region, and each function is told the names in its environment;
- every queue an `@app.on_sqs_message` handler consumes, each with a dead-letter
  queue, a visibility timeout of 6x its consumer's timeout, and
  `FunctionResponseTypes: [ReportBatchItemFailures]` on the event source;
- per function (deploy/functions.py): MemorySize and Timeout, a log group of its own
  (JSON format, retention a parameter), X-Ray tracing (a parameter) and an IAM role
  with exactly the access its code uses, every ARN built from the partition, region
  and account of the stack;
- producers' usage events: an EventBridge rule -> a standard intake queue (queue
  policy for that rule only) -> the `route_usage_events` function, which groups them
  by billing account onto the FIFO usage queue;
- API Gateway: one stage (`v1`), its throttles the only way in; the contract's error
  body with fixed messages on API Gateway's own answers (chalicelib/api/http.py
  GATEWAY_ERRORS); JSON access logs; X-Ray;
- CloudWatch alarms (to an SNS topic) on every dead-letter queue's depth, the usage
  queue's age and every function's errors.

    python -m deploy.template OUT.json     # what `make package` merges
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .functions import VISIBILITY_FACTOR, Access, FunctionSpec, function_spec

ROOT = Path(__file__).resolve().parent.parent
STAGE = "prod"

# Tables whose loss loses money, history, customers' settings or what statements are
# built from: deletion protection, and kept when the stack is deleted or the resource
# replaced. The others hold short-lived bookkeeping that expires by TTL.
PROTECTED_TABLES = frozenset(
    {
        "accounts",
        "balances",
        "ledger_entries",
        "ledger_pages",
        "rollups",
        "balance_days",
        "payments",
        "statements",
        "statement_schedules",
        # Usage alerts and the billing webhook are customers' settings; `notices` holds when each
        # alert fired and how every delivery went (GET .../firings); a lost `alert_guards`
        # version would let two writers act on one agency total while its alerts are live.
        "usage_alerts",
        "notices",
        "webhook_endpoints",
        "alert_guards",
        # Not customer data, but losing it makes the next hourly reconcile re-read every
        # balance in full, which for a large ledger outruns the function's timeout.
        "reconcile_checkpoints",
    }
)

# Producers' usage events on EventBridge.
USAGE_EVENT_SOURCE = "call-tracking.telephony"
USAGE_EVENT_DETAIL_TYPE = "UsageEvent"
INTAKE_QUEUE = "usage-events-intake"

MAX_RECEIVE_COUNT = 5
# A webhook is attempted up to 8 times over about 22 hours (domain/webhooks.py), each a receive.
MAX_RECEIVE_COUNTS = {"notices": 12}
RETENTION_14_DAYS = 1_209_600

API_RATE_LIMIT = 100  # requests per second, across the stage
API_BURST_LIMIT = 200
ADD_FUNDS_RATE_LIMIT = 5  # POST /accounts/{id}/payments, across all accounts (per account: the app's limiter)
ADD_FUNDS_BURST_LIMIT = 10

LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922)

# Which variable tells the functions each queue's name (chalicelib/config.py reads them).
QUEUE_VARIABLES = {
    "usage-events.fifo": "BILLING_USAGE_QUEUE",
    "usage-events-dlq.fifo": "BILLING_USAGE_DLQ",
    "billing-tasks": "BILLING_TASKS_QUEUE",
    "billing-tasks-dlq": "BILLING_TASKS_DLQ",
    "statements": "BILLING_STATEMENTS_QUEUE",
    "statements-dlq": "BILLING_STATEMENTS_DLQ",
    "notices": "BILLING_NOTICES_QUEUE",
    "notices-dlq": "BILLING_NOTICES_DLQ",
}
PARAMETER_VARIABLES = {
    "JwtSecretParameter": "BILLING_JWT_SECRET_PARAMETER",
    "LedgerKeyParameter": "BILLING_LEDGER_KEY_PARAMETER",
    "StripeApiKeyParameter": "BILLING_STRIPE_API_KEY_PARAMETER",
}
TRACING_ON = "TracingOn"

# An API Gateway access log line (JSON). No header, query string or error message: those
# can carry credentials (API Gateway's SigV4 errors quote the Authorization header).
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTimeEpoch",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "path": "$context.path",
    "protocol": "$context.protocol",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "errorType": "$context.error.responseType",
    "principal": "$context.authorizer.principalId",
    "xrayTraceId": "$context.xrayTraceId",
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


def sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def arn(service: str, resource: str) -> dict[str, str]:
    """An ARN in this stack's partition, region and account."""
    return sub(f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}")


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

    def consumer_of(self, queue: str) -> str | None:
        return next((s.function for s in self.sqs_sources if s.queue == queue), None)

    def source_of(self, function: str) -> SqsSource | None:
        return next((s for s in self.sqs_sources if s.function == function), None)


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


def table_resource(model: Any) -> dict[str, Any]:
    """An AWS::DynamoDB::Table with exactly the model's keys and indexes (named by CloudFormation)."""
    schema = model._get_schema()
    base = model.TABLE_BASE
    definitions = {d["AttributeName"]: d["AttributeType"] for d in schema["attribute_definitions"]}
    for index in schema.get("global_secondary_indexes", []) + schema.get("local_secondary_indexes", []):
        for d in index.get("attribute_definitions", []):
            definitions[d["AttributeName"]] = d["AttributeType"]
    properties: dict[str, Any] = {
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in sorted(definitions.items())],
        "KeySchema": _key_schema(schema["key_schema"]),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
        "DeletionProtectionEnabled": base in PROTECTED_TABLES,
    }
    for kind, key in (
        ("global_secondary_indexes", "GlobalSecondaryIndexes"),
        ("local_secondary_indexes", "LocalSecondaryIndexes"),
    ):
        indexes = [
            {
                "IndexName": index["index_name"],
                "KeySchema": _key_schema(index["key_schema"]),
                "Projection": _projection(index["projection"]),
            }
            for index in schema.get(kind, [])
        ]
        if indexes:
            properties[key] = indexes
    ttl = getattr(model, "TTL_ATTRIBUTE", None)
    if ttl:
        properties["TimeToLiveSpecification"] = {"AttributeName": ttl, "Enabled": True}
    resource: dict[str, Any] = {"Type": "AWS::DynamoDB::Table", "Properties": properties}
    if base in PROTECTED_TABLES:
        resource["DeletionPolicy"] = "Retain"
        resource["UpdateReplacePolicy"] = "Retain"
    return resource


def table_logical_id(base: str) -> str:
    return f"{camel(base)}Table"


# -- queues ----------------------------------------------------------------------------------


def queue_logical_id(name: str) -> str:
    """`billing-tasks` -> BillingTasksQueue, `billing-tasks-dlq` -> BillingTasksDeadLetterQueue."""
    base = name.removesuffix(".fifo")
    if base.endswith("-dlq"):
        return f"{camel(base.removesuffix('-dlq'))}DeadLetterQueue"
    return f"{camel(name)}Queue"


def dlq_logical_id(name: str) -> str:
    return queue_logical_id(dlq_name(name))


def queue_resources(name: str, visibility_timeout: int) -> dict[str, Any]:
    """A queue and its dead-letter queue (after MAX_RECEIVE_COUNT receives), SSE on, named by CloudFormation.

    A FIFO queue without a QueueName gets a generated name ending in `.fifo`.
    """
    fifo = name.endswith(".fifo")
    fifo_props: dict[str, Any] = {"FifoQueue": True, "ContentBasedDeduplication": False} if fifo else {}
    dlq = {
        "Type": "AWS::SQS::Queue",
        "Properties": {**fifo_props, "MessageRetentionPeriod": RETENTION_14_DAYS, "SqsManagedSseEnabled": True},
    }
    queue_props: dict[str, Any] = {
        **fifo_props,
        "VisibilityTimeout": visibility_timeout,
        "MessageRetentionPeriod": RETENTION_14_DAYS,
        "SqsManagedSseEnabled": True,
        "RedrivePolicy": {
            "deadLetterTargetArn": {"Fn::GetAtt": [dlq_logical_id(name), "Arn"]},
            "maxReceiveCount": MAX_RECEIVE_COUNTS.get(name, MAX_RECEIVE_COUNT),
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


# -- EventBridge: producers' usage events -> the intake queue -> the router --------------------------


def usage_event_routing() -> dict[str, Any]:
    intake, intake_dlq = queue_logical_id(INTAKE_QUEUE), dlq_logical_id(INTAKE_QUEUE)
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
                        # The whole event: its id travels with it into the logs.
                        "Id": "usage-intake",
                        "Arn": {"Fn::GetAtt": [intake, "Arn"]},
                        "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400},
                        "DeadLetterConfig": {"Arn": {"Fn::GetAtt": [intake_dlq, "Arn"]}},
                    }
                ],
            },
        },
        "UsageIntakeQueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": intake}, {"Ref": intake_dlq}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "UsageEventsRuleSends",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": [{"Fn::GetAtt": [intake, "Arn"]}, {"Fn::GetAtt": [intake_dlq, "Arn"]}],
                            "Condition": {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["UsageEventsRule", "Arn"]}}},
                        }
                    ],
                },
            },
        },
    }


# -- API Gateway -----------------------------------------------------------------------------


def gateway_responses() -> dict[str, Any]:
    """API Gateway's own answers: CORS headers, the contract's error body, fixed messages (no echo)."""
    from chalicelib.api.http import GATEWAY_ERRORS, gateway_headers

    responses: dict[str, Any] = {}
    for kind, error in GATEWAY_ERRORS.items():
        response: dict[str, Any] = {
            "ResponseParameters": {"Headers": {k: f"'{v}'" for k, v in gateway_headers(error).items()}},
            "ResponseTemplates": {"application/json": error.body()},
        }
        if error.status is not None:
            response["StatusCode"] = str(error.status)
        responses[kind] = response
    return responses


def api_patch() -> dict[str, Any]:
    stage_settings = {"MetricsEnabled": True, "DataTraceEnabled": False, "LoggingLevel": "OFF"}
    return {
        "RestAPI": {
            # The stage's access logs need the account's CloudWatch role set first (when this stack sets it).
            "DependsOn": ["ApiGatewayAccountReady"],
            "Properties": {
                "Name": {"Ref": "AWS::StackName"},
                # Any OpenApiVersion stops SAM from adding the implicit second stage `Stage`
                # (through the Deployment's StageName), which would bypass v1's throttles.
                # Chalice's body is Swagger 2.0, so that is the version named.
                "OpenApiVersion": "2.0",
                "GatewayResponses": gateway_responses(),
                "TracingEnabled": {"Fn::If": [TRACING_ON, True, False]},
                "AccessLogSetting": {
                    "DestinationArn": {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]},
                    "Format": json.dumps(ACCESS_LOG_FORMAT, separators=(",", ":")),
                },
                "MethodSettings": [
                    {
                        "ResourcePath": "/*",
                        "HttpMethod": "*",
                        "ThrottlingRateLimit": API_RATE_LIMIT,
                        "ThrottlingBurstLimit": API_BURST_LIMIT,
                        **stage_settings,
                    },
                    {
                        "ResourcePath": "/~1accounts~1{account_id}~1payments",
                        "HttpMethod": "POST",
                        "ThrottlingRateLimit": ADD_FUNDS_RATE_LIMIT,
                        "ThrottlingBurstLimit": ADD_FUNDS_BURST_LIMIT,
                        **stage_settings,
                    },
                ],
            },
        },
        "ApiAccessLogGroup": _log_group(),
        # Access logs need API Gateway's account-wide CloudWatch role (one per account and
        # region). Retained: another stack's API may rely on it after this one is deleted.
        "ApiGatewayCloudWatchRole": {
            "Type": "AWS::IAM::Role",
            "Condition": "CreateApiGatewayLogRole",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "apigateway.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "ManagedPolicyArns": [
                    sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs")
                ],
            },
        },
        # A DependsOn cannot name a resource that a condition leaves out; this handle depends
        # on the account setting only when there is one.
        "ApiGatewayAccountReady": {
            "Type": "AWS::CloudFormation::WaitConditionHandle",
            "Metadata": {"AccountSetting": {"Fn::If": ["CreateApiGatewayLogRole", {"Ref": "ApiGatewayAccount"}, ""]}},
        },
        "ApiGatewayAccount": {
            "Type": "AWS::ApiGateway::Account",
            "Condition": "CreateApiGatewayLogRole",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {"CloudWatchRoleArn": {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}},
        },
    }


# -- functions: size, environment, logs, tracing, role ------------------------------------------------


def _log_group() -> dict[str, Any]:
    return {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": {"Ref": "LogRetentionDays"}}}


def log_group_logical_id(function: str) -> str:
    return f"{function}LogGroup"


def role_logical_id(function: str) -> str:
    """The role Chalice generates for a function (the API's is named after `api_handler`)."""
    return "ApiHandlerRole" if function == "APIHandler" else f"{function}Role"


def function_environment(models: list[Any]) -> dict[str, Any]:
    """Every function is told the name of every table, queue and secret of its stack."""
    from chalicelib.config import table_name_variable

    variables: dict[str, Any] = {
        "BILLING_SENDER": {"Ref": "SenderEmail"},
        "BILLING_CONSOLE_URL": {"Ref": "ConsoleUrl"},
        "POWERTOOLS_METRICS_NAMESPACE": "ChargesAndUsage",
        "POWERTOOLS_TRACE_DISABLED": {"Fn::If": [TRACING_ON, "false", "true"]},
    }
    for model in models:
        variables[table_name_variable(model.TABLE_BASE)] = {"Ref": table_logical_id(model.TABLE_BASE)}
    for queue, variable in QUEUE_VARIABLES.items():
        variables[variable] = {"Fn::GetAtt": [queue_logical_id(queue), "QueueName"]}
    for parameter, variable in PARAMETER_VARIABLES.items():
        variables[variable] = {"Ref": parameter}
    return variables


def _statement(sid: str, actions: list[str], resources: list[Any]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}


def _access_resources(access: Access) -> list[Any]:
    resources: list[Any] = [{"Fn::GetAtt": [table_logical_id(t), "Arn"]} for t in access.tables]
    resources += [sub(f"${{{table_logical_id(t)}.Arn}}/index/{i}") for t, i in access.indexes]
    resources += [{"Fn::GetAtt": [queue_logical_id(q), "Arn"]} for q in access.queues]
    resources += [arn("ssm", f"parameter${{{p}}}") for p in access.parameters]
    if access.sender_identity:
        # The verified identity is the address itself or its domain.
        resources += [
            arn("ses", "identity/${SenderEmail}"),
            {
                "Fn::Sub": [
                    "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${Domain}",
                    {"Domain": {"Fn::Select": [1, {"Fn::Split": ["@", {"Ref": "SenderEmail"}]}]}},
                ]
            },
        ]
    return resources


def role_policy(spec: FunctionSpec, shape: AppShape) -> dict[str, Any]:
    """The function's whole policy: its code's access, then what Lambda needs for it."""
    statements = [
        _statement(f"Code{index}", sorted(set(access.actions)), _access_resources(access))
        for index, access in enumerate(spec.access, start=1)
    ]
    statements.append(
        _statement(
            "WriteOwnLogGroup",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [{"Fn::GetAtt": [log_group_logical_id(spec.logical_id), "Arn"]}],
        )
    )
    source = shape.source_of(spec.logical_id)
    if source is not None:
        statements.append(
            _statement(
                "EventSourceQueue",
                ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
                [{"Fn::GetAtt": [queue_logical_id(source.queue), "Arn"]}],
            )
        )
    # X-Ray takes no resource-level permissions: "*" is the only resource it accepts.
    statements.append(
        {
            "Fn::If": [
                TRACING_ON,
                _statement("XRay", ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], ["*"]),
                {"Ref": "AWS::NoValue"},
            ]
        }
    )
    return {
        "PolicyName": f"{spec.logical_id}Access",
        "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
    }


def function_patch(spec: FunctionSpec, shape: AppShape, environment: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "MemorySize": spec.memory_mb,
        "Timeout": spec.timeout_s,
        "Tracing": {"Fn::If": [TRACING_ON, "Active", "PassThrough"]},
        "LoggingConfig": {"LogFormat": "JSON", "LogGroup": {"Ref": log_group_logical_id(spec.logical_id)}},
        "Environment": {"Variables": environment},
    }
    source = shape.source_of(spec.logical_id)
    if source is not None:
        properties["Events"] = {
            f"{spec.logical_id}SqsEventSource": {
                "Properties": {
                    # Chalice writes the ARN as an Fn::Sub of the queue's fixed name; the same key
                    # (the merge is deep) pointing at the queue resource replaces it.
                    "Queue": sub("${" + queue_logical_id(source.queue) + ".Arn}"),
                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                }
            }
        }
    return {
        spec.logical_id: {"Properties": properties},
        role_logical_id(spec.logical_id): {"Properties": {"Policies": [role_policy(spec, shape)]}},
        log_group_logical_id(spec.logical_id): _log_group(),
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
            f"Messages in the dead-letter queue of {queue}: something could not be processed and needs a person",
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
    resources["LedgerDriftAlarm"] = _alarm(
        "The scheduled reconcile found ledger drift: its log names each finding (kind, item)",
        "ChargesAndUsage",
        "ReconcileDrift",
        {"service": "charges-and-usage"},
        Period=3600,
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


def parameters() -> dict[str, Any]:
    return {
        "SenderEmail": {
            "Type": "String",
            "Description": "The SES-verified address (or an address of a verified domain) emails come from",
            "AllowedPattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        },
        "ConsoleUrl": {
            "Type": "String",
            "Default": "",
            "Description": "Where people open the billing console (https://.../v1/console): "
            "alert and notice emails link to it; empty: no link",
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
        "JwtSecretParameter": {
            "Type": "String",
            "Default": "/charges-and-usage/prod/jwt-secret",
            "AllowedPattern": r"^/[A-Za-z0-9_./-]+$",
            "Description": "SSM SecureString holding the HS256 token secret (a stack of its own: a name of its own)",
        },
        "LedgerKeyParameter": {
            "Type": "String",
            "Default": "/charges-and-usage/prod/ledger-key",
            "AllowedPattern": r"^/[A-Za-z0-9_./-]+$",
            "Description": "SSM SecureString holding the key that seals ledger entries (never rotate in place)",
        },
        "StripeApiKeyParameter": {
            "Type": "String",
            "Default": "/charges-and-usage/prod/stripe-api-key",
            "AllowedPattern": r"^/[A-Za-z0-9_./-]+$",
            "Description": "SSM SecureString holding the Stripe secret key",
        },
        "LogRetentionDays": {
            "Type": "Number",
            "Default": "30",
            "AllowedValues": [str(d) for d in LOG_RETENTION_DAYS],
            "Description": "How long the functions' and the API's logs are kept",
        },
        "Tracing": {
            "Type": "String",
            "Default": "Active",
            "AllowedValues": ["Active", "PassThrough"],
            "Description": "Active: X-Ray traces every function (Powertools Tracer) and the API stage",
        },
        "ApiGatewayLogRole": {
            "Type": "String",
            "Default": "create",
            "AllowedValues": ["create", "existing"],
            "Description": "create: set API Gateway's account-wide CloudWatch role (needed for access logs) "
            "from this stack; existing: the account and region already have one",
        },
    }


def build(shape: AppShape | None = None) -> dict[str, Any]:
    from chalicelib.adapters.tables.base import all_models

    shape = shape or app_shape()
    models = all_models()
    specs = [function_spec(function) for function in shape.functions]  # KeyError: a function without an entry
    usage_queue = "usage-events.fifo"

    resources: dict[str, Any] = {}
    for model in models:
        resources[table_logical_id(model.TABLE_BASE)] = table_resource(model)

    consumed = list(dict.fromkeys(s.queue for s in shape.sqs_sources))
    for required in (usage_queue, INTAKE_QUEUE):
        if required not in consumed:
            raise ValueError(f"no @app.on_sqs_message handler consumes {required!r}")
    for queue in consumed:
        consumer = function_spec(str(shape.consumer_of(queue)))
        resources.update(queue_resources(queue, VISIBILITY_FACTOR * consumer.timeout_s))

    environment = function_environment(models)
    for spec in specs:
        resources.update(function_patch(spec, shape, environment))

    resources.update(usage_event_routing())
    if shape.has_api:
        resources.update(api_patch())
    resources.update(alarms(shape, consumed, usage_queue))

    return {
        "Parameters": parameters(),
        "Conditions": {
            "HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]},
            TRACING_ON: {"Fn::Equals": [{"Ref": "Tracing"}, "Active"]},
            "CreateApiGatewayLogRole": {"Fn::Equals": [{"Ref": "ApiGatewayLogRole"}, "create"]},
        },
        "Resources": resources,
        "Outputs": {
            "AlarmTopicArn": {"Value": {"Ref": "AlarmTopic"}},
            "UsageQueueUrl": {"Value": {"Ref": queue_logical_id(usage_queue)}},
            "UsageIntakeQueueUrl": {"Value": {"Ref": queue_logical_id(INTAKE_QUEUE)}},
            "UsageEventsRuleArn": {"Value": {"Fn::GetAtt": ["UsageEventsRule", "Arn"]}},
            **{
                f"{table_logical_id(model.TABLE_BASE)}Name": {
                    "Description": f"The {model.TABLE_BASE} table"
                    + (" (retained when the stack is deleted)" if model.TABLE_BASE in PROTECTED_TABLES else ""),
                    "Value": {"Ref": table_logical_id(model.TABLE_BASE)},
                }
                for model in models
            },
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
