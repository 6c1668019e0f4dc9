import threading
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.adapters.gateway.base import (
    CardDetails,
    ChargeResult,
    ChargeStatus,
    GatewayError,
    GatewayTimeout,
    PaymentGateway,
)
from chalicelib.adapters.gateway.factory import get_gateway, reset_gateway, set_gateway
from chalicelib.adapters.gateway.simulated import (
    TIMEOUT_AFTER,
    TIMEOUT_BEFORE,
    SimulatedGateway,
    reference_for,
)
from chalicelib.config import ConfigurationError
from chalicelib.domain.cards import InvalidCard


@pytest.fixture(autouse=True)
def fresh_store() -> Iterator[None]:
    SimulatedGateway.reset()
    yield
    SimulatedGateway.reset()


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


def test_it_is_a_payment_gateway():
    gateway: PaymentGateway = SimulatedGateway()
    assert gateway.name == "simulated"


@pytest.mark.parametrize(
    ("token", "brand", "last4"),
    [
        ("pm_card_visa", "visa", "4242"),
        ("pm_card_mastercard", "mastercard", "4444"),
        ("pm_card_amex", "amex", "8431"),
        ("pm_card_chargeDeclined", "visa", "0002"),
        ("pm_card_chargeDeclinedInsufficientFunds", "visa", "9995"),
        ("pm_card_chargeDeclinedExpiredCard", "visa", "0069"),
        ("pm_card_visa_timeoutAfterCharge", "visa", "0077"),
    ],
)
def test_describe_card(token, brand, last4):
    assert SimulatedGateway().describe_card(token) == CardDetails(token=token, brand=brand, last4=last4)


@pytest.mark.parametrize("token", ["pm_card_visa", "pm_card_mastercard", "pm_card_amex"])
def test_good_cards_are_charged(token):
    result = charge(SimulatedGateway(), token, key=f"k-{token}")
    assert result == ChargeResult(ChargeStatus.SUCCEEDED, reference_for(f"k-{token}"))
    assert result.gateway_reference is not None
    assert result.gateway_reference.startswith("pi_sim_")
    [taken] = SimulatedGateway.charges()
    assert (taken.amount_cents, taken.currency, taken.card_token) == (2500, "usd", token)
    assert taken.metadata == {"payment_id": f"k-{token}", "account_id": "acct_1"}


@pytest.mark.parametrize(
    ("token", "code", "message"),
    [
        ("pm_card_chargeDeclined", "card_declined", "Your card was declined."),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds", "Your card has insufficient funds."),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", "Your card has expired."),
    ],
)
def test_declines_carry_stripes_codes(token, code, message):
    gateway = SimulatedGateway()
    result = charge(gateway, token)
    assert result.status is ChargeStatus.DECLINED
    assert (result.failure_code, result.failure_message) == (code, message)
    assert result.gateway_reference == reference_for("pay_1")
    assert SimulatedGateway.charges() == []
    assert [a.status for a in SimulatedGateway.attempts()] == [ChargeStatus.DECLINED]
    # Asking again with the same key replays the decline; it is not a new attempt.
    assert charge(gateway, token) == result
    assert len(SimulatedGateway.attempts()) == 1


def test_references_are_deterministic_per_key():
    assert reference_for("pay_1") == reference_for("pay_1") != reference_for("pay_2")
    assert charge(SimulatedGateway(), key="pay_1").gateway_reference == reference_for("pay_1")


def test_same_key_never_charges_twice_across_instances():
    first = charge(SimulatedGateway(), key="pay_1")
    again = charge(SimulatedGateway(), key="pay_1")  # a retried worker builds its own instance
    assert again == first
    [taken] = SimulatedGateway.charges()
    assert taken.calls == 2
    charge(SimulatedGateway(), key="pay_2")
    assert [c.idempotency_key for c in SimulatedGateway.charges()] == ["pay_1", "pay_2"]


@pytest.mark.parametrize(
    "change",
    [
        {"amount_cents": 2600},
        {"currency": "eur"},
        {"card_token": "pm_card_mastercard"},
        {"description": "Something else"},
        {"metadata": {"payment_id": "other"}},
    ],
)
def test_same_key_with_different_parameters_is_refused(change):
    gateway = SimulatedGateway()
    charge(gateway)
    with pytest.raises(GatewayError, match="different parameters"):
        charge(gateway, **change)
    assert len(SimulatedGateway.charges()) == 1


def test_currency_case_does_not_count_as_a_different_request():
    gateway = SimulatedGateway()
    assert charge(gateway, currency="USD") == charge(gateway, currency="usd")


def test_timeout_after_charge_card_takes_the_money_then_times_out_once():
    gateway = SimulatedGateway()
    with pytest.raises(GatewayTimeout):
        charge(gateway, "pm_card_visa_timeoutAfterCharge")
    assert len(SimulatedGateway.charges()) == 1  # the money was taken
    retried = charge(SimulatedGateway(), "pm_card_visa_timeoutAfterCharge")
    assert retried == ChargeResult(ChargeStatus.SUCCEEDED, reference_for("pay_1"))
    assert len(SimulatedGateway.charges()) == 1
    # Another payment with the same card times out again on its first try.
    with pytest.raises(GatewayTimeout):
        charge(gateway, "pm_card_visa_timeoutAfterCharge", key="pay_2")
    assert len(SimulatedGateway.charges()) == 2


def test_timeout_is_a_gateway_error():
    assert issubclass(GatewayTimeout, GatewayError)


def test_fault_timeout_before_takes_nothing():
    gateway = SimulatedGateway(fault=lambda key: TIMEOUT_BEFORE)
    with pytest.raises(GatewayTimeout):
        charge(gateway)
    assert SimulatedGateway.attempts() == []
    assert charge(SimulatedGateway()).status is ChargeStatus.SUCCEEDED
    assert len(SimulatedGateway.charges()) == 1


def test_fault_timeout_after_takes_the_money_once():
    gateway = SimulatedGateway(fault=lambda key: TIMEOUT_AFTER)
    for _ in range(3):
        with pytest.raises(GatewayTimeout):
            charge(gateway)
    assert len(SimulatedGateway.charges()) == 1
    assert charge(SimulatedGateway()) == ChargeResult(ChargeStatus.SUCCEEDED, reference_for("pay_1"))


def test_fault_timeout_after_on_a_decline_replays_the_decline():
    with pytest.raises(GatewayTimeout):
        charge(SimulatedGateway(fault=lambda key: TIMEOUT_AFTER), "pm_card_chargeDeclined")
    result = charge(SimulatedGateway(), "pm_card_chargeDeclined")
    assert (result.status, result.failure_code) == (ChargeStatus.DECLINED, "card_declined")


def test_fault_is_asked_per_call_and_per_key():
    asked: list[str] = []

    def fault(key: str) -> str | None:
        asked.append(key)
        return TIMEOUT_AFTER if asked.count(key) == 1 else None

    gateway = SimulatedGateway(fault=fault)
    with pytest.raises(GatewayTimeout):
        charge(gateway, key="a")
    assert charge(gateway, key="a").status is ChargeStatus.SUCCEEDED
    with pytest.raises(GatewayTimeout):
        charge(gateway, key="b")
    assert asked == ["a", "a", "b"]
    assert len(SimulatedGateway.charges()) == 2


def test_unknown_fault_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown fault"):
        charge(SimulatedGateway(fault=lambda key: "explode"))


def test_retries_under_injected_timeouts_charge_exactly_once_per_key():
    """1,000 payments, each tried up to 3 times through timeouts before and after the charge."""
    plan = {0: TIMEOUT_BEFORE, 1: TIMEOUT_AFTER, 2: None}
    calls: dict[str, int] = {}
    lock = threading.Lock()

    def fault(key: str) -> str | None:
        with lock:
            n = calls[key] = calls.get(key, 0) + 1
        index = int(key.split("_")[1])
        # Payments differ in how their attempts fail: some time out before, some after, some not at all.
        pattern = [plan[(index + n) % 3], plan[(index * 7 + n) % 3], None]
        return pattern[min(n, 3) - 1]

    outcomes: dict[str, ChargeResult] = {}

    def work(keys: list[str]) -> None:
        gateway = SimulatedGateway(fault=fault)
        for key in keys:
            for _attempt in range(3):
                try:
                    outcomes[key] = charge(gateway, key=key, metadata={"payment_id": key})
                    break
                except GatewayTimeout:
                    continue

    keys = [f"pay_{i}" for i in range(1000)]
    threads = [threading.Thread(target=work, args=(keys[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 1000
    taken = SimulatedGateway.charges()
    assert len(taken) == 1000
    assert sorted(c.idempotency_key for c in taken) == sorted(keys)
    assert {outcomes[k].gateway_reference for k in keys} == {c.reference for c in taken}


def test_concurrent_calls_with_one_key_charge_once():
    barrier = threading.Barrier(16)
    results: list[ChargeResult] = []

    def work() -> None:
        barrier.wait()
        results.append(charge(SimulatedGateway(), key="same"))

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    assert len(SimulatedGateway.charges()) == 1


@pytest.mark.parametrize("token", ["pm_card_unknown", "pm_card_visa_", "tok_visa", "", "visa"])
def test_unknown_tokens_are_invalid_cards(token):
    gateway = SimulatedGateway()
    with pytest.raises(InvalidCard):
        gateway.describe_card(token)
    with pytest.raises(InvalidCard):
        charge(gateway, token)
    assert SimulatedGateway.attempts() == []


@pytest.mark.parametrize("number", ["4242424242424242", "4242 4242 4242 4242", "5555-5555-5555-4444"])
def test_raw_card_numbers_are_refused(number):
    gateway = SimulatedGateway()
    with pytest.raises(InvalidCard, match="raw card number"):
        gateway.describe_card(number)
    with pytest.raises(InvalidCard, match="raw card number"):
        charge(gateway, number)


@pytest.mark.parametrize(
    "bad",
    [
        {"amount_cents": 0},
        {"amount_cents": -100},
        {"amount_cents": 25.0},
        {"amount_cents": True},
        {"amount_cents": "2500"},
        {"amount_cents": 100_000_000},
        {"currency": "us"},
        {"currency": "usdd"},
        {"currency": "u$d"},
        {"currency": ""},
        {"idempotency_key": ""},
        {"idempotency_key": "k" * 256},
    ],
)
def test_bad_amounts_currencies_and_keys_are_gateway_errors(bad):
    with pytest.raises(GatewayError) as e:
        charge(SimulatedGateway(), **bad)
    assert not isinstance(e.value, GatewayTimeout)
    assert SimulatedGateway.attempts() == []


def test_reset_forgets_everything():
    charge(SimulatedGateway())
    SimulatedGateway.reset()
    assert SimulatedGateway.charges() == []
    assert SimulatedGateway.charge_for_key("pay_1") is None


@pytest.fixture
def no_cached_gateway(monkeypatch) -> Iterator[None]:
    for name in ("BILLING_PAYMENT_GATEWAY", "BILLING_STRIPE_API_KEY", "BILLING_STRIPE_API_BASE", "BILLING_STAGE"):
        monkeypatch.delenv(name, raising=False)
    reset_gateway()
    yield
    reset_gateway()


def test_factory_defaults_to_the_simulator_locally(no_cached_gateway):
    gateway = get_gateway()
    assert isinstance(gateway, SimulatedGateway)
    assert get_gateway() is gateway


def test_factory_can_be_told_simulated_explicitly(no_cached_gateway, monkeypatch):
    monkeypatch.setenv("BILLING_STAGE", "prod")
    monkeypatch.setenv("BILLING_PAYMENT_GATEWAY", " Simulated ")
    assert get_gateway().name == "simulated"


def test_factory_refuses_to_guess_on_a_deployed_stage(no_cached_gateway, monkeypatch):
    monkeypatch.setenv("BILLING_STAGE", "prod")
    with pytest.raises(ConfigurationError, match="BILLING_PAYMENT_GATEWAY"):
        get_gateway()


def test_factory_refuses_unknown_gateways(no_cached_gateway, monkeypatch):
    monkeypatch.setenv("BILLING_PAYMENT_GATEWAY", "paypal")
    with pytest.raises(ConfigurationError, match="'simulated' or 'stripe'"):
        get_gateway()


def test_set_gateway_injects_a_configured_simulator(no_cached_gateway):
    injected = SimulatedGateway(fault=lambda key: TIMEOUT_BEFORE)
    set_gateway(injected)
    assert get_gateway() is injected
    with pytest.raises(GatewayTimeout):
        charge(get_gateway())
    reset_gateway()
    assert get_gateway() is not injected
