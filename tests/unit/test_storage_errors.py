"""Transient or permanent: what the writer retries and what the API answers 503 for."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from pynamodb.exceptions import (
    CancellationReason,
    GetError,
    PutError,
    TransactWriteError,
    UpdateError,
    VerboseClientError,
)

from chalicelib.adapters.storage_errors import error_code, is_transient, is_unavailable


def client_error(code: str, status: int = 400, operation: str = "PutItem", **extra: Any) -> ClientError:
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": f"{code} happened"},
        "ResponseMetadata": {"HTTPStatusCode": status},
        **extra,
    }
    return ClientError(response, operation)  # type: ignore[arg-type]


def transaction_cancelled(*codes: str | None) -> TransactWriteError:
    reasons = [None if c is None else CancellationReason(code=c) for c in codes]
    cause = VerboseClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"}},
        "TransactWriteItems",
        cancellation_reasons=reasons,
    )
    return TransactWriteError("Failed to write transaction items", cause)


UNAVAILABLE = [
    EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
    ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"),
    ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
    ConnectionRefusedError(111, "Connection refused"),
    TimeoutError("timed out"),
    client_error("ProvisionedThroughputExceededException"),
    client_error("ThrottlingException"),
    client_error("RequestLimitExceeded"),
    client_error("Throttling", operation="SendRawEmail"),  # SES
    client_error("RequestThrottled", operation="SendMessageBatch"),  # SQS
    client_error("InternalServerError", 500),
    client_error("ServiceUnavailable", 503),
    client_error("SomethingNew", 502),
    client_error("SomethingElse", 429),
    PutError("Failed to put item", EndpointConnectionError(endpoint_url="http://127.0.0.1:1")),
    GetError("Failed to get item", client_error("ProvisionedThroughputExceededException")),
    UpdateError("Failed to update item", client_error("InternalServerError", 500)),
    transaction_cancelled(None, "ThrottlingError", None),
]
CONFLICTS = [
    client_error("TransactionConflictException"),
    client_error("TransactionInProgressException"),
    transaction_cancelled("TransactionConflict", None),
    transaction_cancelled("TransactionConflict", "ThrottlingError"),
]
PERMANENT = [
    client_error("ValidationException"),
    client_error("ValidationException", operation="TransactWriteItems"),
    client_error("ConditionalCheckFailedException"),
    client_error("ItemCollectionSizeLimitExceededException"),
    client_error("ResourceNotFoundException"),
    client_error("AccessDeniedException", 403),
    client_error("MessageRejected", operation="SendRawEmail"),
    client_error("AWS.SimpleQueueService.NonExistentQueue", operation="SendMessageBatch"),
    PutError("Failed to put item", client_error("ValidationException")),
    transaction_cancelled(None, "ConditionalCheckFailed"),
    transaction_cancelled("ValidationError"),
    transaction_cancelled("TransactionConflict", "ConditionalCheckFailed"),
    transaction_cancelled("ThrottlingError", "ValidationError"),
    NoCredentialsError(),
    ValueError("a bug"),
    RuntimeError("anything unknown"),
    KeyError("x"),
]


@pytest.mark.parametrize("exc", UNAVAILABLE, ids=repr)
def test_unreachable_timed_out_throttled_and_5xx_are_unavailable_and_transient(exc):
    assert is_unavailable(exc)
    assert is_transient(exc)


@pytest.mark.parametrize("exc", CONFLICTS, ids=repr)
def test_conflicts_with_another_request_are_transient_but_not_unavailable(exc):
    assert is_transient(exc)
    assert not is_unavailable(exc)


@pytest.mark.parametrize("exc", PERMANENT, ids=repr)
def test_everything_else_is_permanent(exc):
    assert not is_transient(exc)
    assert not is_unavailable(exc)


def test_the_code_is_found_through_pynamodb_and_chained_causes():
    assert error_code(PutError("x", client_error("ValidationException"))) == "ValidationException"
    try:
        try:
            raise client_error("ThrottlingException")
        except ClientError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert error_code(outer) == "ThrottlingException"
        assert is_unavailable(outer)
    assert error_code(ValueError("x")) is None


def test_a_cause_that_loops_does_not_hang():
    first, second = RuntimeError("a"), RuntimeError("b")
    first.__cause__, second.__cause__ = second, first
    assert not is_transient(first)
