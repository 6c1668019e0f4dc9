"""Per-account limits on costly actions, against DynamoDB Local: 429 with Retry-After."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.adapters.gateway.factory import reset_gateway, set_gateway
from chalicelib.adapters.gateway.simulated import SimulatedGateway
from chalicelib.domain.rate_limit import ADD_FUNDS, SEND_STATEMENT
from chalicelib.services.rate_limits import RATE_LIMITS_ENV, RateLimited, enforce
from tests.conftest import set_rate_limits
from tests.integration.http_helpers import admin, make_client, ok_json, provision, send


@pytest.fixture(scope="module")
def client(aws: Any) -> Client:
    return make_client()


@pytest.fixture(autouse=True)
def gateway():
    SimulatedGateway.reset()
    set_gateway(SimulatedGateway())
    yield
    reset_gateway()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_limit_admits_n_per_window_then_says_when_to_retry(aws, monkeypatch):
    monkeypatch.setenv(RATE_LIMITS_ENV, "send_statement=3/60")
    clock = Clock(1_800_000_010.5)
    for _ in range(3):
        enforce(SEND_STATEMENT, "acct_limited", clock)
    with pytest.raises(RateLimited) as refused:
        enforce(SEND_STATEMENT, "acct_limited", clock)
    assert refused.value.status == 429
    assert refused.value.retry_after == 50  # the window is [1_800_000_000, 1_800_000_060)
    assert refused.value.headers == {"Retry-After": "50"}
    # Other accounts and other actions have their own allowance.
    enforce(SEND_STATEMENT, "acct_other", clock)
    enforce(ADD_FUNDS, "acct_limited", clock)
    # The next window starts afresh.
    clock.now += 60
    enforce(SEND_STATEMENT, "acct_limited", clock)


def test_a_limit_of_zero_switches_it_off(aws, monkeypatch):
    monkeypatch.setenv(RATE_LIMITS_ENV, "send_statement=0/60")
    for _ in range(20):
        enforce(SEND_STATEMENT, "acct_unlimited")


def test_adding_funds_is_limited_per_account_with_retry_after(client, monkeypatch):
    set_rate_limits(monkeypatch, "add_funds=2/3600")
    account = provision(client)
    ok_json(
        send(client, "PUT", f"/accounts/{account}/billing-settings", admin(account), {"primary_card": "pm_card_visa"})
    )

    def add(key: str) -> Any:
        headers = {**admin(account), "Idempotency-Key": key}
        return send(client, "POST", f"/accounts/{account}/payments", headers, {"amount": "10.00"})

    assert add("a").status_code == 201
    assert add("b").status_code == 201
    # A replayed request gets its stored answer and is not counted.
    assert add("a").status_code == 201
    refused = add("c")
    assert refused.status_code == 429
    assert refused.json_body["error"]["code"] == "too_many_requests"
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    balance = ok_json(send(client, "GET", f"/accounts/{account}/balance", admin(account)))
    assert balance["balance"] == "20.00"  # the refused request charged nothing


def test_sending_statements_is_limited_per_account(client, monkeypatch):
    set_rate_limits(monkeypatch, "send_statement=2/3600")
    account = provision(client)
    body = {"from": "2026-10-01", "to": "2026-10-31", "recipients": ["owner@example.com"]}
    for _ in range(2):
        ok_json(send(client, "POST", f"/accounts/{account}/statements", admin(account), body), 202)
    refused = send(client, "POST", f"/accounts/{account}/statements", admin(account), body)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    # an invalid request is not counted against the allowance: it is a 400
    bad = send(client, "POST", f"/accounts/{account}/statements", admin(account), {**body, "recipients": []})
    assert bad.status_code == 400
