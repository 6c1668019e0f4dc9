"""The Stripe gateway against a local stub of the Stripe endpoints it calls (no AWS, no network)."""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.gateway.base import (
    CardDetails,
    ChargeStatus,
    GatewayError,
    GatewayTimeout,
    PaymentGateway,
)
from chalicelib.adapters.gateway.factory import get_gateway, reset_gateway
from chalicelib.adapters.gateway.stripe_gateway import StripeGateway
from chalicelib.config import ConfigurationError
from chalicelib.domain.cards import InvalidCard
from tests.integration.stripe_stub import StripeStub

CLIENT_TIMEOUT = 0.5


@pytest.fixture(scope="module")
def stub() -> Iterator[StripeStub]:
    with StripeStub(hang_seconds=CLIENT_TIMEOUT + 1.5) as running:
        yield running


@pytest.fixture
def stripe_stub(stub: StripeStub) -> StripeStub:
    stub.reset()
    return stub


@pytest.fixture
def gateway(stripe_stub: StripeStub) -> StripeGateway:
    return StripeGateway("sk_test_stub", api_base=stripe_stub.url, timeout_seconds=CLIENT_TIMEOUT)


def charge(gateway: PaymentGateway, token: str = "pm_card_visa", key: str = "pay_1", **overrides):
    args: dict[str, Any] = {
        "amount_cents": 2500,
        "currency": "USD",
        "card_token": token,
        "idempotency_key": key,
        "description": "Auto recharge",
        "metadata": {"payment_id": key, "account_id": "acct_1"},
    }
    args.update(overrides)
    return gateway.charge(**args)


def test_it_is_a_payment_gateway(gateway):
    as_protocol: PaymentGateway = gateway
    assert as_protocol.name == "stripe"


def test_success_creates_one_confirmed_off_session_payment_intent(gateway, stripe_stub):
    result = charge(gateway)
    assert result.status is ChargeStatus.SUCCEEDED
    assert result.failure_code is None
    [intent] = stripe_stub.payment_intents.values()
    assert result.gateway_reference == intent["id"]
    assert intent["status"] == "succeeded"
    assert (intent["amount"], intent["currency"], intent["payment_method"]) == (2500, "usd", "pm_card_visa")
    assert intent["metadata"] == {"payment_id": "pay_1", "account_id": "acct_1"}
    assert intent["description"] == "Auto recharge"
    [request] = stripe_stub.requests_to("POST", "/v1/payment_intents")
    assert request.headers["idempotency-key"] == "pay_1"
    assert request.headers["authorization"] == "Bearer sk_test_stub"
    assert request.params["confirm"] == "true"
    assert request.params["off_session"] == "true"


@pytest.mark.parametrize(
    ("token", "code", "message"),
    [
        ("pm_card_chargeDeclined", "card_declined", "Your card was declined."),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds", "Your card has insufficient funds."),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", "Your card has expired."),
    ],
)
def test_declines(gateway, stripe_stub, token, code, message):
    result = charge(gateway, token)
    assert result.status is ChargeStatus.DECLINED
    assert (result.failure_code, result.failure_message) == (code, message)
    [intent] = stripe_stub.payment_intents.values()  # Stripe keeps the declined PaymentIntent
    assert result.gateway_reference == intent["id"]
    assert intent["status"] == "requires_payment_method"
    assert stripe_stub.succeeded_count == 0
    # The same key replays the decline; no second attempt on the card.
    assert charge(gateway, token) == result
    assert stripe_stub.created_count == 1


@pytest.mark.parametrize(
    ("token", "brand", "last4"),
    [("pm_card_visa", "visa", "4242"), ("pm_card_mastercard", "mastercard", "4444"), ("pm_card_amex", "amex", "8431")],
)
def test_describe_card(gateway, stripe_stub, token, brand, last4):
    assert gateway.describe_card(token) == CardDetails(token=token, brand=brand, last4=last4)
    [request] = stripe_stub.requests_to("GET", "/v1/payment_methods/")
    assert request.path == f"/v1/payment_methods/{token}"


def test_unknown_payment_method_is_an_invalid_card(gateway, stripe_stub):
    with pytest.raises(InvalidCard, match="No such PaymentMethod"):
        gateway.describe_card("pm_card_nope")
    with pytest.raises(InvalidCard, match="No such PaymentMethod"):
        charge(gateway, "pm_card_nope")
    assert stripe_stub.created_count == 0


@pytest.mark.parametrize("bad", ["4242424242424242", "4242 4242 4242 4242", "tok_visa", ""])
def test_raw_numbers_and_non_tokens_never_reach_stripe(gateway, stripe_stub, bad):
    with pytest.raises(InvalidCard):
        gateway.describe_card(bad)
    with pytest.raises(InvalidCard):
        charge(gateway, bad)
    assert stripe_stub.requests == []


@pytest.mark.parametrize("bad", [{"amount_cents": 0}, {"amount_cents": 12.5}, {"currency": "dollars"}])
def test_bad_requests_are_refused_before_sending(gateway, stripe_stub, bad):
    with pytest.raises(GatewayError):
        charge(gateway, **bad)
    assert stripe_stub.requests == []


def test_stripe_validation_errors_are_gateway_errors(gateway, stripe_stub):
    with pytest.raises(GatewayError, match="at least") as e:
        charge(gateway, amount_cents=10)  # below Stripe's minimum charge
    assert not isinstance(e.value, GatewayTimeout)


def test_timeout_after_the_charge_then_retry_with_same_key_charges_once(gateway, stripe_stub):
    stripe_stub.fail_next(1, "hang_after")
    with pytest.raises(GatewayTimeout):
        charge(gateway)
    assert stripe_stub.succeeded_count == 1  # the money was taken; we did not hear
    retried = charge(gateway)
    assert retried.status is ChargeStatus.SUCCEEDED
    [intent] = stripe_stub.payment_intents.values()
    assert retried.gateway_reference == intent["id"]
    assert stripe_stub.created_count == 1
    assert len(stripe_stub.requests_to("POST", "/v1/payment_intents")) == 2  # no hidden client retries


def test_timeout_before_the_charge_then_retry_charges_once(gateway, stripe_stub):
    stripe_stub.fail_next(1, "hang_before")
    with pytest.raises(GatewayTimeout):
        charge(gateway)
    assert stripe_stub.created_count == 0
    assert charge(gateway).status is ChargeStatus.SUCCEEDED
    assert stripe_stub.created_count == 1


def test_server_errors_are_unknown_outcomes(gateway, stripe_stub):
    stripe_stub.fail_next(2, "error_500")
    with pytest.raises(GatewayTimeout):
        charge(gateway)
    with pytest.raises(GatewayTimeout):
        gateway.describe_card("pm_card_visa")
    assert charge(gateway).status is ChargeStatus.SUCCEEDED
    assert stripe_stub.created_count == 1
    assert len(stripe_stub.requests) == 3


def test_connection_refused_is_an_unknown_outcome():
    dead = StripeStub().start()
    url = dead.url
    dead.stop()
    gateway = StripeGateway("sk_test_stub", api_base=url, timeout_seconds=CLIENT_TIMEOUT)
    with pytest.raises(GatewayTimeout):
        charge(gateway)


def test_key_reused_with_a_different_amount_is_a_gateway_error(gateway, stripe_stub):
    charge(gateway)
    with pytest.raises(GatewayError, match="same parameters") as e:
        charge(gateway, amount_cents=3000)
    assert not isinstance(e.value, GatewayTimeout)
    assert stripe_stub.created_count == 1


def test_bad_api_key_is_a_gateway_error(stripe_stub):
    gateway = StripeGateway("rk_wrong", api_base=stripe_stub.url, timeout_seconds=CLIENT_TIMEOUT)
    with pytest.raises(GatewayError) as e:
        charge(gateway)
    assert not isinstance(e.value, (GatewayTimeout, InvalidCard))


def test_many_payments_with_timeouts_and_retries_charge_once_each(gateway, stripe_stub):
    keys = [f"pay_{i}" for i in range(20)]
    for i, key in enumerate(keys):
        if i % 3 == 0:
            stripe_stub.fail_next(1, "hang_after")
        elif i % 3 == 1:
            stripe_stub.fail_next(1, "error_500")
        for _attempt in range(3):
            try:
                assert charge(gateway, key=key).status is ChargeStatus.SUCCEEDED
                break
            except GatewayTimeout:
                continue
    assert stripe_stub.created_count == stripe_stub.succeeded_count == len(keys)
    assert sorted(pi["metadata"]["payment_id"] for pi in stripe_stub.payment_intents.values()) == sorted(keys)


def test_importing_the_gateway_module_does_not_import_stripe():
    code = (
        "import sys\n"
        "import chalicelib.adapters.gateway.stripe_gateway, chalicelib.adapters.gateway.factory\n"
        "print('stripe' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "False"


def test_factory_builds_a_stripe_gateway_from_the_environment(monkeypatch, stripe_stub):
    monkeypatch.setenv("BILLING_PAYMENT_GATEWAY", "stripe")
    monkeypatch.setenv("BILLING_STRIPE_API_KEY", "sk_test_stub")
    monkeypatch.setenv("BILLING_STRIPE_API_BASE", stripe_stub.url)
    reset_gateway()
    try:
        gateway = get_gateway()
        assert isinstance(gateway, StripeGateway)
        assert get_gateway() is gateway  # cached
        assert gateway.describe_card("pm_card_visa").last4 == "4242"
        assert len(stripe_stub.requests) == 1  # it went to the stub
    finally:
        reset_gateway()


def test_factory_requires_a_stripe_key(monkeypatch):
    monkeypatch.setenv("BILLING_PAYMENT_GATEWAY", "stripe")
    monkeypatch.delenv("BILLING_STRIPE_API_KEY", raising=False)
    reset_gateway()
    try:
        with pytest.raises(ConfigurationError, match="BILLING_STRIPE_API_KEY"):
            get_gateway()
    finally:
        reset_gateway()
