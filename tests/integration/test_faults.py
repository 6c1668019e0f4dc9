"""Faults injected at random into every DynamoDB call of the usage, recharge and statement paths
(throttling, transaction conflicts, answers lost after a write), and handlers that crash before
SQS deletes their messages: after every campaign, exactly once and every reconcile invariant hold.
bench/faults.py holds the harness; `make bench` runs more seeds and publishes the counts."""

from __future__ import annotations

from typing import Any

import pytest

from bench.faults import FaultInjector, recharge_campaign, statement_campaign, usage_campaign
from chalicelib.adapters.gateway.factory import reset_gateway
from chalicelib.adapters.tables.base import all_models, bind

pytestmark = [pytest.mark.usefixtures("aws"), pytest.mark.slow]


@pytest.fixture
def injector() -> Any:
    bind()
    injector = FaultInjector(rate=0.2, seed=20261201)
    injector.install()
    injector.attach_models(all_models())
    yield injector
    injector.uninstall()
    reset_gateway()


def test_usage_under_faults_is_charged_exactly_once(injector: FaultInjector) -> None:
    result = usage_campaign(injector, events=120, rate_seed=7, crash_rate=0.3)
    assert result["violations"] == []
    assert sum(result["faults_injected"].values()) > 5 and result["crashes_before_delete"] > 0, result


def test_recharges_under_faults_charge_the_card_once_and_credit_once(injector: FaultInjector) -> None:
    result = recharge_campaign(injector, accounts=4, rounds=2, seed=7)
    assert result["violations"] == []
    assert result["card_charges"] > 0 and sum(result["faults_injected"].values()) > 5


def test_statements_under_faults_are_sent(injector: FaultInjector) -> None:
    result = statement_campaign(injector, statements=4, seed=7)
    assert result["violations"] == []
    assert sum(result["faults_injected"].values()) > 0
