"""Create the stage's tables (local stack and tests; CloudFormation does it in AWS)."""

from __future__ import annotations

from .tables.base import all_models, bind


def create_tables() -> list[str]:
    """Create every missing table and wait until it is active; returns names created."""
    bind()
    created = []
    for model in all_models():
        if not model.exists():
            model.create_table(wait=True, billing_mode="PAY_PER_REQUEST")
            created.append(model.Meta.table_name)
    return created


def delete_tables() -> None:
    bind()
    for model in all_models():
        if model.exists():
            model.delete_table()
