"""The local stack end to end, over HTTP: what `make run` starts, with SEED=0 on free ports.

Usage events go in through `POST /usage-events` (chalice local), onto the FIFO
queue (moto), through the event pump into the same SQS handler Lambda calls, and
into the ledger (DynamoDB Local); they come back out of `/logs` and `/balance`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from devtools.run import Stack, start_stack
from tests.conftest import local_stack_config

pytestmark = pytest.mark.e2e

DEADLINE_SECONDS = 30


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    log = tmp_path_factory.mktemp("stack") / "chalice-local.log"
    config = local_stack_config(log, seed=False)
    running = start_stack(config)
    try:
        yield running
    finally:
        running.stop()
        # Everything it started is gone.
        for service in running.services:
            assert service.process is None or service.process.poll() is not None, service.name


def _get(stack: Stack, path: str, token_name: str = "SERVICE_TOKEN") -> Any:
    response = requests.get(
        stack.config.api_url + path,
        headers={"Authorization": f"Bearer {stack.tokens[token_name]}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _send(stack: Stack, method: str, path: str, body: object) -> requests.Response:
    return requests.request(
        method,
        stack.config.api_url + path,
        json=body,
        headers={"Authorization": f"Bearer {stack.tokens['SERVICE_TOKEN']}"},
        timeout=10,
    )


def test_usage_posted_over_http_is_charged_once_and_read_back(stack: Stack) -> None:
    account = "acct_e2e"
    created = _send(
        stack,
        "PUT",
        f"/accounts/{account}",
        {"name": "E2E Plumbing", "time_zone": "America/New_York", "emails": ["ops@e2e.example"]},
    )
    assert created.status_code == 201, created.text

    at = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    events = [
        {"event_id": "e2e-recharge-1", "account_id": account, "category": "recharge", "amount": "20.00",
         "occurred_at": at, "description": "Manual top-up"},
        {"event_id": "e2e-call-1", "account_id": account, "category": "call_minutes", "quantity": "3",
         "occurred_at": at, "description": "Inbound call (555) 010-7788", "metadata": {"call_id": "8812"}},
        {"event_id": "e2e-text-1", "account_id": account, "category": "text_messages", "quantity": "2",
         "occurred_at": at},
    ]  # fmt: skip
    first = _send(stack, "POST", "/usage-events", {"events": events})
    assert first.status_code == 202, first.text
    assert first.json() == {"accepted": 3, "duplicates": 0, "conflicts": []}
    # The platform redelivers one of them: accepted, and never charged twice.
    again = _send(stack, "POST", "/usage-events", {"events": [events[1]]})
    assert again.status_code == 202, again.text
    # (a duplicate if the pump charged it already, else queued and dropped by the writer)
    assert again.json()["accepted"] + again.json()["duplicates"] == 1 and again.json()["conflicts"] == []

    # Wait for the pump to have handled both messages and the queue to be empty.
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        balance = _get(stack, f"/accounts/{account}/balance")
        if balance["entries"] >= 3 and stack.pump.totals.deleted >= 2:
            break
        assert time.monotonic() < deadline, f"not charged in {DEADLINE_SECONDS}s: {balance}, {stack.pump.totals}"
        time.sleep(0.2)

    logs = _get(stack, f"/accounts/{account}/logs")
    assert [row["event_id"] for row in logs["items"]] == ["e2e-text-1", "e2e-call-1", "e2e-recharge-1"]
    assert [row["amount"] for row in logs["items"]] == ["-0.0158", "-0.0375", "20.00"]
    assert [row["balance_after"] for row in logs["items"]] == ["19.9467", "19.9625", "20.00"]
    assert logs["next_cursor"] is None
    assert logs["time_zone"] == "America/New_York"

    balance = _get(stack, f"/accounts/{account}/balance")
    assert balance["balance"] == "19.9467"  # 20.00 - 3 x 0.0125 - 2 x 0.0079
    assert balance["currency"] == "USD"
    assert balance["status"] == "ok"
    assert balance["billing_account_id"] == account
    assert balance["entries"] == 3
    assert stack.pump.totals.failed == 0
