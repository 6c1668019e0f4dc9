"""The bench's own DynamoDB Local (in memory, on a free port) and the environment pointing at it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from devtools.environment import apply_env, restore_env
from devtools.processes import DDB_JAR_SHA256, Service, free_port, start_dynamodb_local


@contextmanager
def dynamodb(endpoint: str | None = None) -> Iterator[dict[str, str]]:
    """Tables of their own (a unique prefix) in DynamoDB Local; yields what describes the setup.

    Starts an in-memory DynamoDB Local on a free port unless `endpoint` names a
    running one, and stops it afterwards.
    """
    service: Service | None = None
    if endpoint is None:
        service = start_dynamodb_local(free_port(), db_path=None)
        endpoint = service.url
    prefix = f"bench{uuid.uuid4().hex[:8]}-"
    env = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "BILLING_TABLE_PREFIX": prefix,
    }
    cleared = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "BILLING_DEFAULT_RATES", "BILLING_STAGE")
    saved = apply_env({**env, **dict.fromkeys(cleared)})
    try:
        from chalicelib.adapters.schema import create_tables

        create_tables()
        yield {
            "endpoint": endpoint,
            "started_here": "yes" if service is not None else "no (given endpoint)",
            "storage": "in-memory" if service is not None else "unknown (external)",
            "table_prefix": prefix,
            "dynamodb_local_jar_sha256": DDB_JAR_SHA256,
        }
    finally:
        if service is None:  # someone else's DynamoDB Local: leave no tables behind
            try:
                from chalicelib.adapters.schema import delete_tables

                delete_tables()
            except Exception as exc:
                print(f"bench: could not delete the bench tables ({prefix}*): {exc}")
        restore_env(saved)
        if service is not None:
            service.stop()
