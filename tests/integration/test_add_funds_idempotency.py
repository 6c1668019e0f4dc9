"""Adding funds: the Idempotency-Key is settled before the rate limit.

A replayed or in-flight key never uses up the per-account allowance; a request that
finds its key in flight waits briefly, then answers 409 in_progress with Retry-After;
a request that failed or crashed is finished by its retry, charging once.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from chalice.test import Client

import chalicelib.services.payments as payments  # the module itself (services/__init__.py binds stand-ins)
from chalicelib.adapters.gateway.factory import reset_gateway, set_gateway
from chalicelib.adapters.gateway.simulated import SimulatedGateway
from chalicelib.adapters.payments_repo import IdempotencyRepository
from chalicelib.services.errors import ServiceError, Unavailable
from chalicelib.services.payments import RequestInProgress
from chalicelib.services.rate_limits import RateLimited
from tests.conftest import set_rate_limits
from tests.integration.http_helpers import admin, make_client, ok_json, send, viewer
from tests.integration.payment_helpers import admin_of
from tests.integration.usage_helpers import new_id, provision

AMOUNT = {"amount": "10.00"}


@pytest.fixture(scope="module")
def client(aws: Any) -> Client:
    return make_client()


@pytest.fixture(autouse=True)
def simulated_gateway() -> Any:
    SimulatedGateway.reset()
    set_gateway(SimulatedGateway())
    yield
    reset_gateway()


def account_with_card(client: Client) -> str:
    account = provision(new_id("acct"))
    url = f"/accounts/{account}/billing-settings"
    ok_json(send(client, "PUT", url, admin(account), {"primary_card": "pm_card_visa"}))
    return account


def add(account: str, key: str) -> payments.Answer:
    return payments.add_funds(admin_of(account), account, AMOUNT, key)


def balance(client: Client, account: str) -> str:
    return str(ok_json(send(client, "GET", f"/accounts/{account}/balance", viewer(account)))["balance"])


def payment_count(client: Client, account: str) -> int:
    return len(ok_json(send(client, "GET", f"/accounts/{account}/payments", viewer(account)))["items"])


def test_parallel_replays_of_one_key_use_the_allowance_once(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    set_rate_limits(monkeypatch, "add_funds=2/3600")
    account = account_with_card(client)
    start = threading.Barrier(10)

    def replay(_: int) -> payments.Answer | ServiceError:
        start.wait()
        try:
            return add(account, "same-key")
        except ServiceError as exc:
            return exc

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(replay, range(10)))
    bodies = [a.body for a in answers if isinstance(a, payments.Answer)]
    others = [a for a in answers if not isinstance(a, payments.Answer)]
    assert all(isinstance(a, RequestInProgress) for a in others), others
    assert bodies and all(b == bodies[0] for b in bodies), "every replay gets the one answer"
    assert {a.status for a in answers if isinstance(a, payments.Answer)} == {201}
    assert payment_count(client, account) == 1 and balance(client, account) == "10.00"
    assert len(SimulatedGateway.charges()) == 1
    # Ten requests with one key used one of the two: one more key is admitted, then the limit.
    assert add(account, "second-key").status == 201
    with pytest.raises(RateLimited):
        add(account, "third-key")
    assert balance(client, account) == "20.00"


def test_a_key_in_flight_answers_409_in_progress_with_retry_after_then_the_answer(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_rate_limits(monkeypatch, "add_funds=1/3600")
    monkeypatch.setattr(payments, "IN_FLIGHT_WAIT_SECONDS", 0.3)
    account = account_with_card(client)
    charging, release = threading.Event(), threading.Event()

    def slow_gateway(_key: str) -> None:
        charging.set()
        assert release.wait(30)

    set_gateway(SimulatedGateway(fault=slow_gateway))
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(add, account, "slow-key")
        assert charging.wait(30)
        headers = {**admin(account), "Idempotency-Key": "slow-key"}
        url = f"/accounts/{account}/payments"
        response = send(client, "POST", url, headers, AMOUNT)
        assert response.status_code == 409, response.body
        assert response.json_body["error"]["code"] == "in_progress"
        assert 1 <= int(response.headers["Retry-After"]) <= 5
        release.set()
        assert first.result(30).status == 201
    # The retry gets the stored answer; the key's one request is all the allowance counted.
    replay = send(client, "POST", url, headers, AMOUNT)
    assert replay.status_code == 201 and replay.json_body == first.result().body
    assert payment_count(client, account) == 1 and len(SimulatedGateway.charges()) == 1


def test_a_failed_request_is_finished_by_its_retry_without_counting_again(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_rate_limits(monkeypatch, "add_funds=1/3600")
    account = account_with_card(client)
    set_gateway(SimulatedGateway(fault=lambda _key: "timeout_before"))
    with pytest.raises(Unavailable):
        add(account, "flaky-key")
    set_gateway(SimulatedGateway())
    assert add(account, "flaky-key").status == 201  # released at once: no wait, no second count
    assert payment_count(client, account) == 1 and balance(client, account) == "10.00"
    with pytest.raises(RateLimited):
        add(account, "another-key")


class Crash(BaseException):
    """The process dies mid-request: nothing it would have done afterwards happens."""


def test_a_crashed_request_is_taken_over_once_its_lease_runs_out(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_rate_limits(monkeypatch, "add_funds=1/3600")
    monkeypatch.setattr(payments, "IDEMPOTENCY_LEASE_SECONDS", 2)
    monkeypatch.setattr(payments, "IN_FLIGHT_WAIT_SECONDS", 0.2)
    account = account_with_card(client)

    def crash(_key: str) -> None:
        raise Crash

    set_gateway(SimulatedGateway(fault=crash))
    with monkeypatch.context() as dead:
        dead.setattr(IdempotencyRepository, "release", lambda self, key: None)  # a dead process releases nothing
        with pytest.raises(Crash):
            add(account, "crash-key")
    set_gateway(SimulatedGateway())
    with pytest.raises(RequestInProgress):
        add(account, "crash-key")  # the lease still holds
    time.sleep(2.1)
    assert add(account, "crash-key").status == 201
    assert payment_count(client, account) == 1 and balance(client, account) == "10.00"
    with pytest.raises(RateLimited):
        add(account, "another-key")


def test_a_request_refused_by_the_rate_limit_leaves_its_key_unused(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_rate_limits(monkeypatch, "add_funds=1/3600")
    account = account_with_card(client)
    assert add(account, "first").status == 201
    with pytest.raises(RateLimited):
        add(account, "refused")
    record_key = f"{account}#refused"
    assert IdempotencyRepository().get(record_key) is None
    set_rate_limits(monkeypatch, "add_funds=2/3600")
    assert add(account, "refused").status == 201
    assert balance(client, account) == "20.00"
