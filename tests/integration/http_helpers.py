"""Shared helpers for the HTTP tests: tokens, a Chalice test client, accounts and charges.

Every test module gets fresh tables from the `aws` fixture (tests/conftest.py);
inside a module, tests keep apart by using account ids of their own (`new_id`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from chalice.test import Client, HTTPResponse

from chalicelib.domain.access import Role
from chalicelib.services.tokens import issue_token
from chalicelib.services.usage import QueuedMessage, UsageOutcome, record_usage
from tests.conftest import TEST_SECRET

SERVICE_ACCOUNT = "platform"
Headers = dict[str, str]


def new_id(prefix: str = "acct") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


# -- tokens -----------------------------------------------------------------------
def token(
    account_id: str,
    role: Role | str = Role.VIEWER,
    *,
    secret: str = TEST_SECRET,
    ttl: timedelta = timedelta(hours=1),
    subject: str | None = None,
) -> str:
    return issue_token(secret, subject or f"user-of-{account_id}", account_id, role, ttl)


def bearer(raw_token: str) -> Headers:
    return {"Authorization": f"Bearer {raw_token}"}


def auth(account_id: str, role: Role | str = Role.VIEWER, **kwargs: Any) -> Headers:
    return bearer(token(account_id, role, **kwargs))


def viewer(account_id: str) -> Headers:
    return auth(account_id, Role.VIEWER)


def admin(account_id: str) -> Headers:
    return auth(account_id, Role.ADMIN)


def service() -> Headers:
    return auth(SERVICE_ACCOUNT, Role.SERVICE)


# -- requests -------------------------------------------------------------------
def make_client() -> Client:
    from app import app

    return Client(app)


def send(
    client: Client,
    method: str,
    path: str,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    *,
    raw: bytes | None = None,
) -> HTTPResponse:
    """One request; `body` is sent as JSON, `raw` as it is."""
    all_headers = dict(headers or {})
    data = b""
    if raw is not None:
        data = raw
        all_headers.setdefault("Content-Type", "application/json")
    elif body is not None:
        data = json.dumps(body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    response = client.http.request(method, path, headers=all_headers, body=data)
    assert response.status_code < 500, f"{method} {path} -> {response.status_code}: {response.body!r}"
    return response


def ok_json(response: HTTPResponse, status: int = 200) -> Any:
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.body!r}"
    return response.json_body


def assert_error(
    response: HTTPResponse, status: int, code: str | None = None, *, mentions: str | None = None
) -> dict[str, Any]:
    """The response is the contract's JSON error: {"error": {"code", "message"}}."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.body!r}"
    body = response.json_body
    assert isinstance(body, dict) and set(body) == {"error"}, response.body
    error = body["error"]
    assert isinstance(error.get("code"), str) and error["code"], error
    assert isinstance(error.get("message"), str) and error["message"], error
    if code is not None:
        assert error["code"] == code, error
    if mentions is not None:
        assert mentions in error["message"], error
    return dict(error)


# -- accounts -------------------------------------------------------------------
def provision(client: Client, account_id: str | None = None, **fields: Any) -> str:
    """Create an account through PUT /accounts/{id} with a service token; returns its id."""
    account_id = account_id or new_id()
    body = {"name": fields.pop("name", f"Account {account_id}"), **fields}
    response = send(client, "PUT", f"/accounts/{account_id}", service(), body)
    assert response.status_code in (200, 201), response.body
    return account_id


def agency_with_subs(client: Client, *, time_zone: str = "UTC") -> tuple[str, str, str]:
    """An agency, one sub-account on shared billing and one on its own balance."""
    agency = provision(client, new_id("agency"), kind="agency", time_zone=time_zone)
    shared = provision(client, new_id("shared"), agency_id=agency, billing="agency", time_zone=time_zone)
    own = provision(client, new_id("own"), agency_id=agency, time_zone=time_zone)
    return agency, shared, own


# -- events and charges -------------------------------------------------------------
def usage_event(
    account_id: str,
    category: str = "call_minutes",
    quantity: str = "3",
    *,
    event_id: str | None = None,
    occurred_at: str = "2026-01-15T09:00:00Z",
    **extra: Any,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": new_id("evt") if event_id is None else event_id,
        "account_id": account_id,
        "category": category,
        "quantity": quantity,
        "occurred_at": occurred_at,
    }
    event.update(extra)
    return event


def credit(account_id: str, amount: str, **extra: Any) -> dict[str, Any]:
    event = usage_event(account_id, "recharge", "1", **extra)
    event["amount"] = amount
    return event


def charge(
    events: Iterable[Mapping[str, Any]],
    *,
    clock: Callable[[], datetime] | None = None,
    expect_dead: int = 0,
) -> UsageOutcome:
    """Write events to the ledger the way the queue consumer does (without the queue)."""
    dead: list[tuple[str, str]] = []
    messages = [QueuedMessage(f"m-{i}-{uuid.uuid4().hex[:6]}", json.dumps(e), "g") for i, e in enumerate(events)]
    outcome = record_usage(
        messages,
        dead_letter=lambda message, reason, raw: dead.append((raw, reason)),
        clock=clock or (lambda: datetime.now(UTC)),
    )
    assert len(dead) == expect_dead, dead
    assert not outcome.failed_message_ids, outcome
    return outcome


def sqs_event(messages: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A Lambda SQS event from messages as `receive_message` returns them."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"MessageGroupId": m.get("Attributes", {}).get("MessageGroupId", "")},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def drain_queue(queue_name: str, *, max_rounds: int = 50) -> list[dict[str, Any]]:
    """Every message now on a queue (received and deleted), in receive order."""
    from chalicelib.adapters.aws import client as aws_client
    from chalicelib.adapters.queues import queue_url

    sqs = aws_client("sqs")
    url = queue_url(queue_name)
    received: list[dict[str, Any]] = []
    for _ in range(max_rounds):
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            break
        received.extend(batch)
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    return received


def all_pages(client: Client, path: str, headers: Headers, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Walk `next_cursor` to the end; returns (rows, pages)."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    sep = "&" if "?" in path else "?"
    while True:
        url = f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        body = ok_json(send(client, "GET", url, headers))
        pages += 1
        assert len(body["items"]) <= limit
        rows.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return rows, pages
        assert pages < 1000
