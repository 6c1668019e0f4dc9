"""`deploy_cost`: what the Lambda package costs to ship and to start, and what each function needs.

- package: the zip `make package` builds (size zipped and unpacked, files, bytecode files).
- cold import: in a Python that has only boto3 (deploy/runtime.py, Lambda's runtime
  stand-in) with the unpacked zip first on the path, each sample a fresh interpreter
  timing only the import statements (`perf_counter`, and `process_time` beside it),
  ROUNDS interleaved rounds after a warm-up, medians, as a ratio to `import boto3`
  in the same Python. `import app` is what Lambda's init loads for every function but
  the authorizer (whose handler module is chalicelib.api.auth). Goal: <= 1.3x by wall
  clock. Beside it: `import app` from the same zip without its bytecode (what
  precompiling saves), and what each function's first invocation imports on top
  (informational: services are imported on first use, chalicelib/services/__init__.py).
- memory: each function runs its largest realistic input from the zip, in a process
  of its own (deploy/lambda_driver.py, as tests/deploy runs them), against DynamoDB
  Local and moto (the Stripe stub of tests/integration for the card): the peak RSS of
  the process (VmHWM). The inputs: the dashboard and the statement (built, PDF,
  emailed) of an agency with 1,000 sub-accounts, POST /usage-events with 1,000 events,
  a usage batch of 10 messages of 100 events of one balance, 500 EventBridge events
  for the router, a recharge charged to a card, the scheduler's tick with 501 due
  schedules, a token. deploy/functions.py sizes each function from these figures:
  MemorySize >= 1.5x the peak and >= 256 MB.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROUNDS = 15
MAX_IMPORT_RATIO = 1.3
SUBS = 1_000  # sub-accounts of the big agency (half on its balance, half with their own)
AGENCY = "bench_agency"
SECRET = "bench-secret-0123456789abcdef0123456789abcdef"

IMPORT_TARGETS = {
    "boto3": ("boto3",),
    "app": ("app",),
    "authorizer_handler": ("chalicelib.api.auth",),
}
# What a function's first invocation imports on top of its handler module (informational).
FIRST_INVOCATION = {
    "api_get_balance": ("app", "chalicelib.services.balances"),
    "api_statement_pdf": ("app", "chalicelib.services.statements", "chalicelib.statement_pdf"),
    "authorizer": ("chalicelib.api.auth", "chalicelib.services.tokens", "chalicelib.adapters.secrets"),
    "usage_writer": ("app", "chalicelib.handlers.ingest"),
    "router": ("app", "chalicelib.handlers.routing"),
    "billing_worker": ("app", "chalicelib.handlers.billing", "chalicelib.adapters.gateway.stripe_gateway"),
    "statement_sender": ("app", "chalicelib.handlers.statements", "chalicelib.statement_pdf"),
}

_PROBE = """
import time
_t0, _c0 = time.perf_counter(), time.process_time()
for _name in {modules!r}:
    __import__(_name)
_ms, _cpu_ms = (time.perf_counter() - _t0) * 1000, (time.process_time() - _c0) * 1000
import json
print(json.dumps({{"ms": _ms, "cpu_ms": _cpu_ms}}))
"""


# -- the package ----------------------------------------------------------------------------------


def package_figures(zip_path: Path, task_root: Path) -> dict[str, Any]:
    with zipfile.ZipFile(zip_path) as archive:
        infos = archive.infolist()
    files = [i for i in infos if not i.is_dir()]
    return {
        "zip_bytes": zip_path.stat().st_size,
        "unpacked_bytes": sum(i.file_size for i in files),
        "files": len(files),
        "bytecode_files": sum(1 for i in files if i.filename.endswith(".pyc")),
        "python_files": sum(1 for i in files if i.filename.endswith(".py")),
        "lambda_limits": "50 MB zipped (direct upload), 250 MB unpacked",
        "task_root": str(task_root),
    }


# -- cold import ------------------------------------------------------------------------------------


def _probe(python: Path, task_root: Path, modules: tuple[str, ...]) -> dict[str, float]:
    from deploy.runtime import lambda_env

    out = subprocess.run(
        [str(python), "-c", _PROBE.format(modules=modules)],
        env=lambda_env(task_root),
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def cold_import(python: Path, task_root: Path, rounds: int = ROUNDS) -> dict[str, Any]:
    without_bytecode = Path(tempfile.mkdtemp(prefix="task-without-bytecode-"))
    try:
        shutil.copytree(task_root, without_bytecode, dirs_exist_ok=True)
        for cache in list(without_bytecode.rglob("__pycache__")):
            shutil.rmtree(cache)
        targets: dict[str, tuple[Path, tuple[str, ...]]] = {
            **{name: (task_root, modules) for name, modules in IMPORT_TARGETS.items()},
            "app_without_bytecode": (without_bytecode, ("app",)),
            **{f"first_invocation_{name}": (task_root, modules) for name, modules in FIRST_INVOCATION.items()},
        }
        for root, modules in targets.values():  # warm the file cache
            _probe(python, root, modules)
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
        for _ in range(rounds):
            for name, (root, modules) in targets.items():
                samples[name].append(_probe(python, root, modules))
    finally:
        shutil.rmtree(without_bytecode, ignore_errors=True)
    boto3_wall = statistics.median(s["ms"] for s in samples["boto3"])
    boto3_cpu = statistics.median(s["cpu_ms"] for s in samples["boto3"])
    figures: dict[str, Any] = {}
    for name, runs in samples.items():
        wall = statistics.median(s["ms"] for s in runs)
        cpu = statistics.median(s["cpu_ms"] for s in runs)
        figures[name] = {
            "modules": list(targets[name][1]),
            "median_ms": round(wall, 1),
            "cpu_median_ms": round(cpu, 1),
            "ratio_to_boto3": round(wall / boto3_wall, 2),
            "cpu_ratio_to_boto3": round(cpu / boto3_cpu, 2),
            "samples_ms": [round(s["ms"], 1) for s in runs],
        }
    return {
        "method": f"fresh interpreter per sample (the boto3-only Python, the unpacked zip on PYTHONPATH), "
        f"{rounds} interleaved rounds after one warm-up round, medians; ratio = median / median of import boto3",
        "python": str(python),
        "targets": figures,
    }


# -- memory: each function on its largest realistic input ----------------------------------------------


@contextmanager
def stand_ins(endpoint: str | None) -> Iterator[dict[str, str]]:
    """DynamoDB Local (started unless `endpoint`) and moto's server, for the functions and the seeding."""
    from devtools.processes import free_port, start_dynamodb_local, start_moto_server

    services = []
    try:
        if endpoint is None:
            ddb = start_dynamodb_local(free_port(), db_path=None)
            services.append(ddb)
            endpoint = ddb.url
        moto = start_moto_server(free_port())
        services.append(moto)
        yield {"AWS_ENDPOINT_URL": moto.url, "AWS_ENDPOINT_URL_DYNAMODB": endpoint}
    finally:
        for service in reversed(services):
            service.stop()


def _usage(event_id: str, account_id: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {"event_id": event_id, "account_id": account_id, "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), **fields}


def seed(now: datetime) -> dict[str, Any]:
    """An agency with SUBS sub-accounts and a month of usage each, through the service functions."""
    from chalicelib.domain.access import Principal, Role
    from chalicelib.services.accounts import put_account
    from chalicelib.services.statement_schedules import put_schedule
    from chalicelib.services.usage import QueuedMessage, record_usage

    platform = Principal("bench", "platform", Role.SERVICE)
    admin = Principal("bench-admin", AGENCY, Role.ADMIN)
    zones = ("America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London")
    started = time.perf_counter()
    put_account(platform, AGENCY, {"name": "Bench Agency", "kind": "agency", "emails": ["owner@agency.example"]})
    subs = [f"bench_sub_{i:04d}" for i in range(SUBS)]
    for i, sub in enumerate(subs):
        billing = "agency" if i % 2 == 0 else "own"
        body = {"name": f"Client {i:04d}", "agency_id": AGENCY, "billing": billing, "time_zone": zones[i % len(zones)]}
        put_account(platform, sub, body)
    categories = (
        ("call_minutes", {"quantity": "37"}),
        ("text_messages", {"quantity": "12"}),
        ("number_renewals", {"quantity": "1"}),
        ("subscription_fees", {"amount": "29.00", "description": "Monthly plan"}),
    )
    topup = _usage("agency-topup", AGENCY, now, category="recharge", amount="5000.00", description="Top-up")
    by_billing: dict[str, list[dict[str, Any]]] = {AGENCY: [topup]}
    for i, sub in enumerate(subs):
        billing = AGENCY if i % 2 == 0 else sub
        events = by_billing.setdefault(billing, [])
        if billing == sub:
            events.append(_usage(f"{sub}-topup", sub, now - timedelta(days=40), category="recharge", amount="100.00"))
        for day in (3, 11, 19, 27):
            for category, fields in categories:
                at = now - timedelta(days=day, hours=i % 7)
                events.append(_usage(f"{sub}-{category}-{day}", sub, at, category=category, **fields))
    messages = [
        QueuedMessage(f"{billing}-{start}", json.dumps({"events": events[start : start + 100]}), billing)
        for billing, events in by_billing.items()
        for start in range(0, len(events), 100)
    ]
    problems: list[str] = []
    charged = 0
    for start in range(0, len(messages), 200):
        outcome = record_usage(
            messages[start : start + 200], dead_letter=lambda _m, reason, _r: problems.append(reason)
        )
        charged += outcome.charged
        if outcome.failed_message_ids:
            problems.append(f"{len(outcome.failed_message_ids)} messages failed")
    schedules = 0
    for sub in [AGENCY, *subs[1::2]]:  # every balance of its own gets a monthly statement
        put_schedule(admin, sub, {"frequency": "monthly", "recipients": ["owner@agency.example"], "enabled": True})
        schedules += 1
    if problems:
        raise RuntimeError(f"seeding failed: {problems[:5]}")
    return {
        "accounts": 1 + SUBS,
        "events": charged,
        "schedules": schedules,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _waiting_ms(calls: list[dict[str, Any]]) -> float:
    """Wall time spent in calls to the stand-ins: the union of their spans, since a function
    that reads concurrently waits on several at once (a sum would exceed the invocation)."""
    spans = sorted(c["span"] for c in calls if "span" in c)
    total, reach = 0.0, float("-inf")
    for start, end in spans:
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return round(total * 1000, 1)


def memory(package: Any, python: Path, task_root: Path, endpoints: dict[str, str]) -> dict[str, Any]:
    """Each function's peak RSS over its scenarios, each scenario a fresh process."""
    import boto3

    from chalicelib.domain.access import Role
    from chalicelib.services.tokens import issue_token
    from deploy import cfn
    from deploy.functions import FUNCTIONS, MEMORY_HEADROOM, MIN_MEMORY_MB
    from deploy.lambda_stack import LambdaStack, api_event, authorizer_context, scheduled_event, sqs_records
    from deploy.template import queue_logical_id
    from devtools.environment import apply_env, restore_env
    from devtools.resources import create_all
    from tests.integration.stripe_stub import StripeStub

    template = json.loads(package.template.read_text())
    lambdas = LambdaStack(template, python, task_root, f"bench{uuid.uuid4().hex[:6]}-", endpoints)
    saved = apply_env({**lambdas.stand_in_env(), "BILLING_JWT_SECRET": SECRET, "BILLING_STAGE": None})
    stripe = StripeStub().start()
    tmp = Path(tempfile.mkdtemp(prefix="deploy-cost-"))
    scenarios: list[dict[str, Any]] = []
    try:
        create_all()
        ssm = boto3.client("ssm", region_name=cfn.REGION)
        for parameter, value in (
            ("JwtSecretParameter", SECRET),
            ("StripeApiKeyParameter", "sk_test_bench"),
            ("LedgerKeyParameter", "bench-ledger-key"),
        ):
            ssm.put_parameter(Name=lambdas.stack.parameter(parameter), Value=value, Type="SecureString", Overwrite=True)
        lambdas.overrides["BILLING_STRIPE_API_BASE"] = stripe.url
        now = datetime.now(UTC).replace(microsecond=0)
        seeded = seed(now)
        sqs = boto3.client("sqs", region_name=cfn.REGION)

        def run(function: str, scenario: str, events: list[Any]) -> list[Any]:
            result = lambdas.invoke(function, events, tmp)
            scenarios.append(
                {
                    "function": function,
                    "scenario": scenario,
                    "peak_mb": round(result.peak_rss_kb / 1024, 1),
                    "init_ms": result.init_ms,
                    "invocation_ms": [i.ms for i in result.invocations],
                    # Time inside calls to the stand-ins (moto's SQS is far slower than SQS on
                    # big FIFO batches): the rest is the function's own work.
                    "aws_calls": [len(i.calls) for i in result.invocations],
                    "aws_calls_ms": [_waiting_ms(i.calls) for i in result.invocations],
                }
            )
            return [i.response for i in result.invocations]

        def arn(queue: str) -> str:
            return lambdas.stack.get_att(queue_logical_id(queue), "Arn")

        def drain(queue: str, limit: int) -> list[dict[str, Any]]:
            url = sqs.get_queue_url(QueueName=lambdas.queue_name(queue))["QueueUrl"]
            found: list[dict[str, Any]] = []
            while len(found) < limit:
                batch = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=min(10, limit - len(found)), AttributeNames=["All"]
                ).get("Messages", [])
                if not batch:
                    break
                found += batch
            return found

        tokens = {
            "service": issue_token(SECRET, "bench", "platform", Role.SERVICE, timedelta(hours=1)),
            "admin": issue_token(SECRET, "bench-admin", AGENCY, Role.ADMIN, timedelta(hours=1)),
        }
        event = {"type": "TOKEN", "authorizationToken": f"Bearer {tokens['admin']}", "methodArn": "arn:aws:execute-api:"
                 f"{cfn.REGION}:{cfn.ACCOUNT}:a1b2c3d4e5/v1/GET/agencies/{AGENCY}/dashboard"}  # fmt: skip
        (admin_answer,) = run("JwtAuth", "a token", [event])
        service_answer = {"principalId": "bench", "context": {"account_id": "platform", "role": "service",
                          "exp": str(int(now.timestamp()) + 3600)}}  # fmt: skip
        admin, service = authorizer_context(admin_answer), authorizer_context(service_answer)
        account = "/accounts/{account_id}"

        run(
            "APIHandler",
            "GET balance",
            [api_event("GET", account + "/balance", {"account_id": AGENCY}, authorizer=admin)],
        )
        run("APIHandler", f"GET dashboard ({SUBS} sub-accounts)", [
            api_event("GET", "/agencies/{agency_id}/dashboard", {"agency_id": AGENCY}, authorizer=admin)])  # fmt: skip
        big_batch = [
            _usage(f"bench-post-{i}", f"bench_sub_{i % SUBS:04d}", now - timedelta(minutes=5), category="call_minutes",
                   quantity="3", description=f"Inbound call {i}", metadata={"call_id": str(i)})
            for i in range(1000)
        ]  # fmt: skip
        run("APIHandler", "POST /usage-events (1,000 events)", [
            api_event("POST", "/usage-events", authorizer=service, body={"events": big_batch})])  # fmt: skip
        last_month_end = now.date().replace(day=1) - timedelta(days=1)
        periods = [(last_month_end.replace(day=1) - timedelta(days=31 * k), last_month_end) for k in range(5)]
        posted = run("APIHandler", f"POST statement (agency, {SUBS} sub-accounts)", [
            api_event("POST", account + "/statements", {"account_id": AGENCY}, authorizer=admin, body={
                "from": first.isoformat(), "to": last.isoformat(), "recipients": ["owner@agency.example"]})
            for first, last in periods[:1]])  # fmt: skip
        statement_id = json.loads(posted[0]["body"])["statement_id"]
        ids = {"account_id": AGENCY, "statement_id": statement_id}
        pdf = api_event("GET", account + "/statements/{statement_id}/pdf", ids, authorizer=admin)
        pdf["headers"]["Accept"] = pdf["multiValueHeaders"]["Accept"][0] = "application/pdf"
        run("APIHandler", f"GET statement PDF (agency, {SUBS} sub-accounts)", [pdf])
        run("APIHandler", "POST 4 more agency statements", [
            api_event("POST", account + "/statements", {"account_id": AGENCY}, authorizer=admin, body={
                "from": first.isoformat(), "to": last.isoformat(), "recipients": ["owner@agency.example"]})
            for first, last in periods[1:]])  # fmt: skip

        # The router: 500 EventBridge events (its batch size) of both kinds of sub-account.
        records = [
            {"MessageId": str(uuid.uuid4()), "ReceiptHandle": uuid.uuid4().hex, "Attributes": {},
             "Body": json.dumps({"version": "0", "id": str(uuid.uuid4()), "detail-type": "UsageEvent",
                                 "source": "call-tracking.telephony", "account": cfn.ACCOUNT,
                                 "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": cfn.REGION, "resources": [],
                                 "detail": _usage(f"bench-eb-{i}", f"bench_sub_{i % SUBS:04d}", now,
                                                  category="text_messages", quantity="1")})}
            for i in range(500)
        ]  # fmt: skip
        run("RouteUsageEvents", "500 EventBridge events", [sqs_records(records, arn("usage-events-intake"))])

        # The writer: 10 messages of 100 events of the agency's balance (its hot shared clients).
        hot = [
            {"MessageId": str(uuid.uuid4()), "ReceiptHandle": uuid.uuid4().hex,
             "Attributes": {"MessageGroupId": AGENCY, "MessageDeduplicationId": f"hot-{m}"},
             "Body": json.dumps({"events": [_usage(f"bench-hot-{m}-{e}", f"bench_sub_{(2 * e) % SUBS:04d}", now,
                                                   category="call_minutes", quantity="2") for e in range(100)]})}
            for m in range(10)
        ]  # fmt: skip
        run("IngestUsageEvents", "10 messages x 100 events, one balance", [sqs_records(hot, arn("usage-events.fifo"))])

        # The worker: a recharge. An own-billing client with a card and a threshold above its balance.
        client = "bench_sub_0001"
        run("APIHandler", "PUT billing settings", [api_event("PUT", account + "/billing-settings",
            {"account_id": client}, authorizer=admin, body={"auto_recharge_enabled": True, "threshold": "1000.00",
            "amount": "50.00", "primary_card": "pm_card_visa"})])  # fmt: skip
        run("IngestUsageEvents", "one event crossing a threshold", [sqs_records([
            {"MessageId": str(uuid.uuid4()), "ReceiptHandle": "r", "Attributes": {"MessageGroupId": client},
             "Body": json.dumps(_usage("bench-cross", client, now, category="text_messages", quantity="1"))}],
            arn("usage-events.fifo"))])  # fmt: skip
        tasks = [m for m in drain("billing-tasks", 50) if '"recharge"' in m["Body"]]
        run("ProcessBillingTasks", "a recharge charged to a card", [sqs_records(tasks[:1], arn("billing-tasks"))])

        # The scheduler's tick when every schedule is due at once (each made due since last month:
        # a tick that pretends a later time sends no period that has not ended); then the sender,
        # five agency statements.
        from chalicelib.adapters.tables.base import bind
        from chalicelib.adapters.tables.statement_schedules import StatementScheduleRecord
        from chalicelib.domain.periods import format_instant

        bind(force=True)
        for schedule in StatementScheduleRecord.scan():
            schedule.update(actions=[StatementScheduleRecord.next_run_at.set(format_instant(now - timedelta(days=40)))])
        due = scheduled_event(now, f"arn:aws:events:{cfn.REGION}:{cfn.ACCOUNT}:rule/due")
        (tick,) = run("StatementsDue", f"tick with {seeded['schedules']} schedules due", [due])
        queued = drain("statements", 1000)
        agency = [m for m in queued if '"type": "send"' in m["Body"]][:5]
        run("SendStatements", f"5 agency statements ({SUBS} sub-accounts) with PDFs", [
            sqs_records(agency, arn("statements"))])  # fmt: skip

        # Notices: an agency alert watching each of its 1,000 clients looked at (one scoped read of
        # them all, every client that reached it fired), then five firings delivered by email.
        (made,) = run("APIHandler", "POST an agency usage alert", [api_event(
            "POST", "/agencies/{agency_id}/usage-alerts", {"agency_id": AGENCY}, authorizer=admin, body={
                "name": "Any client", "category": "total", "measure": "count", "period": "month",
                "threshold": "1", "each_account": True, "recipients": ["owner@agency.example"]})])  # fmt: skip
        alert = json.loads(made["body"])
        arm = {"type": "deliver", "owner": f"arm#{alert['id']}", "id": f"r{alert['revision']:06d}"}
        run("DeliverNotices", f"an alert's first look at {SUBS} sub-accounts", [sqs_records([
            {"MessageId": str(uuid.uuid4()), "ReceiptHandle": "r", "Attributes": {}, "Body": json.dumps(arm)}],
            arn("notices"))])  # fmt: skip
        deliveries = [m for m in drain("notices", 1000) if '"deliver"' in m["Body"]]
        run("DeliverNotices", "5 usage-alert emails", [sqs_records(deliveries[:5], arn("notices"))])
        # The redrive: every firing above looks lost (its message not received yet) ten minutes on.
        later = scheduled_event(now + timedelta(minutes=10), f"arn:aws:events:{cfn.REGION}:{cfn.ACCOUNT}:rule/r")
        run("RedriveNotices", f"{len(deliveries) - 5} notices to queue again", [later])

        # The hourly reconcile over all of it (a first run: every balance moved since no checkpoint).
        run("ReconcileLedger", f"first run over an agency of {SUBS} sub-accounts", [
            scheduled_event(now, f"arn:aws:events:{cfn.REGION}:{cfn.ACCOUNT}:rule/reconcile")])  # fmt: skip
    finally:
        stripe.stop()
        restore_env(saved)
        shutil.rmtree(tmp, ignore_errors=True)

    functions: dict[str, Any] = {}
    for spec in FUNCTIONS:
        mine = [s for s in scenarios if s["function"] == spec.logical_id]
        if not mine:
            continue
        peak = max(mine, key=lambda s: s["peak_mb"])
        functions[spec.logical_id] = {
            "peak_mb": peak["peak_mb"],
            "largest": peak["scenario"],
            "memory_mb": spec.memory_mb,
            "headroom": round(spec.memory_mb / peak["peak_mb"], 2),
            "met": spec.memory_mb >= max(MIN_MEMORY_MB, MEMORY_HEADROOM * peak["peak_mb"]),
            "timeout_s": spec.timeout_s,
            "longest_invocation_ms": max(ms for s in mine for ms in s["invocation_ms"]),
            "longest_own_work_ms": max(
                round(ms - aws, 1) for s in mine for ms, aws in zip(s["invocation_ms"], s["aws_calls_ms"], strict=True)
            ),
        }
    return {
        "method": "peak RSS (ru_maxrss) of a fresh process per scenario: the boto3-only Python, the unpacked zip, "
        "the function's environment from the template, AWS's event shapes, DynamoDB Local and moto",
        "seeded": seeded,
        "scheduler_tick": tick,
        "scenarios": scenarios,
        "functions": functions,
    }


def run(endpoint: str | None = None, rounds: int = ROUNDS) -> dict[str, Any]:
    from deploy.package import build
    from deploy.runtime import lambda_python, unpack

    package = build(verbose=False)
    python, task_root = lambda_python(), unpack(package.zip)
    results: dict[str, Any] = {"package": package_figures(package.zip, task_root)}
    results["cold_import"] = cold_import(python, task_root, rounds)
    with stand_ins(endpoint) as endpoints:
        results["memory"] = memory(package, python, task_root, endpoints)
    return results


def targets(results: dict[str, Any]) -> dict[str, Any]:
    """The checks bench/run.py reports."""
    bench = results.get("deploy_cost") or {}
    checks: dict[str, Any] = {}
    imports = (bench.get("cold_import") or {}).get("targets")
    if imports:
        app = imports["app"]
        checks["deploy_cold_import_app_ratio_to_boto3"] = {
            "limit": f"<= {MAX_IMPORT_RATIO} x import boto3 (wall clock, median; the unpacked zip, boto3-only Python)",
            "value": app["ratio_to_boto3"],
            "wall_clock_ratio": app["ratio_to_boto3"],
            "cpu_ratio": app["cpu_ratio_to_boto3"],
            "met": app["ratio_to_boto3"] <= MAX_IMPORT_RATIO,
        }
    functions = (bench.get("memory") or {}).get("functions")
    if functions:
        short = {name: f"{f['peak_mb']} MB -> {f['memory_mb']} MB" for name, f in functions.items()}
        checks["deploy_memory_size_covers_1_5x_the_measured_peak"] = {
            "limit": "MemorySize >= 1.5 x peak RSS on the largest realistic input, >= 256 MB",
            "value": short,
            "met": all(f["met"] for f in functions.values()),
        }
    return checks


def print_report(bench: dict[str, Any]) -> None:
    package = bench.get("package") or {}
    if package:
        print(
            f"\ndeploy_cost: zip {package['zip_bytes'] / 1e6:.1f} MB "
            f"({package['unpacked_bytes'] / 1e6:.1f} MB unpacked, {package['files']:,} files, "
            f"{package['bytecode_files']:,} bytecode)"
        )
    imports = (bench.get("cold_import") or {}).get("targets") or {}
    for name, t in imports.items():
        print(
            f"  import {name:<36} {t['median_ms']:7.1f} ms  {t['ratio_to_boto3']:.2f}x boto3 "
            f"(cpu {t['cpu_ratio_to_boto3']:.2f}x)"
        )
    memory = bench.get("memory") or {}
    for scenario in memory.get("scenarios", []):
        took = ", ".join(
            f"{ms / 1000:.1f} s ({aws / 1000:.1f} s in {n} calls)"
            for ms, aws, n in zip(
                scenario["invocation_ms"], scenario["aws_calls_ms"], scenario["aws_calls"], strict=True
            )
        )
        print(f"  {scenario['function']:<20} {scenario['peak_mb']:6.1f} MB  {scenario['scenario']}: {took}")
    for name, f in (memory.get("functions") or {}).items():
        print(
            f"  {name:<20} peak {f['peak_mb']:6.1f} MB -> MemorySize {f['memory_mb']} MB ({f['headroom']}x), "
            f"timeout {f['timeout_s']} s, longest invocation {f['longest_invocation_ms'] / 1000:.1f} s "
            f"({f['longest_own_work_ms'] / 1000:.1f} s outside the stand-ins' calls)"
        )
