"""bind(): every model on one PynamoDB Connection, its botocore client made once, by one thread.

No AWS: making a botocore client reads only botocore's bundled JSON files.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest

from chalicelib.adapters.concurrency import run_all
from chalicelib.adapters.tables.base import all_models, bind, unbind


@pytest.fixture
def dynamodb_clients_made(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    made: list[str] = []
    original = botocore.session.Session.create_client

    def counting(session: botocore.session.Session, service_name: str, *args: Any, **kwargs: Any) -> Any:
        if service_name == "dynamodb":
            made.append(threading.current_thread().name)
        return original(session, service_name, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", counting)
    unbind()
    yield made
    unbind()


def test_every_model_shares_one_connection_that_knows_every_table(dynamodb_clients_made: list[str]) -> None:
    bind()
    models = all_models()
    connections = {id(model._get_connection().connection) for model in models}
    assert len(connections) == 1
    shared = models[0]._get_connection().connection
    for model in models:
        assert shared.get_meta_table(model.Meta.table_name).table_name == model.Meta.table_name


def test_a_first_fan_out_over_every_model_makes_one_client(dynamodb_clients_made: list[str]) -> None:
    def first_use(model: Any) -> Any:
        bind()
        return model._get_connection().connection.client

    models = all_models()
    clients = run_all([functools.partial(first_use, m) for m in models for _ in range(4)])
    assert len({id(c) for c in clients}) == 1
    assert len(dynamodb_clients_made) == 1, dynamodb_clients_made


def test_binding_again_makes_a_new_client_for_the_new_settings(dynamodb_clients_made: list[str]) -> None:
    bind()
    before = all_models()[0]._get_connection().connection.client
    bind(force=True)
    after = all_models()[0]._get_connection().connection.client
    assert after is not before
    assert len(dynamodb_clients_made) == 2
