"""`make package` output: a template an AWS engineer would deploy, and a zip that runs on Lambda.

The template passes cfn-lint and expands cleanly with AWS's own SAM translator into
one API stage; nothing in it has a fixed name (stacks side by side); each function
is sized and timed, logs JSON to a log group of its own and has a role of its own;
the tables with customers' data are protected; API Gateway's own errors are in the
contract's shape and echo nothing. The zip carries the app, its templates, its
bytecode and only wheels built for Lambda. (tests/deploy/test_lambda_functions.py
runs every function from the zip.)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from deploy.functions import (
    API_GATEWAY_TIMEOUT_S,
    FUNCTIONS,
    MEMORY_HEADROOM,
    MIN_MEMORY_MB,
    VISIBILITY_FACTOR,
    function_spec,
)
from deploy.package import RUNTIME_PROVIDED, Package
from deploy.template import (
    ACCESS_LOG_FORMAT,
    INTAKE_QUEUE,
    PROTECTED_TABLES,
    app_shape,
    dlq_logical_id,
    log_group_logical_id,
    queue_logical_id,
    role_logical_id,
    table_logical_id,
)

ROOT = Path(__file__).resolve().parent.parent.parent
ELF_MACHINES = {"x86_64": 62, "aarch64": 183}
BENCH_RESULTS = ROOT / "bench" / "results.json"


@pytest.fixture(scope="module")
def template(package: Package) -> dict[str, Any]:
    return dict(json.loads(package.template.read_text()))


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return dict(template["Resources"])


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r.get("Type") == kind}


# -- the template as CloudFormation reads it --------------------------------------------------------


def test_cfn_lint_passes_on_the_packaged_template(package: Package) -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(cfn_lint), str(package.template)], capture_output=True, text=True)
    assert result.returncode == 0, f"cfn-lint:\n{result.stdout}{result.stderr}"


def translate(template: dict[str, Any]) -> dict[str, Any]:
    """The template as CloudFormation's AWS::Serverless transform expands it (after `sam package`)."""
    import os

    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    packaged = json.loads(json.dumps(template))
    for resource in packaged["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":  # what `sam package` does with the local zip
            resource["Properties"]["CodeUri"] = "s3://deployment-bucket/deployment.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    translated: dict[str, Any] = Translator(managed_policy_map={}, sam_parser=Parser()).translate(
        sam_template=packaged, parameter_values={"SenderEmail": "billing@example.com"}
    )
    return translated


@pytest.fixture(scope="module")
def expanded(template: dict[str, Any]) -> dict[str, Any]:
    return dict(translate(template)["Resources"])


def test_the_expanded_api_has_one_stage_and_its_throttles_are_the_only_way_in(expanded: dict[str, Any]) -> None:
    stages = of_type(expanded, "AWS::ApiGateway::Stage")
    deployments = of_type(expanded, "AWS::ApiGateway::Deployment")
    # A Deployment with a StageName creates a stage of its own (SAM's implicit `Stage`).
    names = [s["Properties"]["StageName"] for s in stages.values()]
    names += [d["Properties"]["StageName"] for d in deployments.values() if "StageName" in d["Properties"]]
    assert names == ["v1"], f"API stages: {names}"
    (stage,) = stages.values()
    settings = {(m["ResourcePath"], m["HttpMethod"]): m for m in stage["Properties"]["MethodSettings"]}
    assert settings[("/*", "*")]["ThrottlingRateLimit"] > 0 and settings[("/*", "*")]["ThrottlingBurstLimit"] > 0
    assert settings[("/~1accounts~1{account_id}~1payments", "POST")]["ThrottlingRateLimit"] == 5
    assert all(m["DataTraceEnabled"] is False for m in settings.values())  # no request bodies or headers logged
    access = stage["Properties"]["AccessLogSetting"]
    assert access["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fields = json.loads(access["Format"])
    assert fields == ACCESS_LOG_FORMAT and "$context.requestId" in fields.values()
    assert not any("header" in v.lower() or "error.message" in v for v in fields.values())
    assert stage["Properties"]["TracingEnabled"] == {"Fn::If": ["TracingOn", True, False]}


def test_the_expanded_stack_has_a_role_per_function_and_no_managed_policy(expanded: dict[str, Any]) -> None:
    functions = of_type(expanded, "AWS::Lambda::Function")
    roles = [f["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions.values()]
    assert len(set(roles)) == len(functions) == len(FUNCTIONS)
    for role in roles:
        properties = expanded[role]["Properties"]
        assert not properties.get("ManagedPolicyArns"), role
        document = json.dumps(properties["Policies"])
        assert '"Effect": "Deny"' not in document, f"{role} kept the placeholder of .chalice/policy.json"


# -- names, sizes, logs ----------------------------------------------------------------------------


def test_nothing_has_a_fixed_name(resources: dict[str, Any]) -> None:
    """Stacks side by side in one account and region: CloudFormation names everything."""
    name_properties = ("TableName", "QueueName", "FunctionName", "RoleName", "LogGroupName", "TopicName", "Name")
    for logical, resource in resources.items():
        properties = resource.get("Properties", {})
        for key in name_properties:
            # A reference (to a resource, or the stack's name) is fine; a literal is one per account.
            assert not isinstance(properties.get(key), str), f"{logical} has a fixed {key}: {properties[key]}"
    assert resources["RestAPI"]["Properties"]["Name"] == {"Ref": "AWS::StackName"}


def test_every_function_is_told_every_name(resources: dict[str, Any]) -> None:
    from chalicelib.adapters.tables.base import all_models
    from chalicelib.config import table_name_variable

    for name, function in of_type(resources, "AWS::Serverless::Function").items():
        variables = function["Properties"]["Environment"]["Variables"]
        for model in all_models():
            assert variables[table_name_variable(model.TABLE_BASE)] == {"Ref": table_logical_id(model.TABLE_BASE)}
        assert "BILLING_TABLE_PREFIX" not in variables, name
        for variable, queue in (
            ("BILLING_USAGE_QUEUE", "usage-events.fifo"),
            ("BILLING_TASKS_DLQ", "billing-tasks-dlq"),
        ):
            assert variables[variable] == {"Fn::GetAtt": [queue_logical_id(queue), "QueueName"]}
        assert variables["BILLING_JWT_SECRET_PARAMETER"] == {"Ref": "JwtSecretParameter"}
        assert "BILLING_JWT_SECRET" not in variables and "BILLING_STRIPE_API_KEY" not in variables, name


def test_every_function_has_its_size_timeout_and_json_log_group(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    functions = of_type(resources, "AWS::Serverless::Function")
    assert sorted(functions) == sorted(app_shape().functions) == sorted(s.logical_id for s in FUNCTIONS)
    for name, function in functions.items():
        spec, properties = function_spec(name), function["Properties"]
        assert properties["MemorySize"] == spec.memory_mb >= MIN_MEMORY_MB, name
        assert properties["Timeout"] == spec.timeout_s, name
        assert properties["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": {"Ref": log_group_logical_id(name)}}
        group = resources[log_group_logical_id(name)]
        assert group["Properties"] == {"RetentionInDays": {"Ref": "LogRetentionDays"}}, name
        assert properties["Tracing"] == {"Fn::If": ["TracingOn", "Active", "PassThrough"]}
    assert properties["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"] == {
        "Fn::If": ["TracingOn", "false", "true"]
    }
    assert template["Parameters"]["LogRetentionDays"]["Default"] == "30"
    assert resources["ApiAccessLogGroup"]["Properties"] == {"RetentionInDays": {"Ref": "LogRetentionDays"}}


def test_timeouts_fit_what_waits_on_them(resources: dict[str, Any]) -> None:
    from chalicelib.services.statements import LEASE

    assert function_spec("APIHandler").timeout_s < API_GATEWAY_TIMEOUT_S
    assert function_spec("JwtAuth").timeout_s < API_GATEWAY_TIMEOUT_S
    # A sender must finish inside its lease on a statement, or a second sender takes over.
    assert function_spec("SendStatements").timeout_s < LEASE.total_seconds()
    # The scheduler's tick ends before the next one (every 15 minutes).
    assert function_spec("StatementsDue").timeout_s < 15 * 60
    for source in app_shape().sqs_sources:
        queue = resources[queue_logical_id(source.queue)]["Properties"]
        assert queue["VisibilityTimeout"] == VISIBILITY_FACTOR * function_spec(source.function).timeout_s, source


def test_memory_covers_the_measured_peak_with_headroom() -> None:
    """bench/deploy_cost.py measures each function's peak on its largest realistic input."""
    if not BENCH_RESULTS.exists():
        pytest.skip("no bench/results.json: run `make bench`")
    measured = (json.loads(BENCH_RESULTS.read_text()).get("deploy_cost") or {}).get("memory") or {}
    if not measured.get("functions"):
        pytest.skip("bench/results.json has no deploy_cost memory figures: run `make bench`")
    assert set(measured["functions"]) == {s.logical_id for s in FUNCTIONS}, "every function is measured"
    for name, figures in measured["functions"].items():
        spec = function_spec(name)
        assert spec.memory_mb >= MEMORY_HEADROOM * figures["peak_mb"], (name, figures, spec.memory_mb)


# -- queues, tables, routing --------------------------------------------------------------------------


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
    assert sources == len(app_shape().sqs_sources) >= 3


def test_every_consumed_queue_has_a_dead_letter_queue(resources: dict[str, Any]) -> None:
    consumed = {s.queue for s in app_shape().sqs_sources}
    assert INTAKE_QUEUE in consumed
    for queue in consumed:
        resource = resources[queue_logical_id(queue)]["Properties"]
        redrive = resource["RedrivePolicy"]
        assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq_logical_id(queue), "Arn"]}
        assert redrive["maxReceiveCount"] >= 1
        assert resource.get("FifoQueue", False) == queue.endswith(".fifo")
        dlq = resources[dlq_logical_id(queue)]["Properties"]
        assert dlq.get("FifoQueue", False) == queue.endswith(".fifo")
        assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_every_table_matches_its_model(resources: dict[str, Any]) -> None:
    from chalicelib.adapters.tables.base import all_models

    assert len(of_type(resources, "AWS::DynamoDB::Table")) == len(all_models())
    for model in all_models():
        schema = model._get_schema()
        table = resources[table_logical_id(model.TABLE_BASE)]
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
        ttl = getattr(model, "TTL_ATTRIBUTE", None)
        assert props.get("TimeToLiveSpecification") == ({"AttributeName": ttl, "Enabled": True} if ttl else None)


def test_customer_data_and_what_statements_are_built_from_is_protected(resources: dict[str, Any]) -> None:
    from chalicelib.adapters.tables.base import all_models

    bases = {m.TABLE_BASE for m in all_models()}
    assert {
        "accounts",
        "balances",
        "ledger_entries",
        "rollups",
        "ledger_pages",
        "balance_days",
        "payments",
        "statements",
    } <= PROTECTED_TABLES
    assert "statement_schedules" in PROTECTED_TABLES
    for model in all_models():
        table = resources[table_logical_id(model.TABLE_BASE)]
        protected = model.TABLE_BASE in PROTECTED_TABLES
        assert table["Properties"]["DeletionProtectionEnabled"] is protected, model.TABLE_BASE
        assert (table.get("DeletionPolicy") == "Retain" and table.get("UpdateReplacePolicy") == "Retain") is protected
        # Only bookkeeping that expires by TTL may go with the stack.
        assert protected or getattr(model, "TTL_ATTRIBUTE", None), f"{model.TABLE_BASE} is neither protected nor TTL'd"
    assert bases >= PROTECTED_TABLES


def test_usage_events_route_from_eventbridge_through_the_router(resources: dict[str, Any]) -> None:
    rule = resources["UsageEventsRule"]["Properties"]
    assert rule["EventPattern"] == {"source": ["call-tracking.telephony"], "detail-type": ["UsageEvent"]}
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [queue_logical_id(INTAKE_QUEUE), "Arn"]}
    assert "InputPath" not in target  # the router reads the whole EventBridge event
    policy = resources["UsageIntakeQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert policy["Principal"] == {"Service": "events.amazonaws.com"}
    assert policy["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["UsageEventsRule", "Arn"]}}}
    router = app_shape().source_of("RouteUsageEvents")
    assert router is not None and router.queue == INTAKE_QUEUE
    assert not of_type(resources, "AWS::Pipes::Pipe")


def test_alarms_watch_every_dead_letter_queue_and_function(resources: dict[str, Any]) -> None:
    alarms = of_type(resources, "AWS::CloudWatch::Alarm").values()
    watched = {
        json.dumps(d["Value"]) for a in alarms for d in a["Properties"]["Dimensions"] if d["Name"] == "QueueName"
    }
    for source in app_shape().sqs_sources:
        assert json.dumps({"Fn::GetAtt": [dlq_logical_id(source.queue), "QueueName"]}) in watched, source.queue
    errors = {
        d["Value"]["Ref"]
        for a in alarms
        if a["Properties"]["MetricName"] == "Errors"
        for d in a["Properties"]["Dimensions"]
    }
    assert errors == set(of_type(resources, "AWS::Serverless::Function"))


# -- API Gateway's own answers -------------------------------------------------------------------------


def test_api_gateway_errors_are_in_the_contract_shape_and_echo_nothing(resources: dict[str, Any]) -> None:
    responses = resources["RestAPI"]["Properties"]["GatewayResponses"]
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX", "UNAUTHORIZED", "MISSING_AUTHENTICATION_TOKEN", "THROTTLED"):
        assert kind in responses
    for kind, response in responses.items():
        assert response["ResponseParameters"]["Headers"]["Access-Control-Allow-Origin"] == "'*'", kind
        body = response["ResponseTemplates"]["application/json"]
        # No template variable at all: $context.error.message(String) quotes the Authorization
        # header on an unknown route (API Gateway reads the bearer token as a SigV4 signature).
        assert "$" not in body, (kind, body)
        error = json.loads(body)
        assert set(error) == {"error"} and set(error["error"]) == {"code", "message"}, kind
    for kind in ("MISSING_AUTHENTICATION_TOKEN", "INCOMPLETE_SIGNATURE", "INVALID_SIGNATURE"):
        assert responses[kind]["StatusCode"] == "404"
        assert json.loads(responses[kind]["ResponseTemplates"]["application/json"])["error"]["code"] == "not_found"
    assert responses["UNAUTHORIZED"]["StatusCode"] == "401"
    assert responses["UNAUTHORIZED"]["ResponseParameters"]["Headers"]["WWW-Authenticate"] == "'Bearer'"
    assert responses["THROTTLED"]["ResponseParameters"]["Headers"]["Retry-After"] == "'1'"


def test_no_secret_is_in_the_template(template: dict[str, Any]) -> None:
    text = json.dumps(template)
    assert "sk_live_" not in text and "sk_test_" not in text
    assert template["Parameters"]["JwtSecretParameter"]["Default"].startswith("/charges-and-usage/")


# -- the zip ------------------------------------------------------------------------------------------


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


def test_no_name_is_in_the_zip_twice(zip_names: list[str]) -> None:
    """The working tree's own __pycache__ (make writes bytecode caches) must not ride along."""
    twice = sorted(name for name, count in Counter(zip_names).items() if count > 1)
    assert not twice, twice[:20]


def test_zip_carries_bytecode_for_the_runtime(package: Package, resources: dict[str, Any]) -> None:
    """Lambda's task root is read-only: without these every cold start compiles every module."""
    runtimes = {f["Properties"]["Runtime"] for f in of_type(resources, "AWS::Serverless::Function").values()}
    (runtime,) = runtimes
    tag = "cpython-" + runtime.removeprefix("python").replace(".", "")
    with zipfile.ZipFile(package.zip) as archive:
        names = set(archive.namelist())
        sources = [n for n in names if n.endswith(".py")]
        missing = []
        for source in sources:
            folder, _, file = source.rpartition("/")
            expected = f"{folder + '/' if folder else ''}__pycache__/{file[:-3]}.{tag}.pyc"
            if expected not in names:
                missing.append(source)
        # A few files of the wheels may not compile (test fixtures in another Python's syntax).
        assert len(missing) <= len(sources) // 100, missing[:20]
        for source in ("app.py", "chalicelib/api/http.py", "pynamodb/models.py"):
            folder, _, file = source.rpartition("/")
            pyc = archive.read(f"{folder + '/' if folder else ''}__pycache__/{file[:-3]}.{tag}.pyc")
            # PEP 552: flags 0b01 = hash-based, not checked against the source.
            assert int.from_bytes(pyc[4:8], "little") == 1, source


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


# -- roles (what each one allows is checked against what its code calls: test_lambda_functions.py) ---------


def test_chalices_policy_file_is_a_deny_everything_placeholder(resources: dict[str, Any]) -> None:
    """Every role's policy comes from deploy/functions.py; Chalice's file must never be what a role gets."""
    placeholder = json.loads((ROOT / ".chalice" / "policy.json").read_text())
    assert [s["Effect"] for s in placeholder["Statement"]] == ["Deny"]
    for function in of_type(resources, "AWS::Serverless::Function"):
        policies = resources[role_logical_id(function)]["Properties"]["Policies"]
        assert [p["PolicyName"] for p in policies] == [f"{function}Access"], function


def test_retained_tables_can_be_imported_into_a_new_stack(template: dict[str, Any], tmp_path: Path) -> None:
    from deploy.reattach import match_tables, reattach

    left = [f"oldstack-{table_logical_id(base)}-1A2B3C4D5E" for base in sorted(PROTECTED_TABLES)]
    names = match_tables([*left, "someone-else-table", "oldstack-IdempotencyKeysTable-9Z8Y7X"])
    assert set(names) == {table_logical_id(base) for base in PROTECTED_TABLES}  # the unprotected one is not kept
    files = reattach(template, names)
    tables = files["tables.json"]["Resources"]
    assert set(tables) == set(names)
    for logical, resource in tables.items():
        assert resource["Properties"]["TableName"] == names[logical]
        assert resource["DeletionPolicy"] == "Retain"  # an import requires it
    assert files["import.json"] == [
        {"ResourceType": "AWS::DynamoDB::Table", "LogicalResourceId": k, "ResourceIdentifier": {"TableName": v}}
        for k, v in names.items()
    ]
    full = files["sam.json"]
    for logical, resource in full["Resources"].items():
        original = template["Resources"][logical]
        if logical in names:
            original = {**original, "Properties": {**original["Properties"], "TableName": names[logical]}}
        assert resource == original, logical
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    for file in ("tables.json", "sam.json"):
        (tmp_path / file).write_text(json.dumps(files[file]))
        result = subprocess.run([str(cfn_lint), str(tmp_path / file)], capture_output=True, text=True)
        assert result.returncode == 0, f"{file}: {result.stdout}{result.stderr}"
