"""Every Lambda function of the stack: its memory, its timeout and exactly what its role allows.

One entry per function Chalice generates from app.py (keyed by its logical id in the
template). deploy/template.py turns each entry into the function's MemorySize and
Timeout, its log group, the visibility timeout of the queue it consumes (6x its
timeout) and its IAM role: the access listed here, plus what Lambda itself needs for
the function (its log group, its event source's queue, X-Ray when tracing is on).
Adding a function is adding an entry; the deploy tests fail until it has one.

Access is what the function's code calls (tests/deploy invokes every handler from
the built zip and checks the calls it records against the role, both ways: nothing
called that the role lacks, nothing allowed that no code calls).

Sizing (bench/deploy_cost.py measures each handler's peak memory on its largest
realistic input; bench/results.json holds the figures): MemorySize is at least 1.5x
the measured peak and never below 256 MB. Above that, Lambda's CPU share grows with
memory (1,769 MB is one vCPU) and the price per second grows with it too, so work
that is mostly CPU (rendering PDFs, a cold start) costs about the same GB-seconds at
a larger size and finishes sooner; work that mostly waits on DynamoDB or SQS does not.
Timeouts: an API function stops before API Gateway gives up (29 s); a queue's
visibility timeout is 6x its consumer's; the sender finishes inside its 5-minute
lease on a statement; the scheduler's tick inside its 15-minute period.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_MEMORY_MB = 256
MEMORY_HEADROOM = 1.5
API_GATEWAY_TIMEOUT_S = 29  # API Gateway's integration timeout: an API function must stop before it
VISIBILITY_FACTOR = 6  # Lambda's guidance: a queue's visibility timeout >= 6x its consumer's timeout

# DynamoDB actions, as IAM names them (a TransactWriteItems is authorized per item).
GET, BATCH_GET, QUERY, SCAN = "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan"
PUT, UPDATE, CONDITION_CHECK = "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"
DELETE = "dynamodb:DeleteItem"
SEND = ("sqs:SendMessage", "sqs:GetQueueUrl")


@dataclass(frozen=True)
class Access:
    """Some actions on some of the stack's resources (names as the app declares them)."""

    actions: tuple[str, ...]
    tables: tuple[str, ...] = ()  # table bases: "ledger_entries"
    indexes: tuple[tuple[str, str], ...] = ()  # (table base, index name)
    queues: tuple[str, ...] = ()  # queue names as declared locally: "billing-tasks", "usage-events-dlq.fifo"
    parameters: tuple[str, ...] = ()  # template parameters holding an SSM parameter name
    sender_identity: bool = False  # the SES identity emails come from (the address, or its domain)


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str  # the function's resource name in Chalice's template
    memory_mb: int
    timeout_s: int
    access: tuple[Access, ...]
    serves_people: bool = False  # a person waits on it (API, authorizer): sized for cold-start CPU too


def table(base: str, *actions: str) -> Access:
    return Access(actions=actions, tables=(base,))


def index_query(*indexes: tuple[str, str]) -> Access:
    return Access(actions=(QUERY,), indexes=indexes)


def send_to(*queues: str) -> Access:
    return Access(actions=SEND, queues=queues)


def read_parameter(*parameters: str) -> Access:
    return Access(actions=("ssm:GetParameter",), parameters=parameters)


SEND_EMAIL = Access(actions=("ses:SendEmail",), sender_identity=True)
JWT_SECRET = "JwtSecretParameter"
LEDGER_KEY = "LedgerKeyParameter"
STRIPE_KEY = "StripeApiKeyParameter"

# What the ledger writer needs (services/usage.py: accounts and heads read in one batch,
# a head read again when another writer moved it, entries + head + rollups in one
# transaction), wherever events or credits are charged. The first entry of a balance
# puts its head (FIRST_ENTRY): never so for a recharge, whose balance exists.
LEDGER_WRITE = (
    read_parameter(LEDGER_KEY),  # every entry is sealed with it
    table("accounts", BATCH_GET),
    table("balances", BATCH_GET, GET, UPDATE),
    table("ledger_entries", PUT),
    table("ledger_pages", PUT),
    table("rollups", UPDATE),
    table("balance_days", UPDATE),
)
FIRST_ENTRY = table("balances", PUT)
# A billing event for webhooks (services/webhooks.py emit): the endpoints, the event recorded
# once (an update that creates it), its delivery queued.
EMIT_EVENT = (table("webhook_endpoints", BATCH_GET), table("notices", UPDATE))

FUNCTIONS: tuple[FunctionSpec, ...] = (
    # Peak 131 MB (an agency statement of 1,000 sub-accounts); a person waits on every
    # request, and a cold one imports 1.6x what `import boto3` does: 0.6 vCPU.
    FunctionSpec(
        "APIHandler",
        memory_mb=1024,
        timeout_s=28,
        serves_people=True,
        access=(
            *LEDGER_WRITE,  # adding funds credits the balance
            FIRST_ENTRY,
            table("accounts", GET, UPDATE),
            table("ledger_entries", BATCH_GET),  # POST /usage-events: what is charged already
            table("ledger_pages", QUERY),
            table("rollups", BATCH_GET, QUERY),
            table("balance_days", BATCH_GET, QUERY),
            table("payments", GET, PUT, UPDATE),
            table("idempotency_keys", GET, PUT, UPDATE),
            table("statements", GET, PUT),
            table("statement_schedules", GET, UPDATE),
            table("rate_limits", UPDATE),
            # Usage alerts (with the owner's watch, on its account item) and their firings; the
            # billing webhook; events of payments made here.
            table("usage_alerts", GET, QUERY, PUT, DELETE),
            table("notices", QUERY),
            table("webhook_endpoints", GET, PUT, DELETE),
            *EMIT_EVENT,
            index_query(
                ("accounts", "by_agency"),
                ("ledger_pages", "by_agency_log"),
                ("payments", "by_billing_created"),
                ("payments", "by_agency_created"),
                ("statements", "by_account_created"),
            ),
            send_to("usage-events.fifo", "billing-tasks", "statements", "notices"),
            read_parameter(STRIPE_KEY),
            SEND_EMAIL,
        ),
    ),
    # Peak 50 MB; on the path of a request whose token API Gateway has not cached.
    FunctionSpec(
        "JwtAuth",
        memory_mb=512,
        timeout_s=10,
        serves_people=True,
        access=(read_parameter(JWT_SECRET),),
    ),
    # Peak 72 MB (500 events, its batch); waits on one BatchGetItem and SendMessageBatch.
    FunctionSpec(
        "RouteUsageEvents",
        memory_mb=256,
        timeout_s=30,
        access=(
            table("accounts", BATCH_GET),
            send_to("usage-events.fifo", "usage-events-dlq.fifo"),
        ),
    ),
    # Peak 91 MB (10 messages of 100 events of one balance); 0.8 s of CPU a full batch.
    FunctionSpec(
        "IngestUsageEvents",
        memory_mb=512,
        timeout_s=60,
        access=(
            *LEDGER_WRITE,
            FIRST_ENTRY,
            # Usage alerts, decided in the ledger transaction (services/alert_check.py): the values
            # of watched periods (an account's counters, an agency's in one scoped read), an agency's
            # guard, the firing; the currencies of an agency's clients for its cost alerts.
            table("rollups", BATCH_GET, QUERY),
            table("alert_guards", BATCH_GET, UPDATE),
            table("notices", UPDATE),
            index_query(("accounts", "by_agency")),
            send_to("billing-tasks", "usage-events-dlq.fifo", "notices"),
        ),
    ),
    # Peak 110 MB (a recharge through Stripe's library); the card gateway answers in seconds.
    FunctionSpec(
        "ProcessBillingTasks",
        memory_mb=512,
        timeout_s=60,
        access=(
            *LEDGER_WRITE,  # a recharge credits the balance
            table("accounts", GET),
            table("payments", GET, PUT, UPDATE),
            *EMIT_EVENT,  # payments, declines, low and past-due balances for webhooks
            send_to("billing-tasks", "billing-tasks-dlq", "notices"),
            read_parameter(STRIPE_KEY),
            SEND_EMAIL,
        ),
    ),
    # Peak 63 MB (501 schedules due at once: 5 s here, a query, a write and 1/10 send each).
    FunctionSpec(
        "StatementsDue",
        memory_mb=256,
        timeout_s=300,
        access=(
            index_query(("statement_schedules", "by_next_run")),
            table("statement_schedules", UPDATE),
            send_to("statements"),
        ),
    ),
    # Peak 141 MB (five agency statements of 1,000 sub-accounts with their PDFs: 4.7 s of
    # CPU): CPU-bound, so twice the memory is half the time for about the same price.
    FunctionSpec(
        "SendStatements",
        memory_mb=1024,
        timeout_s=120,
        access=(
            read_parameter(LEDGER_KEY),  # a statement's numbers are sealed with it
            table("accounts", GET),
            table("balances", GET, BATCH_GET),
            table("statements", UPDATE),
            table("statement_schedules", GET),
            table("rollups", BATCH_GET, QUERY),
            table("balance_days", BATCH_GET, QUERY),
            index_query(
                ("accounts", "by_agency"),
                ("payments", "by_billing_created"),
                ("payments", "by_agency_created"),
            ),
            *EMIT_EVENT,  # statement.sent for webhooks
            send_to("statements-dlq", "notices"),
            SEND_EMAIL,
        ),
    ),
    # Usage-alert emails and webhooks (5 a batch, each webhook attempt at most 5 s); an alert's
    # first look at its period (`arm`): an account's counters, or its agency's in one scoped read.
    FunctionSpec(
        "DeliverNotices",
        memory_mb=256,
        timeout_s=60,
        access=(
            table("notices", GET, UPDATE),
            table("usage_alerts", GET),
            table("accounts", GET, BATCH_GET),
            table("webhook_endpoints", GET),
            table("rollups", BATCH_GET, QUERY),
            index_query(("accounts", "by_agency")),
            send_to("notices", "notices-dlq"),
            SEND_EMAIL,
        ),
    ),
    # Every 10 minutes: notices whose message never reached the worker, from a sparse index.
    FunctionSpec(
        "RedriveNotices",
        memory_mb=256,
        timeout_s=60,
        access=(index_query(("notices", "by_pending")), send_to("notices")),
    ),
    # The hourly reconcile: what was posted since its last run, and a slice of the whole,
    # read by key (scans only of the balances and of its own checkpoints). Peak 608 MB on its
    # largest input (a first run: no checkpoint yet, an agency of 1,000 sub-accounts in its
    # rolling slice, read whole); a run with checkpoints reads what was posted since.
    FunctionSpec(
        "ReconcileLedger",
        memory_mb=1024,
        timeout_s=600,
        access=(
            read_parameter(LEDGER_KEY),
            table("balances", SCAN, BATCH_GET),
            table("reconcile_checkpoints", SCAN, GET, PUT),
            table("ledger_pages", QUERY),
            table("ledger_entries", BATCH_GET),
            table("accounts", BATCH_GET),
            table("rollups", QUERY),
            table("balance_days", QUERY),
            table("statements", BATCH_GET),
            index_query(
                ("accounts", "by_agency"),
                ("ledger_pages", "by_agency_log"),
                ("payments", "by_billing_created"),
                ("statements", "by_account_created"),
            ),
        ),
    ),
)


def function_spec(logical_id: str) -> FunctionSpec:
    for spec in FUNCTIONS:
        if spec.logical_id == logical_id:
            return spec
    raise KeyError(f"{logical_id}: no entry in deploy/functions.py FUNCTIONS (memory, timeout, role)")
