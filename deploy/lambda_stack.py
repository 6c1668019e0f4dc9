"""The packaged stack, run as Lambda would run it, against DynamoDB Local and moto.

`LambdaStack` gives every table and queue of the template a physical name (a unique
prefix, as CloudFormation would name them after the stack), resolves each
function's environment from the template (`stand_in_env()` points this process at
the same names, to create them and seed data), and `invoke()`s a function: the zip
unpacked, in a Python that has only boto3, one process per function
(deploy/runtime.py, deploy/lambda_driver.py), with AWS's own event shapes
(`api_event`, `token_event`, `sqs_records`, `scheduled_event`). Used by
tests/deploy and bench/deploy_cost.py.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from . import cfn
from .template import INTAKE_QUEUE, log_group_logical_id, queue_logical_id, role_logical_id, table_logical_id

DRIVER = Path(__file__).resolve().parent / "lambda_driver.py"
API_ID = "a1b2c3d4e5"
QUEUES = (
    "usage-events.fifo",
    "usage-events-dlq.fifo",
    "billing-tasks",
    "billing-tasks-dlq",
    "statements",
    "statements-dlq",
    "notices",
    "notices-dlq",
    INTAKE_QUEUE,
    INTAKE_QUEUE + "-dlq",
)


@dataclass
class Invocation:
    response: Any
    error: str | None
    ms: float
    calls: list[dict[str, Any]]
    interleaved: Any = None  # the response of the invocation run in between, if any


@dataclass
class Run:
    function: str
    invocations: list[Invocation]
    stdout: str
    stderr: str
    init_ms: float
    peak_rss_kb: int
    xray_loaded: bool = False


@dataclass
class LambdaStack:
    template: dict[str, Any]
    python: Path
    task_root: Path
    prefix: str
    endpoints: dict[str, str]  # AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_DYNAMODB
    overrides: dict[str, str] = field(default_factory=dict)  # e.g. BILLING_STRIPE_API_BASE
    runs: list[Run] = field(default_factory=list)
    stack: cfn.Stack = field(init=False)

    def __post_init__(self) -> None:
        from chalicelib.adapters.tables.base import all_models

        names: dict[str, str] = {}
        for model in all_models():
            names[table_logical_id(model.TABLE_BASE)] = f"{self.prefix}{model.TABLE_BASE}"
        for queue in QUEUES:
            names[queue_logical_id(queue)] = f"{self.prefix}{queue}"
        for logical, resource in self.template["Resources"].items():
            if resource["Type"] == "AWS::Serverless::Function":
                names[logical] = f"{self.prefix}{logical}"
                names[log_group_logical_id(logical)] = f"/aws/lambda/{self.prefix}{logical}"
        self.stack = cfn.Stack(self.template, names, {"SenderEmail": "billing@example.com"})

    # -- names ------------------------------------------------------------------------------

    def stand_in_env(self) -> dict[str, str]:
        """What points this process (devtools.resources, the services) at the stack's names."""
        q = self.queue_name
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": cfn.REGION,
            "AWS_REGION": cfn.REGION,
            **self.endpoints,
            "BILLING_TABLE_PREFIX": self.prefix,
            "BILLING_USAGE_QUEUE": q("usage-events.fifo"),
            "BILLING_USAGE_DLQ": q("usage-events-dlq.fifo"),
            "BILLING_TASKS_QUEUE": q("billing-tasks"),
            "BILLING_TASKS_DLQ": q("billing-tasks-dlq"),
            "BILLING_STATEMENTS_QUEUE": q("statements"),
            "BILLING_STATEMENTS_DLQ": q("statements-dlq"),
            "BILLING_NOTICES_QUEUE": q("notices"),
            "BILLING_NOTICES_DLQ": q("notices-dlq"),
        }

    def queue_name(self, queue: str) -> str:
        return self.stack.names[queue_logical_id(queue)]

    def functions(self) -> list[str]:
        resources = self.template["Resources"]
        return [k for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"]

    def properties(self, function: str) -> dict[str, Any]:
        return dict(self.template["Resources"][function]["Properties"])

    def environment(self, function: str) -> dict[str, str]:
        variables = self.stack.resolve(self.properties(function)["Environment"]["Variables"])
        return {k: str(v) for k, v in variables.items()}

    def role_policy(self, function: str) -> dict[str, Any]:
        """The function's role, resolved: one policy document holding every statement."""
        role = self.template["Resources"][role_logical_id(function)]["Properties"]
        statements: list[Any] = []
        for policy in role.get("Policies", []):
            statements += self.stack.resolve(policy["PolicyDocument"])["Statement"]
        if role.get("ManagedPolicyArns"):
            raise ValueError(f"{function}: managed policies are not least privilege")
        return {"Version": "2012-10-17", "Statement": statements}

    # -- running a function -------------------------------------------------------------------

    def invoke(self, function: str, events: list[Any], tmp: Path, interleave: dict[int, Any] | None = None) -> Run:
        """Run the function's handler on each event, in one process (a container of its own).

        `interleave` {index: {"before": operation, "event": event}}: another invocation runs
        just before that event's first call of the operation (see deploy/lambda_driver.py).
        """
        properties = self.properties(function)
        name = self.stack.names[function]
        env = {
            **self.environment(function),
            # What Lambda sets for every function.
            "AWS_REGION": cfn.REGION,
            "AWS_DEFAULT_REGION": cfn.REGION,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(properties["MemorySize"]),
            "AWS_LAMBDA_LOG_FORMAT": properties.get("LoggingConfig", {}).get("LogFormat", "Text"),
            "AWS_EXECUTION_ENV": "AWS_Lambda_" + properties["Runtime"],
            # Where the stand-ins are, and throwaway credentials for them.
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            **self.endpoints,
            **self.overrides,
        }
        from deploy.runtime import lambda_env

        request = {
            "handler": properties["Handler"],
            "function_name": name,
            "memory_mb": properties["MemorySize"],
            "timeout_s": properties["Timeout"],
            "invocations": [{"event": e, "interleave": (interleave or {}).get(i)} for i, e in enumerate(events)],
        }
        stem = tmp / f"{function}-{uuid.uuid4().hex[:8]}"
        request_path, result_path = stem.with_suffix(".request.json"), stem.with_suffix(".result.json")
        request_path.write_text(json.dumps(request))
        process = subprocess.run(
            [str(self.python), str(DRIVER), str(request_path), str(result_path)],
            env=lambda_env(self.task_root, env),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if process.returncode != 0:
            raise RuntimeError(f"{function}: the driver failed\n{process.stderr[-4000:]}")
        result = json.loads(result_path.read_text())
        run = Run(
            function=function,
            invocations=[Invocation(**i) for i in result["invocations"]],
            stdout=process.stdout,
            stderr=process.stderr,
            init_ms=result["init_ms"],
            peak_rss_kb=result["peak_rss_kb"],
            xray_loaded=result["xray_loaded"],
        )
        for invocation in run.invocations:
            if invocation.error is not None:
                raise RuntimeError(f"{function} raised:\n{invocation.error}\n{process.stdout[-3000:]}")
        self.runs.append(run)
        return run

    def calls_of(self, function: str) -> list[dict[str, Any]]:
        return [c for r in self.runs if r.function == function for i in r.invocations for c in i.calls]


# -- AWS's event shapes ------------------------------------------------------------------------


def token_event(token: str, method: str = "GET", path: str = "/accounts/x/balance") -> dict[str, Any]:
    """What API Gateway sends a TOKEN authorizer."""
    return {
        "type": "TOKEN",
        "authorizationToken": f"Bearer {token}",
        "methodArn": f"arn:aws:execute-api:{cfn.REGION}:{cfn.ACCOUNT}:{API_ID}/v1/{method}{path}",
    }


def api_event(
    method: str,
    resource: str,
    path_parameters: dict[str, str] | None = None,
    *,
    authorizer: dict[str, Any] | None = None,
    body: Any = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway REST API Lambda proxy event, with the authorizer's context as API Gateway passes it."""
    path = resource
    for key, value in (path_parameters or {}).items():
        path = path.replace("{" + key + "}", value)
    all_headers = {
        "Accept": "application/json",
        "Host": f"{API_ID}.execute-api.{cfn.REGION}.amazonaws.com",
        "User-Agent": "deploy-test",
        "X-Amzn-Trace-Id": f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}",
        "X-Forwarded-For": "203.0.113.9",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
        **({"Content-Type": "application/json"} if body is not None else {}),
        **(headers or {}),
    }
    now = datetime.now(UTC)
    request_context: dict[str, Any] = {
        "accountId": cfn.ACCOUNT,
        "apiId": API_ID,
        "domainName": f"{API_ID}.execute-api.{cfn.REGION}.amazonaws.com",
        "domainPrefix": API_ID,
        "extendedRequestId": secrets.token_hex(8),
        "httpMethod": method,
        "identity": {"sourceIp": "203.0.113.9", "userAgent": "deploy-test", "accessKey": None, "accountId": None},
        "path": f"/v1{path}",
        "protocol": "HTTP/1.1",
        "requestId": str(uuid.uuid4()),
        "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": int(now.timestamp() * 1000),
        "resourceId": secrets.token_hex(3),
        "resourcePath": resource,
        "stage": "v1",
    }
    if authorizer is not None:
        request_context["authorizer"] = authorizer
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": request_context,
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def authorizer_context(answer: dict[str, Any]) -> dict[str, Any]:
    """The `requestContext.authorizer` API Gateway builds from a TOKEN authorizer's answer."""
    return {**answer.get("context", {}), "principalId": answer["principalId"], "integrationLatency": 12}


def sqs_records(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event an SQS event source mapping passes: ReceiveMessage's messages in Lambda's shape."""
    from devtools.pump import sqs_event

    return sqs_event(messages, queue_arn, cfn.REGION)


def scheduled_event(at: datetime, rule_arn: str) -> dict[str, Any]:
    """What an EventBridge schedule rule delivers to its Lambda target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": cfn.ACCOUNT,
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": cfn.REGION,
        "resources": [rule_arn],
        "detail": {},
    }


def query_string(params: dict[str, str]) -> str:
    return urlencode(params)
