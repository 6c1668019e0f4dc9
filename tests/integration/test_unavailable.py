"""A dependency that is down or throttled is a 503 with Retry-After, in the contract's shape; never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber
from chalice.test import Client, HTTPResponse

from chalicelib.adapters.tables.accounts import AccountRecord
from chalicelib.adapters.tables.base import bind
from devtools.processes import free_port
from tests.integration.http_helpers import make_client, provision, service, usage_event, viewer


@pytest.fixture(scope="module")
def client(aws: Any) -> Client:
    return make_client()


def request(client: Client, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> HTTPResponse:
    if body:
        headers = {**headers, "Content-Type": "application/json"}
    return client.http.request(method, path, headers=headers, body=body)


def assert_unavailable(response: HTTPResponse) -> None:
    assert response.status_code == 503, response.body
    assert response.json_body["error"]["code"] == "unavailable", response.body
    assert response.json_body["error"]["message"]
    assert int(response.headers["Retry-After"]) >= 1


@pytest.fixture
def unreachable_dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """DynamoDB's endpoint is a port nobody listens on (connections are refused)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{free_port()}")
    bind(force=True)  # new connections, which read the endpoint again
    yield
    monkeypatch.undo()
    bind(force=True)


def test_reads_and_writes_answer_503_when_dynamodb_is_unreachable(client: Client, unreachable_dynamodb: None) -> None:
    assert_unavailable(request(client, "GET", "/accounts/acct_any", viewer("acct_any")))
    assert_unavailable(request(client, "PUT", "/accounts/acct_any", service(), b'{"name": "Acme"}'))
    body = b'{"events": [{"event_id": "e1", "account_id": "acct_any", "category": "call_minutes",'
    body += b' "occurred_at": "2026-01-15T09:00:00Z"}]}'
    assert_unavailable(request(client, "POST", "/usage-events", service(), body))


def test_throttled_dynamodb_answers_503_and_the_next_request_is_served(client: Client) -> None:
    account = provision(client)
    bind()
    dynamodb = AccountRecord._get_connection().connection.client
    stubber = Stubber(dynamodb)
    for _ in range(10):  # every attempt botocore's retries make is throttled too
        stubber.add_client_error(
            "get_item",
            service_error_code="ProvisionedThroughputExceededException",
            service_message="Rate of requests exceeds the allowed throughput.",
            http_status_code=400,
        )
    with stubber:
        assert_unavailable(request(client, "GET", f"/accounts/{account}", viewer(account)))
    assert request(client, "GET", f"/accounts/{account}", viewer(account)).status_code == 200


def test_a_throttled_queue_answers_503_with_retry_after(client: Client) -> None:
    from chalicelib.adapters.aws import client as aws_client
    from chalicelib.adapters.queues import queue_url
    from chalicelib.config import get_settings

    account = provision(client)
    queue_url(get_settings().usage_queue_name)  # cached before the stub takes over
    stubber = Stubber(aws_client("sqs"))
    for _ in range(10):
        stubber.add_client_error("send_message_batch", service_error_code="RequestThrottled", http_status_code=403)
    body = json.dumps({"events": [usage_event(account)]}).encode()
    with stubber:
        assert_unavailable(request(client, "POST", "/usage-events", service(), body))


def test_an_error_that_is_not_a_dependency_being_down_is_not_disguised_as_503(client: Client) -> None:
    account = provision(client)
    bind()
    stubber = Stubber(AccountRecord._get_connection().connection.client)
    stubber.add_client_error("get_item", service_error_code="ValidationException", http_status_code=400)
    with stubber:
        response = request(client, "GET", f"/accounts/{account}", viewer(account))
    assert response.status_code == 500
    assert response.json_body["error"]["code"] == "internal_error"
