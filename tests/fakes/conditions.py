"""The errors the adapters let through when a DynamoDB condition fails, built as PynamoDB builds them.

A fake raises these where its adapter does not catch the failure itself, so a service that
looks at `storage_errors.error_code(exc)` sees the same code from a fake as from the table.
"""

from __future__ import annotations

from typing import TypeVar

from botocore.exceptions import ClientError
from pynamodb.exceptions import PynamoDBException

E = TypeVar("E", bound=PynamoDBException)


def condition_failed(error: type[E], operation: str = "UpdateItem") -> E:
    """`error` (UpdateError, PutError, ...) wrapping a ConditionalCheckFailedException."""
    cause = ClientError(
        {"Error": {"Code": "ConditionalCheckFailedException", "Message": "The conditional request failed"}},
        operation,
    )
    return error("Failed to write item", cause=cause)
