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
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, settings

from devtools.environment import apply_env, restore_env
from devtools.processes import Service, free_port, start_dynamodb_local, start_moto_server
from devtools.stack_config import StackConfig

TEST_SECRET = "test-secret-0123456789abcdef0123456789abcdef"


def _share_botocore_loader() -> None:
    """One botocore data loader for every session this test process creates.

    Each module points the app at tables of its own, so the app's cached clients are
    dropped and PynamoDB makes a new botocore session per model (16 tables): each
    session parsed endpoints.json and the service models again (0.2-0.5 s each on a
    busy machine, most of a module's setup). The loader only reads botocore's bundled
    JSON files, so sharing its cache changes no client's behaviour.
    """
    import botocore.loaders
    import botocore.session

    create = botocore.loaders.create_loader
    loaders: dict[str | None, botocore.loaders.Loader] = {}

    def shared_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
        if search_path_string not in loaders:
            loaders[search_path_string] = create(search_path_string)
        return loaders[search_path_string]

    botocore.session.create_loader = shared_loader  # type: ignore[assignment]


def _share_pynamodb_sessions() -> None:
    """One botocore session per thread (and set of credentials) for PynamoDB's connections.

    PynamoDB's Connection makes a botocore session per thread, and every module rebinds the
    models to its own tables (`bind()` makes one Connection and its client each time):
    registering a session's handlers cost ~0.1 s on this machine. Clients made from one
    session in one thread are made one at a time (as botocore requires); endpoints and
    region are still read at each client's creation, and credentials (which a session
    keeps) key the cache.
    """
    import botocore.session
    import pynamodb.connection.base

    create = botocore.session.get_session
    local = threading.local()
    credentials = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")

    def shared_session() -> botocore.session.Session:
        sessions: dict[tuple[str | None, ...], botocore.session.Session] = local.__dict__.setdefault("sessions", {})
        key = tuple(os.environ.get(name) for name in credentials)
        if key not in sessions:
            sessions[key] = create()
        return sessions[key]

    connections: Any = pynamodb.connection.base
    connections.get_session = shared_session


_share_botocore_loader()
_share_pynamodb_sessions()

# -- running the tiers side by side (pytest-xdist, `make test`) ----------------------------------------
#
# The tiers wait on DynamoDB Local, moto, the stack's processes and Chromium about half the time,
# so `make test` runs them in worker processes (TIER_WORKERS, 3 by default). A worker takes a
# whole module (its tables and stack are module fixtures), and the browser and deploy tiers
# whole, since their modules share one seeded stack and one built package (session fixtures):
# made once, by one worker.

_WHOLE_TIERS = ("tests/browser/", "tests/deploy/")


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class TierScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return next((tier for tier in _WHOLE_TIERS if module.startswith(tier)), module)

    return TierScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules marked slow first (in the order given), so that no worker is left running one alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# Lines for pytest's closing summary (fuzz case counts, the durability run, the package size). Under
# xdist a worker writes them and the controller prints them.
_SUMMARY: list[str] = []


def summary_line(text: str) -> None:
    """Print `text` after the run, under the test results."""
    _SUMMARY.append(text)


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # this process is an xdist worker
        workeroutput["summary"] = list(_SUMMARY)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    _SUMMARY.extend(getattr(node, "workeroutput", {}).get("summary", []))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in _SUMMARY:
        terminalreporter.write_line(line)


# The property tests that go through DynamoDB Local or the stack spend seconds per example.
# `make test` runs them on the budgets below (each still reaches every rule and branch it
# exists for); `make test-long` runs them as long as before (--hypothesis-profile=long).
# Neither profile times anything: hypothesis's 200 ms deadline per example (and its too_slow
# health check) failed unit properties that took 440-560 ms beside the other tiers on this
# shared machine. Speed is the bench's business, never a test's.
settings.register_profile("quick", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", parent=settings.get_profile("quick"))
settings.load_profile("quick")


def set_rate_limits(monkeypatch: pytest.MonkeyPatch, spec: str, margin_seconds: float = 30) -> None:
    """Set BILLING_RATE_LIMITS for a test that counts on the wall clock, clear of a window's end.

    The windows are fixed and aligned to the epoch (domain/rate_limit.py): a test that ran across
    the top of an hour found its allowance renewed halfway and failed (seen at 21:00:00). Within
    `margin_seconds` of the end of a window the spec names, this waits for the next window.
    """
    from chalicelib.domain.rate_limit import parse_limits
    from chalicelib.services.rate_limits import RATE_LIMITS_ENV

    monkeypatch.setenv(RATE_LIMITS_ENV, spec)
    for limit in parse_limits(spec).values():
        left = limit.window_seconds - time.time() % limit.window_seconds
        if limit.enabled and left < margin_seconds:
            time.sleep(left + 0.05)


def budget(quick: int, long: int) -> int:
    """How many examples (or steps) a slow property test runs under the active hypothesis profile."""
    return long if settings.get_current_profile_name() == "long" else quick


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

    if not os.environ.get("TEST_MOTO_ENDPOINT"):
        # moto's server is this session's own: forget what earlier modules left in it. Their
        # queues are not this module's, and their emails made every read of the sent mail
        # (moto-api/data.json, all of SES parsed) slower with each module (minutes by the end).
        requests.post(f"{moto_endpoint}/moto-api/reset", timeout=30).raise_for_status()

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
        yield create_all(create_tables=create_new_tables)
    finally:
        restore_env(saved)


def create_new_tables() -> list[str]:
    """Every table of a prefix nobody has used, with one CreateTable each.

    `chalicelib.adapters.schema.create_tables` (what `make run` and the e2e stacks use)
    first asks whether each table exists, then waits for it to be active: three more
    round trips a table, for 16 tables a module. DynamoDB Local makes a table active
    as it creates it. tests/integration/test_test_tables.py checks that both make the
    same tables.
    """
    from chalicelib.adapters.tables.base import all_models, bind

    bind()
    created = []
    for model in all_models():
        meta = model.Meta
        if model._ttl_attribute() is not None or hasattr(meta, "stream_view_type") or hasattr(meta, "tags"):
            raise NotImplementedError(f"{meta.table_name}: TTL, streams or tags: create it with create_tables")
        schema = model._get_schema()
        model._get_connection().create_table(
            attribute_definitions=schema["attribute_definitions"],
            key_schema=schema["key_schema"],
            global_secondary_indexes=schema["global_secondary_indexes"],
            local_secondary_indexes=schema["local_secondary_indexes"],
            billing_mode="PAY_PER_REQUEST",
        )
        created.append(meta.table_name)
    return created


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
