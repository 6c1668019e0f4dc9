"""`make package` output: a valid template that declares everything the code uses, and a
Lambda zip that carries the app, its templates and only wheels built for Lambda."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from deploy.package import RUNTIME_PROVIDED, Package
from deploy.template import (
    INTAKE_QUEUE,
    PROTECTED_TABLES,
    app_shape,
    chalice_config,
    dlq_name,
    stage_env,
)

ROOT = Path(__file__).resolve().parent.parent.parent
ELF_MACHINES = {"x86_64": 62, "aarch64": 183}


@pytest.fixture(scope="module")
def template(package: Package) -> dict[str, Any]:
    return dict(json.loads(package.template.read_text()))


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return dict(template["Resources"])


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r.get("Type") == kind}


# -- the template ------------------------------------------------------------------------------


def test_cfn_lint_passes_on_the_packaged_template(package: Package) -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(cfn_lint), str(package.template)], capture_output=True, text=True)
    assert result.returncode == 0, f"cfn-lint:\n{result.stdout}{result.stderr}"


def test_every_sqs_event_source_reports_batch_item_failures(resources: dict[str, Any]) -> None:
    queues = of_type(resources, "AWS::SQS::Queue")
    sources = 0
    for name, function in of_type(resources, "AWS::Serverless::Function").items():
        for event_name, event in (function["Properties"].get("Events") or {}).items():
            if event["Type"] != "SQS":
                continue
            sources += 1
            props = event["Properties"]
            assert props.get("FunctionResponseTypes") == ["ReportBatchItemFailures"], (name, event_name)
            queue = props["Queue"]
            assert set(queue) == {"Fn::Sub"}, (name, queue)  # one ARN, no leftovers from the merge
            logical = re.fullmatch(r"\$\{(\w+)\.Arn\}", queue["Fn::Sub"])
            assert logical and logical.group(1) in queues, f"{name}: {queue} is not a queue of this template"
    assert sources == len(app_shape().sqs_sources) >= 2


def test_every_consumed_queue_has_a_dead_letter_queue(resources: dict[str, Any]) -> None:
    queues = {r["Properties"]["QueueName"]: (name, r) for name, r in of_type(resources, "AWS::SQS::Queue").items()}
    consumed = {s.queue for s in app_shape().sqs_sources}
    for queue in [*consumed, INTAKE_QUEUE]:
        assert queue in queues, f"{queue} is not declared"
        _, resource = queues[queue]
        assert dlq_name(queue) in queues, f"{queue} has no dead-letter queue"
        redrive = resource["Properties"]["RedrivePolicy"]
        assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [queues[dlq_name(queue)][0], "Arn"]}
        assert redrive["maxReceiveCount"] >= 1
        assert resource["Properties"].get("FifoQueue", False) == queue.endswith(".fifo")
        # Lambda's guidance: visibility timeout >= 6 x the function's timeout.
        assert resource["Properties"]["VisibilityTimeout"] >= 6 * 60
    settings_queues = {"usage-events.fifo", "usage-events-dlq.fifo", "billing-tasks", "billing-tasks-dlq"}
    assert settings_queues <= set(queues)


def test_every_table_matches_its_model(resources: dict[str, Any]) -> None:
    from chalicelib.adapters.tables.base import all_models

    prefix = stage_env(chalice_config())["BILLING_TABLE_PREFIX"]
    tables = {r["Properties"]["TableName"]: r for r in of_type(resources, "AWS::DynamoDB::Table").values()}
    assert len(tables) == len(all_models())
    for model in all_models():
        schema = model._get_schema()
        table = tables[f"{prefix}{model.TABLE_BASE}"]
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert {(k["AttributeName"], k["KeyType"]) for k in props["KeySchema"]} == {
            (k["AttributeName"], k["KeyType"]) for k in schema["key_schema"]
        }
        declared = {d["AttributeName"]: d["AttributeType"] for d in props["AttributeDefinitions"]}
        gsis = {g["IndexName"]: g for g in props.get("GlobalSecondaryIndexes", [])}
        expected = schema.get("global_secondary_indexes", [])
        assert set(gsis) == {i["index_name"] for i in expected}, model.TABLE_BASE
        for index in expected:
            gsi = gsis[index["index_name"]]
            assert {(k["AttributeName"], k["KeyType"]) for k in gsi["KeySchema"]} == {
                (k["AttributeName"], k["KeyType"]) for k in index["key_schema"]
            }
            assert gsi["Projection"]["ProjectionType"] == index["projection"]["ProjectionType"]
            for definition in index["attribute_definitions"]:
                assert declared[definition["AttributeName"]] == definition["AttributeType"]
        for definition in schema["attribute_definitions"]:
            assert declared[definition["AttributeName"]] == definition["AttributeType"]
        protected = model.TABLE_BASE in PROTECTED_TABLES
        assert props["DeletionProtectionEnabled"] is protected
        assert (table.get("DeletionPolicy") == "Retain") is protected
        ttl = getattr(model, "TTL_ATTRIBUTE", None)
        assert props.get("TimeToLiveSpecification") == ({"AttributeName": ttl, "Enabled": True} if ttl else None)
    assert {"ledger_entries", "balances", "payments"} <= PROTECTED_TABLES
    idempotency = tables[f"{prefix}idempotency_keys"]["Properties"]
    assert idempotency["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_usage_events_route_from_eventbridge_to_the_fifo_queue(resources: dict[str, Any]) -> None:
    rule = resources["UsageEventsRule"]["Properties"]
    assert rule["EventPattern"] == {"source": ["call-tracking.telephony"], "detail-type": ["UsageEvent"]}
    assert rule["Targets"][0]["InputPath"] == "$.detail"
    policy = resources["UsageIntakeQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert policy["Principal"] == {"Service": "events.amazonaws.com"}
    assert policy["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["UsageEventsRule", "Arn"]}}}
    pipe = resources["UsageEventsPipe"]["Properties"]
    assert pipe["Target"] == {"Fn::GetAtt": ["UsageEventsQueue", "Arn"]}
    assert pipe["TargetParameters"]["SqsQueueParameters"]["MessageGroupId"] == "$.body.account_id"
    assert pipe["TargetParameters"]["SqsQueueParameters"]["MessageDeduplicationId"] == "$.body.event_id"


def test_alarms_watch_every_dead_letter_queue_and_function(resources: dict[str, Any]) -> None:
    alarms = of_type(resources, "AWS::CloudWatch::Alarm").values()
    watched_queues = {
        json.dumps(d["Value"]) for a in alarms for d in a["Properties"]["Dimensions"] if d["Name"] == "QueueName"
    }
    for name, queue in of_type(resources, "AWS::SQS::Queue").items():
        if queue["Properties"]["QueueName"].removesuffix(".fifo").endswith("-dlq"):
            assert json.dumps({"Fn::GetAtt": [name, "QueueName"]}) in watched_queues, f"no alarm on {name}"
    errors = {
        d["Value"]["Ref"]
        for a in alarms
        if a["Properties"]["MetricName"] == "Errors"
        for d in a["Properties"]["Dimensions"]
    }
    assert errors == set(of_type(resources, "AWS::Serverless::Function"))


def test_api_gateway_errors_carry_cors_and_the_contract_shape(resources: dict[str, Any]) -> None:
    api = resources["RestAPI"]["Properties"]
    responses = api["GatewayResponses"]
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX", "UNAUTHORIZED", "MISSING_AUTHENTICATION_TOKEN", "THROTTLED"):
        assert responses[kind]["ResponseParameters"]["Headers"]["Access-Control-Allow-Origin"] == "'*'", kind
        body = responses[kind]["ResponseTemplates"]["application/json"]
        rendered = json.loads(body.replace("$context.error.messageString", '"a message"'))
        assert set(rendered) == {"error"} and set(rendered["error"]) == {"code", "message"}, kind
    assert responses["UNAUTHORIZED"]["StatusCode"] == "401"
    assert responses["THROTTLED"]["ResponseParameters"]["Headers"]["Retry-After"] == "'1'"
    stage_wide = next(m for m in api["MethodSettings"] if m["ResourcePath"] == "/*")
    assert stage_wide["ThrottlingRateLimit"] > 0 and stage_wide["ThrottlingBurstLimit"] > 0


def test_no_secret_is_in_the_template(template: dict[str, Any], resources: dict[str, Any]) -> None:
    for name, function in of_type(resources, "AWS::Serverless::Function").items():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        assert "BILLING_JWT_SECRET" not in variables and "BILLING_STRIPE_API_KEY" not in variables, name
        assert variables.get("BILLING_JWT_SECRET_PARAMETER", "").startswith("/charges-and-usage/"), name
    text = json.dumps(template)
    assert "sk_live_" not in text and "sk_test_" not in text


# -- the zip ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zip_names(package: Package) -> list[str]:
    with zipfile.ZipFile(package.zip) as archive:
        return archive.namelist()


def test_zip_carries_the_app_chalicelib_and_templates(zip_names: list[str]) -> None:
    names = set(zip_names)
    assert "app.py" in names
    for path in (ROOT / "chalicelib").rglob("*.py"):
        assert str(path.relative_to(ROOT)) in names, path
    templates = sorted(p.name for p in (ROOT / "templates").iterdir() if p.is_file())
    assert templates, "no templates in the repository?"
    for name in templates:
        assert f"templates/{name}" in names, f"templates/{name} is not in the zip"
    assert not any(n.startswith(("tests/", "devtools/", "deploy/", "bench/")) for n in names)


def test_runtime_provided_packages_are_left_out(zip_names: list[str]) -> None:
    tops = {n.split("/", 1)[0].lower() for n in zip_names}
    for package in RUNTIME_PROVIDED:
        assert package not in tops
        assert not any(t.startswith(f"{package}-") and t.endswith(".dist-info") for t in tops)
    listed = {
        re.split(r"[<>=!~\[ ;]", line.strip(), maxsplit=1)[0].lower()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert not listed & set(RUNTIME_PROVIDED), "requirements.txt must not list what Lambda provides"


def _wheel_owners(archive: zipfile.ZipFile) -> dict[str, str]:
    """File in the zip -> the .dist-info folder whose RECORD lists it."""
    owners: dict[str, str] = {}
    for name in archive.namelist():
        if name.endswith(".dist-info/RECORD"):
            folder = name.rsplit("/", 1)[0]
            for line in archive.read(name).decode().splitlines():
                if line.strip():
                    owners[line.split(",", 1)[0]] = folder
    return owners


def _compatible(tag: str, machine: str, glibc: tuple[int, int]) -> bool:
    platform = tag.rsplit("-", 1)[-1]
    legacy = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
    match = re.fullmatch(r"manylinux_(\d+)_(\d+)_(\w+)", platform)
    if match:
        version, arch = (int(match.group(1)), int(match.group(2))), match.group(3)
    else:
        name, _, arch = platform.partition("_")
        if name not in legacy:
            return False  # linux_x86_64: built on some machine, not for Lambda
        version = legacy[name]
    return arch == machine and version <= glibc


def test_every_compiled_file_is_from_a_wheel_built_for_lambda(package: Package, resources: dict[str, Any]) -> None:
    from chalice.deploy.packager import DependencyBuilder

    functions = of_type(resources, "AWS::Serverless::Function").values()
    runtimes = {f["Properties"]["Runtime"] for f in functions}
    architectures = {a for f in functions for a in f["Properties"].get("Architectures", ["x86_64"])}
    assert len(runtimes) == 1 and len(architectures) == 1
    runtime, architecture = runtimes.pop(), architectures.pop()
    machine = {"x86_64": "x86_64", "arm64": "aarch64"}[architecture]
    glibc = DependencyBuilder._RUNTIME_GLIBC["cp" + runtime.removeprefix("python").replace(".", "")]
    with zipfile.ZipFile(package.zip) as archive:
        owners = _wheel_owners(archive)
        compiled = [n for n in archive.namelist() if re.search(r"\.so(\.\d+)*$", n)]
        assert compiled, "no compiled files at all? (pydantic_core has one)"
        problems = []
        for name in compiled:
            header = archive.read(name)[:20]
            if header[:4] != b"\x7fELF" or int.from_bytes(header[18:20], "little") != ELF_MACHINES[machine]:
                problems.append(f"{name}: not an ELF file for {machine}")
            owner = owners.get(name)
            if owner is None:
                problems.append(f"{name}: belongs to no wheel")
                continue
            wheel = archive.read(f"{owner}/WHEEL").decode()
            tags = [line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")]
            if not any(_compatible(tag, machine, glibc) for tag in tags):
                problems.append(f"{name}: wheel {owner} is tagged {tags}, not manylinux {machine} glibc<={glibc}")
    assert not problems, "\n".join(sorted(set(problems)))


# -- the IAM policy ------------------------------------------------------------------------------


def _allows(policy: dict[str, Any], action: str, resource: str) -> bool:
    for statement in policy["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions) and any(
            fnmatch.fnmatchcase(resource, r) for r in resources
        ):
            return True
    return False


def test_the_policy_covers_every_table_index_queue_and_secret() -> None:
    from chalicelib.adapters.tables.base import all_models
    from chalicelib.config import get_settings, reset_settings

    config = chalice_config()
    env = stage_env(config)
    policy = json.loads((ROOT / ".chalice" / config["iam_policy_file"]).read_text())
    arn = "arn:aws:{}:us-east-1:123456789012:{}"
    prefix = env["BILLING_TABLE_PREFIX"]
    missing = []
    for model in all_models():
        table = arn.format("dynamodb", f"table/{prefix}{model.TABLE_BASE}")
        for action in ("GetItem", "BatchGetItem", "PutItem", "UpdateItem", "ConditionCheckItem", "Query"):
            if not _allows(policy, f"dynamodb:{action}", table):
                missing.append(f"dynamodb:{action} on {table}")
        for index in model._get_schema().get("global_secondary_indexes", []):
            if not _allows(policy, "dynamodb:Query", f"{table}/index/{index['index_name']}"):
                missing.append(f"dynamodb:Query on {table}/index/{index['index_name']}")
    reset_settings()
    settings = get_settings()  # the queue names the code sends to (prod uses the defaults)
    sent_to = {
        settings.usage_queue_name,
        settings.usage_dlq_name,
        settings.billing_tasks_queue_name,
        settings.billing_tasks_dlq_name,
        *(getattr(settings, n) for n in ("statements_queue_name", "statements_dlq_name") if hasattr(settings, n)),
    }
    for source in app_shape().sqs_sources:
        queue = arn.format("sqs", source.queue)
        for action in ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes"):
            if not _allows(policy, f"sqs:{action}", queue):
                missing.append(f"sqs:{action} on {queue}")
        sent_to |= {source.queue, dlq_name(source.queue)}
    for name in sent_to:
        for action in ("SendMessage", "GetQueueUrl"):
            if not _allows(policy, f"sqs:{action}", arn.format("sqs", name)):
                missing.append(f"sqs:{action} on {name}")
    for action in ("ses:SendEmail", "ses:SendRawEmail"):
        if not _allows(policy, action, arn.format("ses", "identity/billing@example.com")):
            missing.append(action)
    parameters = [v for k, v in env.items() if k.endswith("_PARAMETER")]
    assert parameters
    for parameter in parameters:
        if not _allows(policy, "ssm:GetParameter", arn.format("ssm", f"parameter{parameter}")):
            missing.append(f"ssm:GetParameter on {parameter}")
    assert not missing, "\n".join(missing)
    assert not any(s["Resource"] == "*" for s in policy["Statement"]), "no statement may allow every resource"

    authorizer_file = config["stages"]["prod"]["lambda_functions"]["jwt_auth"]["iam_policy_file"]
    authorizer = json.loads((ROOT / ".chalice" / authorizer_file).read_text())
    jwt_parameter = env["BILLING_JWT_SECRET_PARAMETER"]
    assert _allows(authorizer, "ssm:GetParameter", arn.format("ssm", f"parameter{jwt_parameter}"))
    assert not _allows(authorizer, "dynamodb:GetItem", arn.format("dynamodb", f"table/{prefix}balances"))
