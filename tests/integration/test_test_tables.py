"""The tables the `aws` fixture makes with one request each (tests/conftest.py
`create_new_tables`) are the ones `make run` makes (`create_tables`)."""

from __future__ import annotations

import os
import uuid
from typing import Any

from chalicelib.adapters.aws import client
from chalicelib.adapters.schema import create_tables
from chalicelib.adapters.tables.base import all_models
from devtools.environment import apply_env, restore_env


def _shapes(prefix: str) -> dict[str, dict[str, Any]]:
    """What defines each table of a prefix (name without it, keys, attributes, indexes, billing)."""
    dynamodb = client("dynamodb")
    shapes = {}
    for model in all_models():
        table = dynamodb.describe_table(TableName=prefix + model.TABLE_BASE)["Table"]
        shapes[model.TABLE_BASE] = {
            "status": table["TableStatus"],
            "keys": sorted(str(k) for k in table["KeySchema"]),
            "attributes": sorted(str(a) for a in table["AttributeDefinitions"]),
            "indexes": sorted(
                (i["IndexName"], sorted(str(k) for k in i["KeySchema"]), str(i["Projection"]))
                for i in table.get("GlobalSecondaryIndexes", [])
            ),
            "local_indexes": table.get("LocalSecondaryIndexes", []),
            "billing": table.get("BillingModeSummary", {}).get("BillingMode"),
        }
    return shapes


def test_the_fixtures_tables_are_the_ones_create_tables_makes(aws: dict[str, Any]) -> None:
    fixture_prefix = os.environ["BILLING_TABLE_PREFIX"]
    assert sorted(aws["tables"]) == sorted(fixture_prefix + m.TABLE_BASE for m in all_models())

    other = f"t{uuid.uuid4().hex[:8]}-"
    saved = apply_env({"BILLING_TABLE_PREFIX": other})
    try:
        assert len(create_tables()) == len(all_models())
        by_make_run = _shapes(other)
    finally:
        restore_env(saved)
    by_fixture = _shapes(fixture_prefix)
    assert by_fixture == by_make_run
    assert all(shape["status"] == "ACTIVE" for shape in by_fixture.values())
