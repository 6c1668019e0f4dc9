"""Counting DynamoDB requests and items with botocore event hooks.

PynamoDB gives every model its own ``Connection``, and every Connection creates a
botocore session per thread and a client lazily (again whenever the client's
credentials go missing). Rather than chase those clients, ``install()`` wraps
``botocore.session.Session.create_client`` so that every DynamoDB client created
afterwards carries the hooks, and ``attach()`` adds them to clients that exist
already. Registration uses unique ids, so a client is never counted twice.

Hooks used (all per API call, not per retry, except ``before-send``):

- ``before-parameter-build.dynamodb.*``: the call and its parameters (items written,
  keys requested);
- ``after-call.dynamodb.*``: the parsed answer (items returned, Query/Scan ScannedCount,
  error code), per operation and per table (the table is taken from the call's
  parameters, or from a BatchGetItem answer);
- ``before-send.dynamodb.*``: every HTTP attempt, retries included;
- ``after-call-error.dynamodb.*``: calls that never got an answer (network).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.session

from chalicelib.adapters.concurrency import BRANCH_PATH

_HOOK_PREFIX = "bench-counting"
_CONTEXT_KEY = "bench_counting_operation"
_TABLE_KEY = "bench_counting_table"


@dataclass(frozen=True)
class Write:
    """One item a write request touched: a put carries the item, an update or delete its key."""

    table: str
    kind: str  # "put" | "update" | "delete"
    transactional: bool
    item: dict[str, Any]  # low-level attribute values: the whole item (put) or its key


def _writes(operation: str, params: dict[str, Any]) -> list[Write]:
    if operation == "TransactWriteItems":
        found = []
        for entry in params.get("TransactItems", []):
            for kind, spec in entry.items():
                if kind == "Put":
                    found.append(Write(spec["TableName"], "put", True, spec["Item"]))
                elif kind == "Update":
                    found.append(Write(spec["TableName"], "update", True, spec["Key"]))
                elif kind == "Delete":
                    found.append(Write(spec["TableName"], "delete", True, spec["Key"]))
        return found
    if operation == "PutItem":
        return [Write(params["TableName"], "put", False, params["Item"])]
    if operation == "UpdateItem":
        return [Write(params["TableName"], "update", False, params["Key"])]
    if operation == "DeleteItem":
        return [Write(params["TableName"], "delete", False, params["Key"])]
    if operation == "BatchWriteItem":
        found = []
        for table, requests in params.get("RequestItems", {}).items():
            for r in requests:
                if "PutRequest" in r:
                    found.append(Write(table, "put", False, r["PutRequest"]["Item"]))
                else:
                    found.append(Write(table, "delete", False, r["DeleteRequest"]["Key"]))
        return found
    return []


def critical_path(paths: list[tuple[tuple[int, int], ...]]) -> int:
    """Round trips one after another: each request counts 1, and a fan-out of side-by-side
    branches (chalicelib.adapters.concurrency) counts as its longest branch.

    `paths` holds, per request, the branches it ran in (fan-out id, branch index), outermost first.
    """

    def cost(members: list[tuple[tuple[int, int], ...]], depth: int) -> int:
        direct = sum(1 for p in members if len(p) == depth)
        branches: dict[int, dict[int, list[tuple[tuple[int, int], ...]]]] = {}
        for p in members:
            if len(p) > depth:
                fan_out, index = p[depth]
                branches.setdefault(fan_out, {}).setdefault(index, []).append(p)
        return direct + sum(max(cost(b, depth + 1) for b in fan.values()) for fan in branches.values())

    return cost(paths, 0)


def _written_items(operation: str, params: dict[str, Any]) -> int:
    """Items an operation asks to write (a ConditionCheck writes nothing)."""
    if operation == "TransactWriteItems":
        return sum(1 for item in params.get("TransactItems", []) if "ConditionCheck" not in item)
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        return 1
    if operation == "BatchWriteItem":
        return sum(len(requests) for requests in params.get("RequestItems", {}).values())
    return 0


def _keys_requested(operation: str, params: dict[str, Any]) -> int:
    """Keys a point read asks for (queries and scans ask for none in advance)."""
    if operation == "GetItem":
        return 1
    if operation == "BatchGetItem":
        return sum(len(spec.get("Keys", [])) for spec in params.get("RequestItems", {}).values())
    if operation == "TransactGetItems":
        return len(params.get("TransactItems", []))
    return 0


def _items_returned(operation: str, parsed: dict[str, Any]) -> int:
    if operation == "GetItem":
        return 1 if parsed.get("Item") else 0
    if operation == "BatchGetItem":
        return sum(len(items) for items in parsed.get("Responses", {}).values())
    if operation == "TransactGetItems":
        return sum(1 for r in parsed.get("Responses", []) if r.get("Item"))
    if operation in ("Query", "Scan"):
        return int(parsed.get("Count", 0))
    return 0


def _items_returned_by_table(operation: str, parsed: dict[str, Any], table: str | None) -> dict[str, int]:
    """Items returned, per table (BatchGetItem answers per table; the others name one)."""
    if operation == "BatchGetItem":
        return {name: len(items) for name, items in parsed.get("Responses", {}).items() if items}
    returned = _items_returned(operation, parsed)
    return {table or "?": returned} if returned else {}


@dataclass
class Tally:
    """What one counting window saw."""

    requests: Counter[str] = field(default_factory=Counter)  # API calls by operation
    http_attempts: int = 0  # HTTP requests sent, retries included
    errors: Counter[str] = field(default_factory=Counter)  # "<operation>:<error code>"
    items_written: Counter[str] = field(default_factory=Counter)  # by operation
    keys_requested: Counter[str] = field(default_factory=Counter)  # by operation (point reads)
    items_read: Counter[str] = field(default_factory=Counter)  # items returned, by operation
    unprocessed: int = 0  # BatchGet/BatchWrite leftovers the caller had to resend
    items_scanned: Counter[str] = field(default_factory=Counter)  # Query/Scan ScannedCount, by operation
    requests_by_table: Counter[str] = field(default_factory=Counter)  # single-table calls, by table name
    items_read_by_table: Counter[str] = field(default_factory=Counter)  # items returned, by table name
    writes: list[Write] = field(default_factory=list)  # every item written, for capacity (bench/capacity.py)
    paths: list[tuple[tuple[int, int], ...]] = field(default_factory=list)  # each request's parallel branch
    read_keys: list[tuple[str, dict[str, Any], bool]] = field(
        default_factory=list
    )  # point reads: table, key, consistent

    @property
    def round_trips(self) -> int:
        """Requests on the critical path (independent ones running side by side count once)."""
        return critical_path(self.paths)

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.total_requests,
            "requests_by_operation": dict(sorted(self.requests.items())),
            "http_attempts": self.http_attempts,
            "errors": dict(sorted(self.errors.items())),
            "items_written": sum(self.items_written.values()),
            "items_written_by_operation": dict(sorted(self.items_written.items())),
            "keys_requested": sum(self.keys_requested.values()),
            "items_read": sum(self.items_read.values()),
            "items_read_by_operation": dict(sorted(self.items_read.items())),
            "unprocessed_keys_or_items": self.unprocessed,
            "items_scanned": sum(self.items_scanned.values()),
            "requests_by_table": dict(sorted(self.requests_by_table.items())),
            "items_read_by_table": dict(sorted(self.items_read_by_table.items())),
            "round_trips": self.round_trips,
        }


class RequestCounter:
    """Counts DynamoDB traffic of every botocore client in the process while a window is open."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tally: Tally | None = None
        self._original_create_client: Callable[..., Any] | None = None
        self.clients_attached = 0

    # -- wiring -------------------------------------------------------------
    def install(self) -> None:
        """Hook every DynamoDB client created from now on (idempotent)."""
        if self._original_create_client is not None:
            return
        original = botocore.session.Session.create_client
        counter = self

        def create_client(session: botocore.session.Session, service_name: str, *args: Any, **kwargs: Any) -> Any:
            created = original(session, service_name, *args, **kwargs)
            if service_name == "dynamodb":
                counter.attach(created)
            return created

        self._original_create_client = original
        botocore.session.Session.create_client = create_client  # type: ignore[method-assign,assignment]

    def uninstall(self) -> None:
        if self._original_create_client is not None:
            botocore.session.Session.create_client = self._original_create_client  # type: ignore[method-assign]
            self._original_create_client = None

    def attach(self, client: Any) -> None:
        """Add the hooks to one existing botocore client (safe to repeat)."""
        events = client.meta.events
        owner = id(self)
        events.register("before-parameter-build.dynamodb.*", self._on_call, unique_id=f"{_HOOK_PREFIX}-call-{owner}")
        events.register("after-call.dynamodb.*", self._on_answer, unique_id=f"{_HOOK_PREFIX}-answer-{owner}")
        events.register("before-send.dynamodb.*", self._on_send, unique_id=f"{_HOOK_PREFIX}-send-{owner}")
        events.register("after-call-error.dynamodb.*", self._on_failure, unique_id=f"{_HOOK_PREFIX}-fail-{owner}")
        with self._lock:
            self.clients_attached += 1

    def attach_models(self, models: list[Any]) -> None:
        """Hook the clients PynamoDB models already hold (after ``bind()``)."""
        for model in models:
            self.attach(model._get_connection().connection.client)

    # -- windows ------------------------------------------------------------
    @contextmanager
    def window(self) -> Iterator[Tally]:
        """Count everything sent while the block runs; the Tally fills as it goes."""
        tally = Tally()
        with self._lock:
            if self._tally is not None:
                raise RuntimeError("counting windows do not nest")
            self._tally = tally
        try:
            yield tally
        finally:
            with self._lock:
                self._tally = None

    # -- hooks ----------------------------------------------------------------
    def _on_call(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        operation = str(model.name)
        context[_CONTEXT_KEY] = operation
        table = params.get("TableName")
        context[_TABLE_KEY] = table
        with self._lock:
            tally = self._tally
            if tally is None:
                return
            tally.requests[operation] += 1
            tally.paths.append(BRANCH_PATH.get())
            if isinstance(table, str):
                tally.requests_by_table[table] += 1
            written = _written_items(operation, params)
            if written:
                tally.items_written[operation] += written
            keys = _keys_requested(operation, params)
            if keys:
                tally.keys_requested[operation] += keys
            tally.writes.extend(_writes(operation, params))
            if operation == "BatchGetItem":
                for name, spec in params.get("RequestItems", {}).items():
                    tally.read_keys.extend((name, k, bool(spec.get("ConsistentRead"))) for k in spec.get("Keys", []))
            elif operation == "GetItem":
                tally.read_keys.append((str(table), params["Key"], bool(params.get("ConsistentRead"))))

    def _on_answer(self, parsed: dict[str, Any], model: Any, context: dict[str, Any] | None = None, **_: Any) -> None:
        operation = str(model.name)
        table = (context or {}).get(_TABLE_KEY)
        with self._lock:
            tally = self._tally
            if tally is None:
                return
            error = (parsed.get("Error") or {}).get("Code")
            if error:
                tally.errors[f"{operation}:{error}"] += 1
                return
            returned = _items_returned(operation, parsed)
            if returned:
                tally.items_read[operation] += returned
                tally.items_read_by_table.update(_items_returned_by_table(operation, parsed, table))
            if operation in ("Query", "Scan"):
                tally.items_scanned[operation] += int(parsed.get("ScannedCount", 0))
            leftovers = parsed.get("UnprocessedKeys") or {}
            tally.unprocessed += sum(len(spec.get("Keys", [])) for spec in leftovers.values())
            tally.unprocessed += sum(len(items) for items in (parsed.get("UnprocessedItems") or {}).values())

    def _on_send(self, **_: Any) -> None:
        with self._lock:
            if self._tally is not None:
                self._tally.http_attempts += 1

    def _on_failure(self, context: dict[str, Any], **_: Any) -> None:
        with self._lock:
            if self._tally is not None:
                self._tally.errors[f"{context.get(_CONTEXT_KEY, '?')}:no-answer"] += 1
