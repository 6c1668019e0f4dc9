"""One page of an index query, and the key that resumes it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

R = TypeVar("R")
T = TypeVar("T")


def take_page(
    results: Iterable[R], limit: int, convert: Callable[[R], T], resume_key: Callable[[R], dict[str, Any]]
) -> tuple[list[T], dict[str, Any] | None]:
    """The first `limit` results, converted, and the ExclusiveStartKey after the last one.

    The query asks for one item more than `limit`; reading it is how we know another
    page exists, so the key is None exactly when this page is the last.
    """
    items: list[T] = []
    last: R | None = None
    for record in results:
        if len(items) == limit:
            assert last is not None
            return items, resume_key(last)
        items.append(convert(record))
        last = record
    return items, None
