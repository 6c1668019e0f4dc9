"""Create the stage's tables (local stack and tests; CloudFormation does it in AWS)."""

from __future__ import annotations

import time
from typing import Any

from .tables.base import all_models, bind


def create_tables() -> list[str]:
    """Create every missing table and wait until it is active; returns names created.

    A table that exists already gets the indexes its model gained since it was
    created and loses those it no longer has (one UpdateTable each, waited for), so
    local data survives a change of indexes (and stops paying for one no read uses).
    """
    bind()
    created = []
    for model in all_models():
        if not model.exists():
            model.create_table(wait=True, billing_mode="PAY_PER_REQUEST")
            created.append(model.Meta.table_name)
        else:
            add_missing_indexes(model)
            remove_stale_indexes(model)
    return created


def remove_stale_indexes(model: Any, timeout_s: float = 300.0) -> list[str]:
    """Delete the table's global secondary indexes its model no longer declares; returns their names."""
    client = model._get_connection().connection.client
    table = model.Meta.table_name
    declared = {i["index_name"] for i in model._get_schema().get("global_secondary_indexes", [])}
    existing = {
        i["IndexName"] for i in client.describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes", [])
    }
    removed = []
    for name in sorted(existing - declared):
        client.update_table(TableName=table, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": name}}])
        deadline = time.monotonic() + timeout_s
        while any(
            i["IndexName"] == name
            for i in client.describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes", [])
        ):
            if time.monotonic() > deadline:
                raise TimeoutError(f"index {name} of {table} is still being deleted")
            time.sleep(0.5)
        removed.append(name)
    return removed


def add_missing_indexes(model: Any, timeout_s: float = 300.0) -> list[str]:
    """Create the model's global secondary indexes that its table lacks; returns their names."""
    client = model._get_connection().connection.client
    table = model.Meta.table_name
    existing = {
        i["IndexName"] for i in client.describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes", [])
    }
    added = []
    for index in model._get_schema().get("global_secondary_indexes", []):
        if index["index_name"] in existing:
            continue
        client.update_table(
            TableName=table,
            AttributeDefinitions=index["attribute_definitions"],
            GlobalSecondaryIndexUpdates=[
                {
                    "Create": {
                        "IndexName": index["index_name"],
                        "KeySchema": index["key_schema"],
                        "Projection": index["projection"],
                    }
                }
            ],
        )
        deadline = time.monotonic() + timeout_s
        while True:
            indexes = client.describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes", [])
            status = next((i.get("IndexStatus") for i in indexes if i["IndexName"] == index["index_name"]), None)
            if status == "ACTIVE":
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"index {index['index_name']} of {table} is still {status}")
            time.sleep(0.5)
        added.append(index["index_name"])
    return added


def delete_tables() -> None:
    bind()
    for model in all_models():
        if model.exists():
            model.delete_table()
