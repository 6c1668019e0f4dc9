"""Which errors from DynamoDB, SQS and SES are worth retrying, and which are not.

An error is transient only if it is classified so here: anything unknown is
permanent, so a message that can never be written is dead-lettered with its
reason instead of being retried until its queue gives up on it.

- `is_unavailable(exc)`: the dependency could not serve the request now (not
  reachable, timed out, throttled, or failing on its side: 5xx). The API answers
  503 with Retry-After; a retry later may succeed.
- `is_transient(exc)`: worth retrying: unavailable, or a conflict with another
  request that a retry resolves (TransactionConflict, TransactionInProgress).

A conditional check that failed is neither: it is the answer (a duplicate, a
balance that moved), and the caller decides what it means. Validation errors, an
item too large, a missing table, bad credentials are permanent.

PynamoDB wraps botocore's errors (PutError, TransactWriteError, ... with the
original as `cause`); both are looked through. The codes are botocore's own
retry lists (botocore.retries.standard) plus DynamoDB's transaction codes.
"""

from __future__ import annotations

from collections.abc import Iterator

# Throttling, as botocore's standard retry mode knows it, plus SQS/SES/KMS spellings.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "KMS.ThrottlingException",
        "KmsThrottled",
    }
)
# The service failed on its side, or timed out answering.
SERVER_CODES = frozenset(
    {
        "InternalServerError",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "AWS.SimpleQueueService.ServiceUnavailable",
    }
)
# Another request holds the item: retrying after a moment succeeds.
CONFLICT_CODES = frozenset({"TransactionConflict", "TransactionConflictException", "TransactionInProgressException"})
# Reasons in a cancelled transaction (CancellationReasons[].Code); any other reason
# (ConditionalCheckFailed, ValidationError, ItemCollectionSizeLimitExceeded) is the answer.
_THROTTLED_REASONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"})
_TRANSIENT_REASONS = _THROTTLED_REASONS | {"TransactionConflict"}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, then what it wraps (PynamoDB's `cause`, `__cause__`), without looping."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        wrapped = getattr(current, "cause", None)
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__


def _response(exc: BaseException) -> dict[str, object] | None:
    response = getattr(exc, "response", None)
    return response if isinstance(response, dict) else None


def error_code(exc: BaseException) -> str | None:
    """The AWS error code (`ThrottlingException`, ...) anywhere in the chain, or None."""
    for link in _chain(exc):
        response = _response(link)
        error = response.get("Error") if response else None
        if isinstance(error, dict) and error.get("Code"):
            return str(error["Code"])
    return None


def _status(exc: BaseException) -> int | None:
    for link in _chain(exc):
        response = _response(link)
        metadata = response.get("ResponseMetadata") if response else None
        if isinstance(metadata, dict) and isinstance(metadata.get("HTTPStatusCode"), int):
            return int(metadata["HTTPStatusCode"])
    return None


def _cancellation_codes(exc: BaseException) -> list[str]:
    """The reason codes of a cancelled transaction (None entries, the items that were fine, left out)."""
    for link in _chain(exc):
        reasons = getattr(link, "cancellation_reasons", None)
        if reasons:
            return [str(r.code) for r in reasons if r is not None and getattr(r, "code", None)]
        response = _response(link)
        raw = response.get("CancellationReasons") if response else None
        if isinstance(raw, list) and raw:
            return [str(r["Code"]) for r in raw if isinstance(r, dict) and r.get("Code") not in (None, "None")]
    return []


def _unreachable(exc: BaseException) -> bool:
    """No answer at all: connection refused or dropped, DNS, timeouts (botocore's and the socket's)."""
    from botocore.exceptions import ConnectionError as BotocoreConnectionError
    from botocore.exceptions import HTTPClientError

    for link in _chain(exc):
        if isinstance(link, (BotocoreConnectionError, HTTPClientError, ConnectionError, TimeoutError)):
            return True
    return False


def is_unavailable(exc: BaseException) -> bool:
    """The dependency could not serve the request now: unreachable, timed out, throttled or 5xx."""
    if _unreachable(exc):
        return True
    code = error_code(exc)
    if code in THROTTLING_CODES or code in SERVER_CODES:
        return True
    if code == "TransactionCanceledException":
        reasons = _cancellation_codes(exc)
        return bool(reasons) and all(r in _THROTTLED_REASONS for r in reasons)
    status = _status(exc)
    return status is not None and (status == 429 or status >= 500)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying as it is: unavailable, or a conflict with another request in flight.

    A cancelled transaction is transient only when every reason given is; one
    failed condition or invalid item makes it permanent (the caller reads the
    reasons to see which item).
    """
    if is_unavailable(exc):
        return True
    code = error_code(exc)
    if code in CONFLICT_CODES:
        return True
    if code == "TransactionCanceledException":
        reasons = _cancellation_codes(exc)
        return bool(reasons) and all(r in _TRANSIENT_REASONS for r in reasons)
    return False
