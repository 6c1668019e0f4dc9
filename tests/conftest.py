"""Test tiers and the AWS stand-ins they need.

- tests/unit: no AWS at all.
- tests/integration: DynamoDB Local (the real DynamoDB engine) and moto's server
  for SQS/SES, started once per session unless TEST_DYNAMODB_ENDPOINT /
  TEST_MOTO_ENDPOINT point at running ones.
- tests/e2e: the whole local stack over HTTP.

Each test module gets tables and queues of its own (a unique prefix), so tests do
not see each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.environment import apply_env, restore_env
from devtools.processes import Service, free_port, start_dynamodb_local, start_moto_server
from devtools.stack_config import StackConfig

TEST_SECRET = "test-secret-0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    url = os.environ.get("TEST_DYNAMODB_ENDPOINT")
    if url:
        yield url
        return
    service: Service = start_dynamodb_local(free_port(), db_path=None)
    try:
        yield service.url
    finally:
        service.stop()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    url = os.environ.get("TEST_MOTO_ENDPOINT")
    if url:
        yield url
        return
    service = start_moto_server(free_port())
    try:
        yield service.url
    finally:
        service.stop()


@pytest.fixture(scope="module")
def aws(dynamodb_endpoint: str, moto_endpoint: str) -> Iterator[dict[str, object]]:
    """Fresh tables and queues for this module, and the environment pointing at them."""
    from devtools.resources import create_all

    prefix = f"t{uuid.uuid4().hex[:8]}-"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
        "BILLING_TABLE_PREFIX": prefix,
        "BILLING_USAGE_QUEUE": f"{prefix}usage-events.fifo",
        "BILLING_USAGE_DLQ": f"{prefix}usage-events-dlq.fifo",
        "BILLING_TASKS_QUEUE": f"{prefix}billing-tasks",
        "BILLING_TASKS_DLQ": f"{prefix}billing-tasks-dlq",
        "BILLING_STATEMENTS_QUEUE": f"{prefix}statements",
        "BILLING_STATEMENTS_DLQ": f"{prefix}statements-dlq",
        "BILLING_NOTICES_QUEUE": f"{prefix}notices",
        "BILLING_NOTICES_DLQ": f"{prefix}notices-dlq",
        "BILLING_JWT_SECRET": TEST_SECRET,
    }
    saved = apply_env(env)
    try:
        yield create_all()
    finally:
        restore_env(saved)


def local_stack_config(chalice_log: Path, *, seed: bool, pump: bool = True) -> StackConfig:
    """The whole local stack as `make run` starts it, on free ports, in memory, signed with TEST_SECRET."""
    return StackConfig(
        api_port=free_port(),
        dynamodb_port=free_port(),
        moto_port=free_port(),
        db_path=None,  # in memory
        seed=seed,
        jwt_secret=TEST_SECRET,
        chalice_log=chalice_log,
        verbose=False,
        pump=pump,
    )
