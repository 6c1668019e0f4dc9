"""Schemathesis against the local stack: the API keeps its published contract under generated input.

The stack is `make run`'s (SEED=0, free ports, DynamoDB in memory) with the event
pump off, so nothing writes the ledger in the background. A few accounts are
provisioned (an agency, a sub-account with its own balance and a card, a shared-
billing sub-account, a lone account) and charged a little. For every operation of
GET /openapi.json, CASES_PER_OPERATION cases are generated from the document
(positive: valid by the schema), plus NEGATIVE_PER_OPERATION invalid ones, each
sent with a token drawn from every role (and a garbage one), at a known account
most of the time. Every response must:

- not be a 5xx;
- have a documented status code, content type and headers, and a body that matches
  the document's schema;
- when it is a 4xx, leave the ledger as it was (entry count, and every balance's
  sequence number and amount).

Failures are collected (not shrunk) and reported together.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from devtools.run import Stack, start_stack
from tests.conftest import TEST_SECRET, budget, local_stack_config, summary_line

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Per operation: `make test` runs the quick budget, `make test-long` (--hypothesis-profile=long) the long one.
CASES_PER_OPERATION = budget(quick=60, long=200)
NEGATIVE_PER_OPERATION = budget(quick=20, long=50)
ACCOUNTS = ["fz_agency", "fz_own", "fz_shared", "fz_solo"]
MAX_REPORTED = 25


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    log = tmp_path_factory.mktemp("fuzz") / "chalice-local.log"
    config = local_stack_config(log, seed=False, pump=False)
    running = start_stack(config)
    try:
        yield running
    finally:
        running.stop()


def _tokens() -> dict[str, str]:
    from chalicelib.domain.access import Role
    from chalicelib.services.tokens import issue_token

    ttl = timedelta(hours=2)
    return {
        "service": issue_token(TEST_SECRET, "platform-backend", "platform", Role.SERVICE, ttl),
        "agency_admin": issue_token(TEST_SECRET, "admin@fz-agency", "fz_agency", Role.ADMIN, ttl),
        "own_admin": issue_token(TEST_SECRET, "admin@fz-own", "fz_own", Role.ADMIN, ttl),
        "own_viewer": issue_token(TEST_SECRET, "viewer@fz-own", "fz_own", Role.VIEWER, ttl),
        "shared_viewer": issue_token(TEST_SECRET, "viewer@fz-shared", "fz_shared", Role.VIEWER, ttl),
        "solo_admin": issue_token(TEST_SECRET, "admin@fz-solo", "fz_solo", Role.ADMIN, ttl),
        "garbage": "not-a-token",
    }


def _provision(api: str, tokens: dict[str, str]) -> None:
    from chalicelib.services.usage import QueuedMessage, record_usage

    def put(path: str, token: str, body: dict[str, Any]) -> None:
        response = requests.put(api + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert response.status_code in (200, 201), response.text

    service = tokens["service"]
    put("/accounts/fz_agency", service, {"name": "Fuzz Agency", "kind": "agency", "time_zone": "America/New_York"})
    put("/accounts/fz_own", service, {"name": "Fuzz Own", "agency_id": "fz_agency", "emails": ["a@fz.example"]})
    put("/accounts/fz_shared", service, {"name": "Fuzz Shared", "agency_id": "fz_agency", "billing": "agency"})
    put("/accounts/fz_solo", service, {"name": "Fuzz Solo", "time_zone": "Europe/London"})
    put("/accounts/fz_own/billing-settings", tokens["own_admin"], {"primary_card": "pm_card_visa"})
    at = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    events = []
    for account in ACCOUNTS:
        events += [
            {"event_id": f"fz-{account}-topup", "account_id": account, "category": "recharge", "amount": "100.00",
             "occurred_at": at, "description": "Opening top-up"},
            {"event_id": f"fz-{account}-call", "account_id": account, "category": "call_minutes", "quantity": "7",
             "occurred_at": at, "description": "Inbound call"},
            {"event_id": f"fz-{account}-text", "account_id": account, "category": "text_messages", "quantity": "3",
             "occurred_at": at},
        ]  # fmt: skip
    rejected: list[str] = []
    outcome = record_usage(
        [QueuedMessage(e["event_id"], json.dumps(e), e["account_id"]) for e in events],
        dead_letter=lambda _m, reason, _raw: rejected.append(reason),
    )
    assert not rejected and outcome.charged == len(events), (rejected, outcome)


def _ledger_state() -> tuple[tuple[str, int, int], ...]:
    """Every balance head's (id, seq, amount). Every ledger entry is written in one
    transaction with its billing account's head, bumping `seq`: any ledger write changes this."""
    from chalicelib.adapters.aws import client
    from chalicelib.adapters.tables.balances import BalanceRecord
    from chalicelib.adapters.tables.base import bind

    bind()
    dynamodb = client("dynamodb")
    heads = []
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=BalanceRecord.Meta.table_name,
        ProjectionExpression="billing_account_id, seq, balance_micros",
        ConsistentRead=True,
    ):
        heads += [
            (i["billing_account_id"]["S"], int(i["seq"]["N"]), int(i["balance_micros"]["N"])) for i in page["Items"]
        ]
    return tuple(sorted(heads))


def _describe(case: Any, response: requests.Response | None, problem: str) -> str:
    status = response.status_code if response is not None else "-"
    body = (response.text[:300] if response is not None else "").replace("\n", " ")
    return (
        f"{case.operation.label} -> {status}: {problem.strip()[:600]}\n"
        f"    path={case.path_parameters} query={case.query} body={str(case.body)[:300]}\n    response={body}"
    )


def test_the_api_keeps_its_contract_under_generated_input(fuzz_stack: Stack) -> None:
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.result import Ok
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        negative_data_rejection,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    api = fuzz_stack.config.api_url
    tokens = _tokens()
    _provision(api, tokens)
    schema = schemathesis.openapi.from_url(api + "/openapi.json")
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
    ]
    counts: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    failures: list[str] = []
    started = time.monotonic()
    state = [_ledger_state()]

    def run(case: Any, token: str, account: str | None, negative: bool) -> None:
        label = case.operation.label
        counts[label] += 1
        if account is not None:
            for name in ("account_id", "agency_id"):
                if name in (case.path_parameters or {}):
                    case.path_parameters[name] = account
        if case.operation.definition.raw.get("security") != []:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
        response = None
        try:
            # A new connection per request: keep-alive against chalice local's server
            # waits ~40 ms per request on delayed ACKs.
            response = case.call(base_url=api, timeout=30)
            statuses[f"{response.status_code // 100}xx"] += 1
            case.validate_response(response, checks=[*checks, negative_data_rejection] if negative else checks)
        except Exception as exc:  # a failed check, or a transport error
            failures.append(_describe(case, response, f"{type(exc).__name__}: {exc}"))
        if response is not None and 400 <= response.status_code < 500:
            after = _ledger_state()
            if after != state[0]:
                failures.append(_describe(case, response, f"a {response.status_code} changed the ledger"))
            state[0] = after
        elif case.method.upper() != "GET":  # may have written: the next 4xx compares with this
            state[0] = _ledger_state()

    token_names = sorted(tokens)
    fuzz_settings = settings(
        max_examples=CASES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    results = list(schema.get_all_operations())
    assert all(isinstance(r, Ok) for r in results), [r for r in results if not isinstance(r, Ok)]
    operations = [r.ok() for r in results if isinstance(r, Ok)]
    assert len(operations) >= 17, [op.label for op in operations]
    # An operation without parameters or body (GET /openapi.json) has only the token to vary.
    fixed = {op.label for op in operations if not op.path_parameters and not op.query and not op.body}
    for operation in operations:

        @fuzz_settings
        @given(
            case=operation.as_strategy(GenerationMode.POSITIVE),
            token=st.sampled_from(token_names),
            account=st.sampled_from([*ACCOUNTS, *ACCOUNTS, None]),
        )
        def positive(case: Any, token: str, account: str | None) -> None:
            run(case, tokens[token], account, negative=False)

        positive()

        try:
            negative_strategy = operation.as_strategy(GenerationMode.NEGATIVE)
        except Exception:  # nothing in this operation can be made invalid
            continue

        @settings(fuzz_settings, max_examples=NEGATIVE_PER_OPERATION)
        @given(case=negative_strategy, token=st.sampled_from(token_names))
        def negative(case: Any, token: str) -> None:
            run(case, tokens[token], None, negative=True)

        try:
            negative()
        except Exception as exc:  # e.g. hypothesis could not generate invalid data here
            if "Unsatisfiable" not in type(exc).__name__:
                raise

    seconds = time.monotonic() - started
    varied = [n for label, n in counts.items() if label not in fixed]
    summary = (
        f"schemathesis: {sum(counts.values())} cases over {len(operations)} operations in {seconds:.0f}s "
        f"({min(varied)}-{max(varied)} per operation with inputs; {dict(sorted(statuses.items()))}); "
        f"{len(failures)} failures"
    )
    summary_line(summary)
    thin = {label: n for label, n in counts.items() if n < CASES_PER_OPERATION and label not in fixed}
    assert not failures, f"{summary}\n" + "\n".join(failures[:MAX_REPORTED])
    assert not thin, f"operations with fewer than {CASES_PER_OPERATION} cases: {thin}"
