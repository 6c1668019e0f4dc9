"""Every function of the packaged stack, run from the zip as Lambda runs it.

The zip is unpacked into a Python that has only boto3 (Lambda's runtime); each
function runs in a process of its own with the environment its template gives it
(table, queue and parameter names resolved as one stack would resolve them), and
is invoked with AWS's own event shapes: a TOKEN authorizer event, API Gateway REST
proxy events carrying the authorizer's context, EventBridge events delivered to the
intake queue (moto's EventBridge delivers them), SQS FIFO and standard records,
an EventBridge scheduled event. They run one after another as the deployed stack
would: the API's messages feed the router, the writer, the billing worker, the
scheduler and the sender. Against DynamoDB Local and moto.

The AWS calls each function's code makes are recorded, and its role in the template
must allow every one of them and allow nothing that none of them needed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.domain.access import Role
from chalicelib.services.tokens import issue_token
from deploy import cfn
from deploy.lambda_stack import (
    LambdaStack,
    api_event,
    authorizer_context,
    scheduled_event,
    sqs_records,
    token_event,
)
from deploy.package import Package
from deploy.runtime import lambda_python, unpack
from deploy.template import INTAKE_QUEUE, log_group_logical_id, queue_logical_id, role_logical_id
from devtools.environment import apply_env, restore_env

SECRET = "deploy-test-secret-0123456789abcdef0123456789"
# A public address, so the prod stage accepts it without DNS; the flow removes it before any delivery.
BILLING_WEBHOOK = "https://93.184.216.34/hooks/billing"
AGENCY, SHARED, OWN, FRESH = "dt_agency", "dt_shared", "dt_own", "dt_fresh"
SOLO = "dt_solo"  # an account of no agency: its usage alert reads its own counters by key
PLATFORM_STATEMENTS = ("WriteOwnLogGroup", "EventSourceQueue", "XRay")

pytestmark = pytest.mark.slow


@dataclass
class Flow:
    """What the run produced, for the tests to look at."""

    lambdas: LambdaStack
    responses: dict[str, Any] = field(default_factory=dict)  # step name -> response
    sent: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # queue -> messages received from it


def _sqs() -> Any:
    return boto3.client("sqs", region_name=cfn.REGION)


def _receive_all(queue_url: str) -> list[dict[str, Any]]:
    sqs, messages = _sqs(), list[dict[str, Any]]()
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            VisibilityTimeout=600,
        ).get("Messages", [])
        if not batch:
            return messages
        messages += batch


def _malformed_record(queue_arn: str, fifo: bool) -> dict[str, Any]:
    """A record no handler can use, as the queue would deliver it."""
    attributes: dict[str, str] = {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"}
    if fifo:
        attributes |= {"MessageGroupId": "producer-bug", "MessageDeduplicationId": uuid.uuid4().hex}
    message = {
        "MessageId": str(uuid.uuid4()),
        "ReceiptHandle": uuid.uuid4().hex,
        "Body": "{not json",
        "Attributes": attributes,
    }
    return dict(sqs_records([message], queue_arn)["Records"][0])


@pytest.fixture(scope="module")
def flow(
    package: Package, dynamodb_endpoint: str, moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flow]:
    from devtools.resources import create_all
    from tests.integration.stripe_stub import StripeStub

    template = json.loads(package.template.read_text())
    prefix = f"dt{uuid.uuid4().hex[:6]}-"
    lambdas = LambdaStack(
        template,
        python=lambda_python(),
        task_root=unpack(package.zip),
        prefix=prefix,
        endpoints={"AWS_ENDPOINT_URL": moto_endpoint, "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint},
    )
    # The stand-ins: the stack's tables and queues under the names the template resolves to.
    saved = apply_env({**lambdas.stand_in_env(), "BILLING_JWT_SECRET": SECRET})
    q = lambdas.queue_name
    stripe = StripeStub().start()
    try:
        create_all()
        sqs = _sqs()
        urls = {queue: sqs.create_queue(QueueName=q(queue))["QueueUrl"] for queue in (INTAKE_QUEUE,)}
        ssm = boto3.client("ssm", region_name=cfn.REGION)
        ssm.put_parameter(
            Name=lambdas.stack.parameter("JwtSecretParameter"), Value=SECRET, Type="SecureString", Overwrite=True
        )
        ssm.put_parameter(
            Name=lambdas.stack.parameter("LedgerKeyParameter"),
            Value="deploy-test-ledger-key",
            Type="SecureString",
            Overwrite=True,
        )
        ssm.put_parameter(
            Name=lambdas.stack.parameter("StripeApiKeyParameter"),
            Value="sk_test_deploy",
            Type="SecureString",
            Overwrite=True,
        )
        # The template's rule, on moto's EventBridge, delivering to the intake queue.
        rule = template["Resources"]["UsageEventsRule"]["Properties"]
        events = boto3.client("events", region_name=cfn.REGION)
        events.put_rule(Name=f"{prefix}usage", EventPattern=json.dumps(rule["EventPattern"]), State="ENABLED")
        target = {k: v for k, v in rule["Targets"][0].items() if k in ("Id", "InputPath")}
        intake_arn = lambdas.stack.get_att(queue_logical_id(INTAKE_QUEUE), "Arn")
        events.put_targets(Rule=f"{prefix}usage", Targets=[{**target, "Arn": intake_arn}])
        lambdas.overrides["BILLING_STRIPE_API_BASE"] = stripe.url
        tmp = tmp_path_factory.mktemp("lambda")
        run = Flow(lambdas)
        _run_the_stack(run, tmp, urls[INTAKE_QUEUE], events)
        yield run
    finally:
        stripe.stop()
        restore_env(saved)


def _token(account: str, role: Role) -> str:
    return issue_token(SECRET, f"user-of-{account}", account, role, timedelta(hours=1))


def _run_the_stack(flow: Flow, tmp: Path, intake_url: str, events: Any) -> None:
    lambdas, responses = flow.lambdas, flow.responses
    sqs = _sqs()

    def url_of(queue: str) -> str:
        return str(sqs.get_queue_url(QueueName=lambdas.queue_name(queue))["QueueUrl"])

    def arn_of(queue: str) -> str:
        return lambdas.stack.get_att(queue_logical_id(queue), "Arn")

    # The authorizer: three callers, and a token that is not one.
    tokens = {
        "service": _token("platform", Role.SERVICE),
        "admin": _token(AGENCY, Role.ADMIN),
        "viewer": _token(AGENCY, Role.VIEWER),
        "solo_admin": _token(SOLO, Role.ADMIN),
    }
    run = lambdas.invoke("JwtAuth", [token_event(t) for t in tokens.values()] + [token_event("not-a-jwt")], tmp)
    answers = dict(zip([*tokens, "invalid"], [i.response for i in run.invocations], strict=True))
    responses["authorizer"] = answers
    who = {name: authorizer_context(answer) for name, answer in answers.items()}

    today = datetime.now(UTC).date()
    occurred = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    account = "/accounts/{account_id}"

    def usage(event_id: str, account_id: str, **fields: Any) -> dict[str, Any]:
        return {"event_id": event_id, "account_id": account_id, "occurred_at": occurred, **fields}

    api_steps: list[tuple[str, dict[str, Any]]] = [
        ("put_agency", api_event("PUT", account, {"account_id": AGENCY}, authorizer=who["service"], body={
            "name": "Deploy Test Agency", "kind": "agency", "time_zone": "America/New_York",
            "emails": ["owner@agency.example"]})),
        ("put_shared", api_event("PUT", account, {"account_id": SHARED}, authorizer=who["service"], body={
            "name": "Shared Client", "agency_id": AGENCY, "billing": "agency", "time_zone": "America/Chicago"})),
        ("put_own", api_event("PUT", account, {"account_id": OWN}, authorizer=who["service"], body={
            "name": "Own Client", "agency_id": AGENCY, "emails": ["own@client.example"]})),
        ("put_fresh", api_event("PUT", account, {"account_id": FRESH}, authorizer=who["service"], body={
            "name": "New Client", "agency_id": AGENCY})),
        ("put_solo", api_event("PUT", account, {"account_id": SOLO}, authorizer=who["service"], body={
            "name": "Solo Shop", "emails": ["solo@shop.example"]})),
        # A sub-account with its own balance and a high threshold: adding 10.00 leaves it below,
        # so the credit itself asks for a recharge (the API queues a billing task).
        ("put_settings_own", api_event("PUT", account + "/billing-settings", {"account_id": OWN},
            authorizer=who["admin"], body={"auto_recharge_enabled": True, "threshold": "100.00", "amount": "50.00",
            "primary_card": "pm_card_mastercard"})),
        ("add_funds_own", api_event("POST", account + "/payments", {"account_id": OWN}, authorizer=who["admin"],
            body={"amount": "10.00"}, headers={"Idempotency-Key": "deploy-test-own-1"})),
        ("put_settings", api_event("PUT", account + "/billing-settings", {"account_id": AGENCY},
            authorizer=who["admin"], body={"auto_recharge_enabled": True, "threshold": "15.00", "amount": "50.00",
            "primary_card": "pm_card_visa", "low_balance_alert": "20.00",
            "alert_recipients": ["ops@agency.example"], "webhook_url": BILLING_WEBHOOK})),
        # Usage alerts the writer decides: a client's own (its counters by key), the agency's cost
        # total (its guard, its rollups and its clients' currencies), each client of the agency.
        ("alert_own", api_event("POST", account + "/usage-alerts", {"account_id": OWN}, authorizer=who["admin"],
            body={"name": "Texts", "category": "text_messages", "measure": "count", "period": "day",
            "threshold": "1", "recipients": ["own@client.example"]})),
        ("alert_solo", api_event("POST", account + "/usage-alerts", {"account_id": SOLO}, authorizer=who["solo_admin"],
            body={"name": "Minutes", "category": "call_minutes", "measure": "quantity", "period": "week",
            "threshold": "2", "recipients": ["solo@shop.example"]})),
        ("alert_total", api_event("POST", "/agencies/{agency_id}/usage-alerts", {"agency_id": AGENCY},
            authorizer=who["admin"], body={"name": "Spend", "category": "total", "measure": "cost",
            "period": "month", "threshold": "0.05", "recipients": ["owner@agency.example"]})),
        ("alert_each", api_event("POST", "/agencies/{agency_id}/usage-alerts", {"agency_id": AGENCY},
            authorizer=who["admin"], body={"name": "Any client calling", "category": "call_minutes",
            "measure": "count", "period": "day", "threshold": "1", "each_account": True,
            "recipients": ["owner@agency.example"]})),
        ("add_funds", api_event("POST", account + "/payments", {"account_id": AGENCY}, authorizer=who["admin"],
            body={"amount": "20.00"}, headers={"Idempotency-Key": "deploy-test-1"})),
        ("add_funds_replayed", api_event("POST", account + "/payments", {"account_id": AGENCY},
            authorizer=who["admin"], body={"amount": "20.00"}, headers={"Idempotency-Key": "deploy-test-1"})),
        ("put_rates", api_event("PUT", account + "/rates", {"account_id": OWN}, authorizer=who["admin"],
            body={"rates": {"text_messages": {"unit_price": "0.02"}}})),
        ("post_usage", api_event("POST", "/usage-events", authorizer=who["service"], body={"events": [
            *(usage(f"dt-call-{i}", SHARED, category="call_minutes", quantity="60") for i in range(10)),
            usage("dt-own-topup", OWN, category="recharge", amount="10.00", description="Top-up"),
            *(usage(f"dt-text-{i}", OWN, category="text_messages", quantity="1") for i in range(3)),
            # The first entry of a balance: the writer creates its head.
            usage("dt-fresh-topup", FRESH, category="recharge", amount="5.00", description="Top-up"),
            usage("dt-solo-call", SOLO, category="call_minutes", quantity="3")]})),
        ("put_schedule", api_event("PUT", account + "/statement-schedule", {"account_id": AGENCY},
            authorizer=who["admin"], body={"frequency": "monthly", "recipients": ["owner@agency.example"],
            "enabled": True})),
        ("send_statement", api_event("POST", account + "/statements", {"account_id": AGENCY},
            authorizer=who["admin"], body={"from": (today - timedelta(days=30)).isoformat(),
            "to": today.isoformat(), "recipients": ["owner@agency.example"]})),
        # A sub-account on its own balance: its statements read its own rollups by key.
        ("send_own_statement", api_event("POST", account + "/statements", {"account_id": OWN},
            authorizer=who["admin"], body={"from": (today - timedelta(days=30)).isoformat(),
            "to": today.isoformat(), "recipients": ["own@client.example"]})),
        ("put_own_schedule", api_event("PUT", account + "/statement-schedule", {"account_id": OWN},
            authorizer=who["admin"], body={"frequency": "monthly", "recipients": ["own@client.example"],
            "enabled": True})),
        ("bad_token", api_event("GET", account, {"account_id": AGENCY}, authorizer=who["invalid"])),
    ]  # fmt: skip
    run = lambdas.invoke("APIHandler", [event for _, event in api_steps], tmp)
    responses.update({name: i.response for (name, _), i in zip(api_steps, run.invocations, strict=True)})

    # Producers' events through EventBridge: moto's rule puts them on the intake queue.
    entries = [
        {"Source": "call-tracking.telephony", "DetailType": "UsageEvent", "Detail": json.dumps(detail)}
        for detail in [
            *(usage(f"dt-eb-call-{i}", SHARED, category="call_minutes", quantity="2") for i in range(3)),
            *(usage(f"dt-eb-text-{i}", OWN, category="text_messages", quantity="1") for i in range(2)),
            usage("dt-eb-unknown", "dt_nobody", category="text_messages", quantity="1"),
            {"event_id": "dt-eb-broken", "account_id": OWN, "category": "call_minutes"},
        ]
    ]
    assert not events.put_events(Entries=entries).get("FailedEntryCount")
    intake = _receive_all(intake_url)
    flow.sent["intake"] = intake
    run = lambdas.invoke("RouteUsageEvents", [sqs_records(intake, arn_of(INTAKE_QUEUE))], tmp)
    responses["route"] = run.invocations[0].response

    # The writer, ten FIFO records a batch (as the event source hands them), plus one it cannot read.
    usage_messages = _receive_all(url_of("usage-events.fifo"))
    flow.sent["usage"] = usage_messages
    batches = [
        sqs_records(usage_messages[i : i + 10], arn_of("usage-events.fifo")) for i in range(0, len(usage_messages), 10)
    ]
    batches[-1]["Records"].append(_malformed_record(arn_of("usage-events.fifo"), fifo=True))
    # Another writer charges the agency's balance between the first batch's read of the heads
    # and its first transaction: that transaction loses the race, reads the head again, retries.
    race = {
        "MessageId": str(uuid.uuid4()),
        "ReceiptHandle": uuid.uuid4().hex,
        "Body": json.dumps(usage("dt-race-1", SHARED, category="call_minutes", quantity="4")),
        "Attributes": {"MessageGroupId": AGENCY, "MessageDeduplicationId": "dt-race-1", "ApproximateReceiveCount": "1"},
    }
    other = {"before": "TransactWriteItems", "event": sqs_records([race], arn_of("usage-events.fifo"))}
    run = lambdas.invoke("IngestUsageEvents", batches, tmp, interleave={0: other})
    responses["ingest"] = [i.response for i in run.invocations] + [run.invocations[0].interleaved]

    # The billing worker: the recharges (and the alert) the writer and the API queued. The
    # sub-account's recharge has waited an hour (as after a card gateway outage): crediting
    # it sends its task again, as the writer does for a recharge that waited too long.
    from chalicelib.adapters.tables.balances import BalanceRecord
    from chalicelib.adapters.tables.base import bind

    bind(force=True)
    BalanceRecord(OWN).update(actions=[BalanceRecord.recharge_requested_at.set(datetime.now(UTC) - timedelta(hours=1))])
    tasks = _receive_all(url_of("billing-tasks"))
    flow.sent["billing-tasks"] = tasks
    event = sqs_records(tasks, arn_of("billing-tasks"))
    event["Records"].append(_malformed_record(arn_of("billing-tasks"), fifo=False))
    run = lambdas.invoke("ProcessBillingTasks", [event], tmp)
    responses["billing"] = run.invocations[0].response

    # The scheduler's tick, as the schedule rule delivers it, now. The schedule's first run
    # is still ahead (a tick that pretends a later time sends no period that has not
    # ended), so the schedule is made to have been due since before last month ended.
    from chalicelib.adapters.tables.base import bind
    from chalicelib.adapters.tables.statement_schedules import StatementScheduleRecord
    from chalicelib.domain.periods import format_instant

    bind(force=True)
    now = datetime.now(UTC)
    for owner in (AGENCY, OWN):
        StatementScheduleRecord(owner).update(
            actions=[StatementScheduleRecord.next_run_at.set(format_instant(now - timedelta(days=40)))]
        )
    tick = scheduled_event(now, f"arn:aws:events:{cfn.REGION}:{cfn.ACCOUNT}:rule/statements-due")
    run = lambdas.invoke("StatementsDue", [tick], tmp)
    responses["due"] = run.invocations[0].response

    # The sender: the statement asked for over HTTP and the scheduled one, five a batch.
    statements = _receive_all(url_of("statements"))
    flow.sent["statements"] = statements
    event = sqs_records(statements, arn_of("statements"))
    event["Records"].append(_malformed_record(arn_of("statements"), fifo=False))
    run = lambdas.invoke("SendStatements", [event], tmp)
    responses["send"] = run.invocations[0].response

    # The hourly reconcile, as its schedule rule delivers it: the whole flow's ledger checks out.
    tick = scheduled_event(datetime.now(UTC), f"arn:aws:events:{cfn.REGION}:{cfn.ACCOUNT}:rule/reconcile")
    run = lambdas.invoke("ReconcileLedger", [tick], tmp)
    responses["reconcile"] = run.invocations[0].response

    # The API once more, now that everything is charged: every read the console makes.
    statement_id = _body(responses["send_statement"])["statement_id"]
    payment_id = _body(responses["add_funds"])["id"]

    def read(resource: str, **path: str) -> dict[str, Any]:
        return api_event("GET", resource, path, authorizer=who["viewer"])

    alert_own = _body(responses["alert_own"])["id"]
    alert_total = _body(responses["alert_total"])["id"]
    alert_each = _body(responses["alert_each"])["id"]
    statement = {"account_id": AGENCY, "statement_id": statement_id}
    pdf = api_event("GET", account + "/statements/{statement_id}/pdf", statement, authorizer=who["viewer"])
    pdf["headers"]["Accept"] = pdf["multiValueHeaders"]["Accept"][0] = "application/pdf"
    reads: list[tuple[str, dict[str, Any]]] = [
        ("get_account", read(account, account_id=AGENCY)),
        ("balance", read(account + "/balance", account_id=AGENCY)),
        ("shared_balance", read(account + "/balance", account_id=SHARED)),
        ("get_settings", read(account + "/billing-settings", account_id=AGENCY)),
        ("get_rates", read(account + "/rates", account_id=OWN)),
        ("logs", read(account + "/logs", account_id=AGENCY)),
        ("logs_csv", api_event("GET", account + "/logs", {"account_id": OWN}, authorizer=who["viewer"],
            query={"format": "csv"})),
        ("agency_logs", read("/agencies/{agency_id}/logs", agency_id=AGENCY)),
        ("usage", api_event("GET", account + "/usage", {"account_id": SHARED}, authorizer=who["viewer"],
            query={"group_by": "month"})),
        ("agency_usage", read("/agencies/{agency_id}/usage", agency_id=AGENCY)),
        ("dashboard", read("/agencies/{agency_id}/dashboard", agency_id=AGENCY)),
        ("payments", read(account + "/payments", account_id=AGENCY)),
        ("receipt", read(account + "/payments/{payment_id}/receipt", account_id=AGENCY, payment_id=payment_id)),
        ("statements", read(account + "/statements", account_id=AGENCY)),
        ("statement", read(account + "/statements/{statement_id}", **statement)),
        ("statement_html", read(account + "/statements/{statement_id}/html", **statement)),
        ("statement_pdf", pdf),
        ("get_schedule", read(account + "/statement-schedule", account_id=AGENCY)),
        ("openapi", api_event("GET", "/openapi.json")),
        ("console", api_event("GET", "/console")),
        ("alerts", read(account + "/usage-alerts", account_id=OWN)),
        ("agency_alert", read("/agencies/{agency_id}/usage-alerts/{alert_id}", agency_id=AGENCY, alert_id=alert_total)),
        ("firings", read("/agencies/{agency_id}/usage-alerts/{alert_id}/firings", agency_id=AGENCY,
            alert_id=alert_total)),
        ("attention", read("/agencies/{agency_id}/attention", agency_id=AGENCY)),
        ("rename_alert", api_event("PUT", "/agencies/{agency_id}/usage-alerts/{alert_id}",
            {"agency_id": AGENCY, "alert_id": alert_each}, authorizer=who["admin"], body={"name": "Clients calling"})),
        ("delete_alert", api_event("DELETE", account + "/usage-alerts/{alert_id}",
            {"account_id": OWN, "alert_id": alert_own}, authorizer=who["admin"])),
        # An alert made after the usage it watches: its first look (below) fires it.
        ("alert_late", api_event("POST", account + "/usage-alerts", {"account_id": SHARED}, authorizer=who["admin"],
            body={"name": "Calls", "category": "call_minutes", "measure": "count", "period": "month",
            "threshold": "1", "recipients": ["owner@agency.example"]})),
        ("remove_webhook", api_event("PUT", account + "/billing-settings", {"account_id": AGENCY},
            authorizer=who["admin"], body={"webhook_url": None})),
    ]  # fmt: skip
    run = lambdas.invoke("APIHandler", [event for _, event in reads], tmp)
    responses.update({name: i.response for (name, _), i in zip(reads, run.invocations, strict=True)})

    # The deliveries: the firings' emails, the billing events (their webhook was removed since: nothing
    # is called), each alert's first look once writers know it (the late one fires), one unreadable.
    notices = _receive_all(url_of("notices"))
    flow.sent["notices"] = notices
    late = _body(responses["alert_late"])
    # Each alert's first look (an arm notice, which the redrive schedule queues five minutes on).
    arms = [
        {"type": "deliver", "owner": f"arm#{late['id']}", "id": "r000001"},
        {"type": "deliver", "owner": f"arm#{alert_each}", "id": "r000001"},
    ]
    deliveries = [m for m in notices if json.loads(m["Body"]).get("type") == "deliver"]
    records = [
        *deliveries,
        *({"MessageId": str(uuid.uuid4()), "ReceiptHandle": uuid.uuid4().hex, "Body": json.dumps(arm),
           "Attributes": {"ApproximateReceiveCount": "1"}} for arm in arms),
    ]  # fmt: skip
    batches = [sqs_records(records[i : i + 5], arn_of("notices")) for i in range(0, len(records), 5)]
    batches[-1]["Records"].append(_malformed_record(arn_of("notices"), fifo=False))
    run = lambdas.invoke("DeliverNotices", batches, tmp)
    responses["deliver"] = [i.response for i in run.invocations]

    # The redrive schedule: a notice whose message never reached the worker, written ten minutes ago.
    from chalicelib.adapters.tables.notices import NoticeRecord

    bind(force=True)
    waiting = NoticeRecord(
        f"alert#{alert_total}",
        "r000001#lost#x",
        event_id="evt_lost",
        event_type="t",
        account_id=AGENCY,
        data="{}",
        pending="P",
        created_at=(datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
    )
    waiting.save()
    tick = scheduled_event(datetime.now(UTC), f"arn:aws:events:{cfn.REGION}:{cfn.ACCOUNT}:rule/redrive-notices")
    run = lambdas.invoke("RedriveNotices", [tick], tmp)
    responses["redrive"] = run.invocations[0].response


def _body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


# -- what each function answered --------------------------------------------------------------------


def test_the_authorizer_answers_token_events(flow: Flow) -> None:
    answers = flow.responses["authorizer"]
    for name in ("service", "admin", "viewer"):
        statement = answers[name]["policyDocument"]["Statement"][0]
        assert statement["Effect"] == "Allow" and statement["Action"] == "execute-api:Invoke"
        assert answers[name]["context"]["role"] == {"service": "service", "admin": "admin", "viewer": "viewer"}[name]
    assert "auth_error" in answers["invalid"]["context"]
    assert "not-a-jwt" not in json.dumps(answers["invalid"])
    # The bad token's API call is a 401 in the contract's shape.
    assert flow.responses["bad_token"]["statusCode"] == 401
    assert set(_body(flow.responses["bad_token"])["error"]) == {"code", "message"}


def test_the_api_answers_rest_proxy_events(flow: Flow) -> None:
    expected = {
        "put_agency": 201, "put_shared": 201, "put_own": 201, "put_fresh": 201, "put_settings_own": 200,
        "add_funds_own": 201, "put_settings": 200, "add_funds": 201, "add_funds_replayed": 201, "put_rates": 200,
        "post_usage": 202, "put_schedule": 200, "send_statement": 202, "send_own_statement": 202,
        "put_own_schedule": 200,
        "get_account": 200, "balance": 200, "shared_balance": 200, "get_settings": 200, "get_rates": 200,
        "logs": 200, "logs_csv": 200, "agency_logs": 200, "usage": 200, "agency_usage": 200, "dashboard": 200,
        "payments": 200, "receipt": 200, "statements": 200, "statement": 200, "statement_html": 200,
        "statement_pdf": 200, "get_schedule": 200, "openapi": 200, "console": 200,
        "put_solo": 201, "alert_solo": 201, "alert_own": 201, "alert_total": 201, "alert_each": 201,
        "alerts": 200, "agency_alert": 200, "firings": 200,
        "attention": 200, "rename_alert": 200, "delete_alert": 204, "alert_late": 201, "remove_webhook": 200,
    }  # fmt: skip
    statuses = {name: flow.responses[name]["statusCode"] for name in expected}
    assert statuses == expected, {
        n: flow.responses[n].get("body", "")[:300] for n in expected if statuses[n] != expected[n]
    }
    assert _body(flow.responses["add_funds"]) == _body(flow.responses["add_funds_replayed"])
    pdf = flow.responses["statement_pdf"]
    assert pdf["isBase64Encoded"] is True and pdf["headers"]["Content-Type"] == "application/pdf"


def test_the_router_groups_eventbridge_events_by_billing_account(flow: Flow) -> None:
    intake = flow.sent["intake"]
    assert len(intake) == 7
    envelope = json.loads(intake[0]["Body"])  # the whole EventBridge event, as the rule delivers it
    assert envelope["detail-type"] == "UsageEvent" and "detail" in envelope
    assert flow.responses["route"] == {"batchItemFailures": []}
    routed = [m for m in flow.sent["usage"] if any(e.startswith("dt-eb-") for e in _event_ids(m))]
    groups = {m["Attributes"]["MessageGroupId"]: _event_ids(m) for m in routed}
    # The shared sub-account's events travel in its agency's group: one balance, one order.
    assert groups == {
        AGENCY: [f"dt-eb-call-{i}" for i in range(3)],
        OWN: [f"dt-eb-text-{i}" for i in range(2)],
    }


def _event_ids(message: dict[str, Any]) -> list[str]:
    body = json.loads(message["Body"])
    events = body["events"] if isinstance(body, dict) and "events" in body else [body]
    return [e["event_id"] for e in events]


def test_the_writer_charges_the_fifo_records(flow: Flow) -> None:
    assert flow.responses["ingest"] and all(r == {"batchItemFailures": []} for r in flow.responses["ingest"])
    charged = {e for m in flow.sent["usage"] for e in _event_ids(m)}
    assert {"dt-call-0", "dt-own-topup", "dt-eb-call-2", "dt-eb-text-1"} <= charged
    balance = _body(flow.responses["balance"])
    # 20.00 added; 10 x 60 + 3 x 2 + 4 (the race) minutes of the shared client's calls at 0.0125
    # (7.625) charged to the agency's balance, which crossed 15.00: the 50.00 auto-recharge.
    assert balance["balance"] == "62.375", balance


def test_the_billing_worker_recharges_and_the_sender_sends(flow: Flow) -> None:
    assert flow.responses["billing"] == {"batchItemFailures": []}
    payments = _body(flow.responses["payments"])["items"]
    assert {p["kind"] for p in payments} >= {"manual", "auto_recharge"}, payments
    assert flow.responses["due"]["enqueued"] >= 1, flow.responses["due"]
    assert len(flow.sent["statements"]) >= 2
    assert flow.responses["send"] == {"batchItemFailures": []}
    assert _body(flow.responses["statement"])["status"] == "sent"


def test_usage_alerts_fire_in_the_writer_and_are_delivered_from_the_queue(flow: Flow) -> None:
    responses = flow.responses
    kinds = [json.loads(m["Body"]) for m in flow.sent["notices"]]
    owners = {k["owner"] for k in kinds if k.get("type") == "deliver"}
    total, each = _body(responses["alert_total"])["id"], _body(responses["alert_each"])["id"]
    # The writer fired the agency's total, the client that called, and the client's own text alert.
    assert {f"alert#{total}", f"alert#{each}", f"alert#{_body(responses['alert_own'])['id']}"} <= owners
    assert any(o.startswith(f"hook#{AGENCY}") for o in owners)  # billing events for the agency's webhook
    assert all(r == {"batchItemFailures": []} for r in responses["deliver"]), responses["deliver"]
    [fired] = _body(responses["firings"])["items"]
    assert fired["account_id"] == AGENCY and fired["period"] == "month"
    assert responses["redrive"] == {"queued": 1}


def test_functions_trace_with_x_ray_when_the_stack_says_so(flow: Flow) -> None:
    tracing = flow.lambdas.stack.condition("TracingOn")
    assert tracing  # the default: Tracing=Active
    for run in flow.lambdas.runs:
        # The authorizer is not wrapped by the app's middleware: Lambda traces it, the tracer does not.
        assert run.xray_loaded == (run.function != "JwtAuth"), run.function


def test_every_log_line_is_json_and_written_once(flow: Flow) -> None:
    for run in flow.lambdas.runs:
        lines = [line for line in run.stdout.splitlines() if line.strip()]
        assert lines, f"{run.function} logged nothing"
        for line in lines:
            assert isinstance(json.loads(line), dict), f"{run.function} wrote a line that is not JSON: {line[:200]}"
    api_runs = [r for r in flow.lambdas.runs if r.function == "APIHandler"]
    requests = [json.loads(line) for r in api_runs for line in r.stdout.splitlines() if '"request"' in line]
    requests = [r for r in requests if r.get("message") == "request"]
    assert len(requests) == sum(len(r.invocations) for r in api_runs)  # one access line per request, once


# -- each role: exactly what its code calls --------------------------------------------------------


def _iam_requests(call: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """The IAM authorizations one API call needs: (action, resource ARNs any one of which suffices)."""
    service, operation, params = call["service"], call["operation"], call["params"]

    def arn(kind: str, resource: str) -> str:
        return f"arn:{cfn.PARTITION}:{kind}:{cfn.REGION}:{cfn.ACCOUNT}:{resource}"

    if service == "dynamodb":
        table = lambda name: arn("dynamodb", f"table/{name}")  # noqa: E731
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [(f"dynamodb:{operation}", [table(t)]) for t in params["RequestItems"]]
        if operation in ("TransactWriteItems", "TransactGetItems"):
            kinds = {
                "Put": "PutItem",
                "Update": "UpdateItem",
                "Delete": "DeleteItem",
                "ConditionCheck": "ConditionCheckItem",
                "Get": "GetItem",
            }
            return [(f"dynamodb:{kinds[kind]}", [table(t)]) for kind, t in params["TransactItems"]]
        resource = table(params["TableName"]) + (f"/index/{params['IndexName']}" if "IndexName" in params else "")
        return [(f"dynamodb:{operation}", [resource])]
    if service == "sqs":
        name = params.get("QueueName") or params["QueueUrl"].rstrip("/").rsplit("/", 1)[-1]
        return [(f"sqs:{ {'SendMessageBatch': 'SendMessage'}.get(operation, operation) }", [arn("sqs", name)])]
    if service == "sesv2" and operation == "SendEmail":
        sender = params["FromEmailAddress"].rsplit("<", 1)[-1].rstrip(">")
        return [("ses:SendEmail", [arn("ses", f"identity/{sender}"), arn("ses", f"identity/{sender.split('@')[1]}")])]
    if service == "ssm" and operation == "GetParameter":
        return [("ssm:GetParameter", [arn("ssm", f"parameter{params['Name']}")])]
    raise AssertionError(f"no IAM mapping for {service}.{operation}: add one here")


FUNCTIONS = [
    "APIHandler",
    "JwtAuth",
    "RouteUsageEvents",
    "IngestUsageEvents",
    "ProcessBillingTasks",
    "StatementsDue",
    "SendStatements",
    "DeliverNotices",
    "RedriveNotices",
    "ReconcileLedger",
]


def test_every_function_of_the_template_is_run(flow: Flow) -> None:
    assert sorted(flow.lambdas.functions()) == sorted(FUNCTIONS)
    assert {r.function for r in flow.lambdas.runs} == set(FUNCTIONS)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_role_allows_exactly_what_the_code_calls(flow: Flow, function: str) -> None:
    policy = flow.lambdas.role_policy(function)
    requests = [r for call in flow.lambdas.calls_of(function) for r in _iam_requests(call)]
    assert requests or function == "JwtAuth", f"{function} made no AWS call at all?"
    missing = sorted(
        {f"{action} on {' or '.join(resources)}" for action, resources in requests
         if not any(cfn.allows(policy, action, r) for r in resources)}
    )  # fmt: skip
    assert not missing, f"{function} calls what its role does not allow:\n" + "\n".join(missing)
    code = {s["Sid"] for s in policy["Statement"]} - set(PLATFORM_STATEMENTS)
    unused = sorted(
        f"{action} on {granted} ({sid})"
        for sid, action, granted in cfn.grants(policy, tuple(code))
        if not any(
            action.lower() == requested.lower() and any(cfn._matches(granted, r) for r in resources)
            for requested, resources in requests
        )
    )
    assert not unused, f"{function}'s role allows what none of its code called:\n" + "\n".join(unused)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_what_lambda_needs_is_granted_on_the_functions_own_resources(flow: Flow, function: str) -> None:
    lambdas = flow.lambdas
    policy = lambdas.role_policy(function)
    statements = {s["Sid"]: s for s in policy["Statement"]}
    log_group = lambdas.stack.get_att(log_group_logical_id(function), "Arn")
    assert statements["WriteOwnLogGroup"]["Resource"] == [log_group]
    assert lambdas.stack.resolve(lambdas.properties(function)["LoggingConfig"]) == {
        "LogFormat": "JSON",
        "LogGroup": lambdas.stack.names[log_group_logical_id(function)],
    }
    sources = [e for e in (lambdas.properties(function).get("Events") or {}).values() if e["Type"] == "SQS"]
    if sources:
        queue = lambdas.stack.resolve(sources[0]["Properties"]["Queue"])
        assert statements["EventSourceQueue"]["Resource"] == [queue]
    else:
        assert "EventSourceQueue" not in statements
    assert ("XRay" in statements) == lambdas.stack.condition("TracingOn")
    for statement in policy["Statement"]:
        for resource in statement["Resource"]:
            if statement["Sid"] == "XRay":
                assert resource == "*"  # X-Ray has no resource-level permissions
            else:
                assert resource.startswith(f"arn:{cfn.PARTITION}:"), (function, resource)
                assert f":{cfn.REGION}:{cfn.ACCOUNT}:" in resource, (function, resource)
    raw = json.dumps(lambdas.template["Resources"][role_logical_id(function)])
    assert "arn:aws:" not in raw, f"{function}: an ARN with a fixed partition"


def test_the_scheduled_reconcile_finds_the_flows_ledger_sound(flow: Flow) -> None:
    report = flow.responses["reconcile"]
    assert report["drift"] == 0, report["findings"]
    assert report["balances"] >= 3 and report["rolling_checked"] == report["balances"] and report["entries_checked"] > 0
