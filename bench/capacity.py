"""Capacity units the way AWS bills them, from the items a counting window saw written.

- Item size (DynamoDB's rules): every attribute name's UTF-8 bytes plus its value:
  strings their UTF-8 bytes, numbers 1 byte plus 1 per two significant digits,
  binary its bytes, booleans and nulls 1, lists and maps 3 plus each element's size
  plus 1 (a map's element also counts its key's bytes).
- A write is 1 WCU per started KB of the item (the larger of before and after: the
  item as it ended up, here); in a transaction 2 WCU per started KB.
- Every global secondary index the item is (or stays) in is written too: 1 WCU per
  started KB of its index entry = the projected attributes + the index keys + the
  table keys + 100 bytes. Index writes of a transaction are ordinary writes.
- A read is 1 RCU per started 4 KB, consistent; half of that eventually consistent.

Puts carry their item; updated items are read back after the window (uncounted) to
learn the size they ended with. Costs are also added up per partition key, of each
table and each index, to find the hottest.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .counting import Write

INDEX_OVERHEAD = 100
KB = 1024


def _number_size(text: str) -> int:
    digits = Decimal(text).normalize()
    significant = len(digits.as_tuple().digits) if digits != 0 else 1
    return 1 + math.ceil(significant / 2)


def value_size(value: Mapping[str, Any]) -> int:
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return _number_size(v)
    if kind == "B":
        return len(v) if isinstance(v, bytes) else len(v.encode())
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(value_size(e) + 1 for e in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(e) + 1 for k, e in v.items())
    if kind == "SS":
        return sum(len(e.encode()) for e in v)
    if kind == "NS":
        return sum(_number_size(e) for e in v)
    if kind == "BS":
        return sum(len(e) for e in v)
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


@dataclass(frozen=True)
class IndexShape:
    name: str
    hash_key: str
    range_key: str | None
    projection: str  # ALL | KEYS_ONLY | INCLUDE
    include: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableShape:
    name: str
    hash_key: str
    range_key: str | None
    indexes: tuple[IndexShape, ...]

    def key_of(self, item: Mapping[str, Any]) -> tuple[str, ...]:
        names = [self.hash_key, *([self.range_key] if self.range_key else [])]
        return tuple(str(item[n]) for n in names)


def shapes_of_models(models: Iterable[Any]) -> dict[str, TableShape]:
    """Keys and index projections of every PynamoDB model's table, by table name."""
    shapes = {}
    for model in models:
        schema = model._get_schema()
        keys = {k["AttributeName"]: k["KeyType"] for k in schema["key_schema"]}
        indexes = []
        for index in schema.get("global_secondary_indexes", []):
            index_keys = {k["AttributeName"]: k["KeyType"] for k in index["key_schema"]}
            projection = index["projection"]
            indexes.append(
                IndexShape(
                    index["index_name"],
                    next(n for n, t in index_keys.items() if t == "HASH"),
                    next((n for n, t in index_keys.items() if t == "RANGE"), None),
                    projection["ProjectionType"],
                    tuple(projection.get("NonKeyAttributes", ())),
                )
            )
        shapes[model.Meta.table_name] = TableShape(
            model.Meta.table_name,
            next(n for n, t in keys.items() if t == "HASH"),
            next((n for n, t in keys.items() if t == "RANGE"), None),
            tuple(indexes),
        )
    return shapes


def index_entry_size(table: TableShape, index: IndexShape, item: Mapping[str, Any]) -> int:
    keys = {table.hash_key, index.hash_key}
    keys |= {k for k in (table.range_key, index.range_key) if k}
    if index.projection == "ALL":
        projected = dict(item)
    else:
        wanted = keys | set(index.include)
        projected = {k: v for k, v in item.items() if k in wanted}
    return item_size(projected) + INDEX_OVERHEAD


@dataclass
class Capacity:
    table_wcu: int = 0
    index_wcu: int = 0
    items_written: int = 0
    index_writes: int = 0
    by_table: Counter[str] = field(default_factory=Counter)  # WCU, table and index ("table/index")
    by_partition: Counter[str] = field(default_factory=Counter)  # WCU per "table[/index]:partition key value"
    item_bytes: Counter[str] = field(default_factory=Counter)  # bytes written per table
    items_by_table: Counter[str] = field(default_factory=Counter)

    @property
    def total_wcu(self) -> int:
        return self.table_wcu + self.index_wcu

    def as_dict(self, events: int) -> dict[str, Any]:
        hottest = self.by_partition.most_common(5)
        return {
            "wcu_total": self.total_wcu,
            "wcu_tables": self.table_wcu,
            "wcu_indexes": self.index_wcu,
            "wcu_per_event": round(self.total_wcu / events, 3),
            "wcu_per_event_tables_only": round(self.table_wcu / events, 3),
            "items_written": self.items_written,
            "index_writes": self.index_writes,
            "wcu_by_table": dict(sorted(self.by_table.items())),
            "average_item_bytes_by_table": {
                t: round(self.item_bytes[t] / max(1, n), 1) for t, n in sorted(self.items_by_table.items())
            },
            "hottest_partitions_wcu": [{"partition": p, "wcu": w} for p, w in hottest],
        }


def _short(table: str) -> str:
    """A table name without the run's prefix: "bench1234-ledger_pages" -> "ledger_pages"."""
    return table.split("-", 1)[1] if "-" in table else table


def write_capacity(
    writes: Iterable[Write], shapes: Mapping[str, TableShape], final_items: Mapping[tuple[str, tuple[str, ...]], Any]
) -> Capacity:
    """What the writes cost: `final_items` holds each updated item as it ended up, by (table, key)."""
    capacity = Capacity()
    for write in writes:
        shape = shapes[write.table]
        if write.kind == "put":
            item = write.item
        else:
            item = final_items.get((write.table, shape.key_of(_plain(write.item)))) or write.item
        size = item_size(item)
        units = math.ceil(max(size, 1) / KB) * (2 if write.transactional else 1)
        table = _short(write.table)
        capacity.table_wcu += units
        capacity.items_written += 1
        capacity.by_table[table] += units
        capacity.item_bytes[table] += size
        capacity.items_by_table[table] += 1
        capacity.by_partition[f"{table}:{_plain(item)[shape.hash_key]}"] += units
        for index in shape.indexes:
            if index.hash_key not in item or (index.range_key and index.range_key not in item):
                continue  # sparse: not in this index
            entry_units = math.ceil(index_entry_size(shape, index, item) / KB)
            capacity.index_wcu += entry_units
            capacity.index_writes += 1
            capacity.by_table[f"{table}/{index.name}"] += entry_units
            capacity.by_partition[f"{table}/{index.name}:{_plain(item)[index.hash_key]}"] += entry_units
    return capacity


def read_capacity(
    reads: Iterable[tuple[str, Mapping[str, Any], bool]],
    shapes: Mapping[str, TableShape],
    final_items: Mapping[tuple[str, tuple[str, ...]], Any],
) -> Counter[str]:
    """RCU of point reads per partition key (a missing item still costs the minimum)."""
    per_partition: Counter[str] = Counter()
    for table, key, consistent in reads:
        shape = shapes[table]
        item = final_items.get((table, shape.key_of(_plain(key)))) or key
        units = math.ceil(max(item_size(item), 1) / (4 * KB)) * (1.0 if consistent else 0.5)
        per_partition[f"{_short(table)}:{_plain(key)[shape.hash_key]}"] += units  # type: ignore[assignment]
    return per_partition


def _plain(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Low-level attribute values to plain values (keys are strings or numbers here)."""
    return {k: next(iter(v.values())) for k, v in item.items()}


def fetch_final_items(writes: Iterable[Write], shapes: Mapping[str, TableShape], client: Any) -> dict[Any, Any]:
    """Read back every updated item (outside any counting window), 100 keys a BatchGetItem."""
    wanted: dict[str, dict[tuple[str, ...], Mapping[str, Any]]] = {}
    for write in writes:
        if write.kind == "update":
            wanted.setdefault(write.table, {})[shapes[write.table].key_of(_plain(write.item))] = write.item
    found: dict[Any, Any] = {}
    for table, keys in wanted.items():
        values = list(keys.values())
        for start in range(0, len(values), 100):
            request: dict[str, Any] = {table: {"Keys": values[start : start + 100]}}
            while request:
                answer = client.batch_get_item(RequestItems=request)
                for item in answer["Responses"].get(table, []):
                    found[(table, shapes[table].key_of(_plain(item)))] = item
                request = answer.get("UnprocessedKeys") or {}
    return found
