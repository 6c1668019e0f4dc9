"""services/payments.py: adding funds now (charge, credit, receipt), its Idempotency-Key (replay,
in flight, take-over of a released or run-out lease), declines, gateway timeouts, crediting a
payment exactly once, and Payment History."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.adapters.gateway.simulated import TIMEOUT_AFTER, TIMEOUT_BEFORE, SimulatedGateway
from chalicelib.domain.auto_recharge import TaskKind
from chalicelib.domain.money import MICROS_PER_UNIT
from chalicelib.domain.payments import CardOnFile, Payment, PaymentKind, PaymentStatus, payment_id_for_request
from chalicelib.services.errors import BadRequest, Conflict, Forbidden, Unavailable
from chalicelib.services.payments import (
    IN_FLIGHT_POLL_SECONDS,
    Answer,
    RequestInProgress,
    SharedBilling,
    add_funds,
    credit_payment,
    list_payments,
)
from chalicelib.services.rate_limits import RateLimited
from tests.conftest import set_rate_limits
from tests.fakes.world import admin, card_payment, viewer
from tests.unit.services.payments.conftest import World

UNIT = MICROS_PER_UNIT


def add(world: World, account: str, key: str = "key-1", body: object | None = None, **kwargs: Any) -> Answer:
    """As the route calls it; waiting for a request in flight moves the fake clock, not the test."""
    kwargs.setdefault("sleep", world.clock.sleep)
    kwargs.setdefault("monotonic", lambda: world.clock.now.timestamp())
    return add_funds(admin(account), account, {"amount": "50.00"} if body is None else body, key, **kwargs)


def record_key(account: str, key: str) -> str:
    """The idempotency table's key (tables/idempotency.py): "<account id>#<Idempotency-Key>"."""
    return f"{account}#{key}"


@pytest.fixture
def acme(world: World) -> str:
    world.provision("acme", emails=["ops@acme.example"])
    world.settings("acme", primary_card="pm_card_visa", backup_card="pm_card_mastercard")
    return "acme"


# -- a new key ----------------------------------------------------------------------------------------


def test_adding_funds_charges_the_card_credits_the_balance_and_mails_the_receipt(world: World, acme: str) -> None:
    answer = add(world, acme, body={"amount": "50.00"})
    assert answer.status == 201
    body = answer.body
    assert (body["status"], body["amount"], body["kind"], body["card_brand"], body["card_last4"]) == (
        "succeeded",
        "50.00",
        "manual",
        "visa",
        "4242",
    )
    assert body["id"] == payment_id_for_request(acme, "key-1")
    assert body["receipt_number"] == 1 and body["receipt"] == f"/accounts/acme/payments/{body['id']}/receipt"
    assert body["description"] == "Added funds by admin@acme"
    assert world.balance(acme) == 50 * UNIT
    [charge] = SimulatedGateway.charges()
    assert (charge.amount_cents, charge.card_token, charge.idempotency_key) == (5000, "pm_card_visa", body["id"])
    [mail] = world.mailer.sent
    assert mail.to == ["ops@acme.example"] and mail.subject == "Receipt No. 1: 50.00 USD added to acme Inc"
    assert [a.content_type for a in mail.attachments] == ["application/pdf"]
    stored = world.idempotency.get(record_key(acme, "key-1"))
    assert stored is not None and stored.answered and json.loads(stored.response_json or "") == body


def test_the_backup_card_when_asked_for(world: World, acme: str) -> None:
    answer = add(world, acme, body={"amount": "10.00", "card": "backup"})
    assert answer.status == 201 and answer.body["card_brand"] == "mastercard"
    assert SimulatedGateway.charges()[0].card_token == "pm_card_mastercard"


def test_a_replay_gets_the_first_answer_without_charging_or_counting_again(
    world: World, acme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_rate_limits(monkeypatch, "add_funds=2/3600")
    first = add(world, acme)
    assert add(world, acme) == first
    assert add(world, acme) == first
    assert len(SimulatedGateway.charges()) == 1 and world.balance(acme) == 50 * UNIT
    assert len(world.mailer.sent) == 1
    assert sum(c.hits for c in world.rate_limits.counters.values()) == 1  # only the request that claimed the key counts
    assert add(world, acme, key="key-2").status == 201


def test_a_key_used_with_another_request_is_refused(world: World, acme: str) -> None:
    add(world, acme, body={"amount": "50.00"})
    with pytest.raises(Conflict):
        add(world, acme, body={"amount": "60.00"})
    with pytest.raises(Conflict):
        add(world, acme, body={"amount": "50.00", "card": "backup"})
    assert world.balance(acme) == 50 * UNIT


def test_the_same_key_on_two_accounts_is_two_requests(world: World, acme: str) -> None:
    world.provision("globex")
    world.settings("globex", primary_card="pm_card_amex")
    assert add(world, acme).body["id"] != add(world, "globex").body["id"]
    assert world.balance("globex") == 50 * UNIT


# -- refused before anything is charged ----------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "", "x" * 256, "tab\there"])
def test_an_idempotency_key_is_required(world: World, acme: str, key: str | None) -> None:
    with pytest.raises(BadRequest, match="Idempotency-Key"):
        add_funds(admin(acme), acme, {"amount": "50.00"}, key)


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ([], "body must be"),
        ({"card": "primary"}, "body must be"),
        ({"amount": "50.00", "tip": "1"}, "body must be"),
        ({"amount": "fifty"}, "amount"),
        ({"amount": "10.001"}, "amount"),
        ({"amount": "9.99"}, "between 10.00 and 10000.00"),
        ({"amount": "10000.01"}, "between 10.00 and 10000.00"),
        ({"amount": "50.00", "card": "4242424242424242"}, "primary or backup"),
    ],
)
def test_bad_bodies_are_refused_and_leave_the_key_unused(world: World, acme: str, body: object, mentions: str) -> None:
    with pytest.raises(BadRequest, match=mentions):
        add(world, acme, body=body)
    assert world.idempotency.get(record_key(acme, "key-1")) is None
    assert SimulatedGateway.attempts() == []


def test_no_card_on_file_is_a_bad_request_and_a_retry_may_try_again(world: World) -> None:
    world.provision("nocard")
    with pytest.raises(BadRequest, match="no primary card on file"):
        add(world, "nocard")
    stored = world.idempotency.get(record_key("nocard", "key-1"))
    assert stored is not None and not stored.answered and stored.lease_until == 0  # released at once
    world.settings("nocard", primary_card="pm_card_visa")
    assert add(world, "nocard").status == 201


def test_only_admins_of_an_account_on_its_own_billing_add_funds(world: World, acme: str) -> None:
    with pytest.raises(Forbidden):
        add_funds(viewer(acme), acme, {"amount": "50.00"}, "k")
    world.provision("agency", kind="agency")
    world.provision("client", agency_id="agency", billing="agency")
    with pytest.raises(SharedBilling):
        add(world, "client")


def test_the_rate_limit_counts_new_keys_and_forgets_a_refused_one(
    world: World, acme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_rate_limits(monkeypatch, "add_funds=1/3600")
    add(world, acme, key="first")
    with pytest.raises(RateLimited) as refused:
        add(world, acme, key="second")
    assert refused.value.headers["Retry-After"] == str(refused.value.retry_after)
    assert world.idempotency.get(record_key(acme, "second")) is None  # unused: a later retry is a new request
    set_rate_limits(monkeypatch, "add_funds=5/3600")
    assert add(world, acme, key="second").status == 201


def test_a_rate_limit_table_that_does_not_answer_leaves_the_key_unused(world: World, acme: str) -> None:
    def down(key: str, max_requests: int, window_end: int) -> bool:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "UpdateItem")

    world.rate_limits.hit = down  # type: ignore[method-assign]
    with pytest.raises(ClientError):
        add(world, acme)
    assert world.idempotency.get(record_key(acme, "key-1")) is None
    assert SimulatedGateway.attempts() == []


# -- declines and the gateway ----------------------------------------------------------------------------


def test_a_declined_card_answers_422_stores_that_answer_and_credits_nothing(world: World) -> None:
    world.provision("acme")
    world.settings("acme", primary_card="pm_card_chargeDeclinedInsufficientFunds")
    answer = add(world, "acme")
    assert answer.status == 422
    error = answer.body["error"]
    assert error["code"] == "card_declined" and error["message"] == "Your card has insufficient funds."
    [failed] = error["details"]
    assert (failed["status"], failed["failure_code"], failed["receipt"], failed["receipt_number"]) == (
        "failed",
        "insufficient_funds",
        None,
        None,
    )
    assert world.balance("acme") == 0 and world.mailer.sent == []
    assert add(world, "acme") == answer  # the decline is the key's answer
    assert len(SimulatedGateway.attempts()) == 1


def test_a_decline_is_told_to_the_webhook(world: World) -> None:
    world.provision("acme")
    world.settings("acme", primary_card="pm_card_chargeDeclined", webhook_url="http://localhost:9/hook")
    add(world, "acme")
    [event] = world.events("payment.failed")
    assert event.owner == "acme" and event.data["failure_code"] == "card_declined"
    assert world.queues.notices == [{"type": "deliver", "owner": "hook#acme", "id": event.event_id}]


def test_a_card_the_gateway_does_not_know_fails_the_payment(world: World) -> None:
    world.provision("acme")
    unknown = CardOnFile("pm_card_gone", "visa", "1111")
    settings_ = world.billing.head("acme").settings
    world.billing.save_settings("acme", "USD", replace(settings_, primary_card=unknown), world.clock(), changed=True)
    answer = add(world, "acme")
    assert answer.status == 422
    [failed] = answer.body["error"]["details"]
    assert failed["failure_code"] == "invalid_card" and "pm_card_gone" in failed["failure_reason"]
    assert failed["gateway_reference"] is None


def with_fault(world: World, fault: Callable[[str], str | None]) -> None:
    world.stores.gateway = SimulatedGateway(fault=fault)


def test_a_gateway_timeout_before_the_charge_is_503_and_the_retry_charges_once(world: World, acme: str) -> None:
    with_fault(world, lambda _key: TIMEOUT_BEFORE)
    with pytest.raises(Unavailable, match="retry with the same Idempotency-Key"):
        add(world, acme)
    payment_id = payment_id_for_request(acme, "key-1")
    pending = world.payments.get(payment_id)
    assert pending is not None and pending.status is PaymentStatus.PENDING
    stored = world.idempotency.get(record_key(acme, "key-1"))
    assert stored is not None and stored.lease_until == 0  # released: the retry need not wait

    with_fault(world, lambda _key: None)
    answer = add(world, acme)
    assert answer.status == 201 and answer.body["id"] == payment_id
    assert len(SimulatedGateway.charges()) == 1 and world.balance(acme) == 50 * UNIT


def test_a_timeout_after_the_charge_is_finished_by_the_retry_with_the_original_charge(world: World) -> None:
    world.provision("acme")
    world.settings("acme", primary_card="pm_card_visa_timeoutAfterCharge")
    with pytest.raises(Unavailable):
        add(world, "acme")
    assert world.balance("acme") == 0 and len(SimulatedGateway.charges()) == 1
    assert add(world, "acme").status == 201
    [charge] = SimulatedGateway.charges()
    assert charge.calls == 2 and world.balance("acme") == 50 * UNIT


def test_a_timeout_on_every_call_never_credits(world: World, acme: str) -> None:
    with_fault(world, lambda _key: TIMEOUT_AFTER)
    for _ in range(2):
        with pytest.raises(Unavailable):
            add(world, acme)
    assert world.balance(acme) == 0 and len(SimulatedGateway.charges()) == 1


def test_a_charge_whose_credit_failed_is_credited_by_the_retry_without_charging_again(world: World, acme: str) -> None:
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "TransactWriteItems")
    world.ledger.fail_next = [throttled]
    with pytest.raises(Unavailable, match="could not credit"):
        add(world, acme)
    stored = world.payments.get(payment_id_for_request(acme, "key-1"))
    assert stored is not None and stored.status is PaymentStatus.SUCCEEDED and world.balance(acme) == 0
    answer = add(world, acme)  # the key was released: the retry finishes the recorded payment
    assert answer.status == 201 and answer.body["receipt_number"] == 1
    [charge] = SimulatedGateway.charges()
    assert charge.calls == 1 and world.balance(acme) == 50 * UNIT


# -- a key in flight ---------------------------------------------------------------------------------------


def crash_holding_the_key(world: World, account: str, key: str = "key-1") -> None:
    """A request that dies after claiming its key, without releasing it (the Lambda timed out)."""
    with_fault(world, lambda _key: TIMEOUT_BEFORE)
    release = world.idempotency.release
    world.idempotency.release = lambda key: None  # type: ignore[method-assign]
    try:
        with pytest.raises(Unavailable):
            add(world, account, key)
    finally:
        world.idempotency.release = release  # type: ignore[method-assign]
        with_fault(world, lambda _key: None)


def test_a_repeat_waits_for_a_request_in_flight_then_answers_409_with_retry_after(world: World, acme: str) -> None:
    crash_holding_the_key(world, acme)
    world.clock.advance(seconds=10)
    started = world.clock.now
    with pytest.raises(RequestInProgress) as busy:
        add(world, acme)
    assert busy.value.status == 409 and busy.value.headers == {"Retry-After": "5"}
    waited = (world.clock.now - started).total_seconds()
    assert 3.0 <= waited <= 3.0 + IN_FLIGHT_POLL_SECONDS + 1e-6
    assert world.balance(acme) == 0


def test_retry_after_is_the_lease_left_when_it_is_short(world: World, acme: str) -> None:
    crash_holding_the_key(world, acme)
    world.clock.advance(seconds=57.5)  # 2.5 s of the lease left: after waiting 3 s it has run out...
    answer = add(world, acme)  # ...so the repeat takes over instead of answering 409
    assert answer.status == 201
    crash_holding_the_key(world, acme, "key-2")
    world.clock.advance(seconds=55.5)  # 4.5 s left; 1.5 s left after the wait
    with pytest.raises(RequestInProgress) as busy:
        add(world, acme, "key-2")
    assert busy.value.headers == {"Retry-After": "2"}


def test_a_lease_that_ran_out_is_taken_over_and_the_payment_finished_once(world: World, acme: str) -> None:
    crash_holding_the_key(world, acme)
    world.clock.advance(seconds=61)
    answer = add(world, acme)
    assert answer.status == 201 and answer.body["id"] == payment_id_for_request(acme, "key-1")
    assert world.balance(acme) == 50 * UNIT and len(SimulatedGateway.charges()) == 1
    assert add(world, acme) == answer


def test_a_repeat_gets_the_answer_the_request_in_flight_gives_while_it_waits(world: World, acme: str) -> None:
    crash_holding_the_key(world, acme)
    given = Answer(201, {"id": "from-the-other-request"})

    def other_request_answers(seconds: float) -> None:
        world.clock.sleep(seconds)
        world.idempotency.answer(record_key(acme, "key-1"), given.status, json.dumps(given.body))

    assert add(world, acme, sleep=other_request_answers) == given


def test_a_key_forgotten_while_waiting_asks_for_a_retry(world: World, acme: str) -> None:
    crash_holding_the_key(world, acme)

    def refused_meanwhile(seconds: float) -> None:
        world.clock.sleep(seconds)
        world.idempotency.forget(record_key(acme, "key-1"))

    with pytest.raises(RequestInProgress) as busy:
        add(world, acme, sleep=refused_meanwhile)
    assert busy.value.headers == {"Retry-After": "1"}


# -- crediting a payment -------------------------------------------------------------------------------


def succeeded(world: World, account: str, amount_micros: int = 20 * UNIT, suffix: str = "1") -> Payment:
    payment = card_payment(
        account,
        f"pay_test{suffix}",
        amount_micros=amount_micros,
        created_at=world.clock.now - timedelta(minutes=5),
        kind=PaymentKind.SUBSCRIPTION,
    )
    world.payments.seed(payment)
    return payment


def test_a_payment_is_credited_once_however_often_asked(world: World, acme: str) -> None:
    payment = succeeded(world, acme)
    credit_payment(payment)
    credit_payment(payment)
    assert world.balance(acme) == 20 * UNIT
    [entry] = world.ledger.chain(acme)
    assert entry.event_id == "payment:pay_test1" and entry.description == "Subscription (Visa •••• 4242)"


def test_a_credit_that_leaves_the_balance_below_its_threshold_asks_for_a_recharge(world: World) -> None:
    world.provision("acme")
    world.with_auto_recharge("acme")
    world.billing.save_settings(
        "acme", "USD", replace(world.head("acme").settings, auto_recharge_enabled=False), world.clock(), changed=True
    )
    world.spend("acme", "30.00")
    world.with_auto_recharge("acme")
    credit_payment(succeeded(world, "acme", 10 * UNIT))
    assert world.balance("acme") == -20 * UNIT
    [task] = world.queues.billing_tasks
    assert task["kind"] == TaskKind.RECHARGE.value and task["billing_account_id"] == "acme"


def test_a_credit_the_ledger_cannot_take_now_is_503_and_the_retry_credits_it(world: World, acme: str) -> None:
    payment = succeeded(world, acme)
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "TransactWriteItems")
    world.ledger.fail_next = [throttled]
    with pytest.raises(Unavailable, match="retry with the same Idempotency-Key"):
        credit_payment(payment)
    assert world.balance(acme) == 0
    credit_payment(payment)
    assert world.balance(acme) == 20 * UNIT


def test_a_credit_the_ledger_refuses_is_an_error(world: World) -> None:
    payment = succeeded(world, "nobody")  # no such account: the credit is dead-lettered
    with pytest.raises(RuntimeError, match="could not credit payment pay_test1"):
        credit_payment(payment)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(10, 60)), min_size=1, max_size=8))
def test_balance_is_what_was_charged_however_often_keys_are_repeated(
    world: World, requests: list[tuple[int, int]]
) -> None:
    """Invariant: one charge and one credit per Idempotency-Key; the balance is their sum."""
    SimulatedGateway.reset()
    account = f"acct-{len(world.accounts.items)}"
    world.provision(account)
    world.settings(account, primary_card="pm_card_visa")
    first_amount: dict[int, int] = {}
    for key, amount in requests:
        first_amount.setdefault(key, amount)
        body = {"amount": f"{first_amount[key]}.00"}
        assert add(world, account, f"k{key}", body).status == 201
    assert world.balance(account) == sum(first_amount.values()) * UNIT
    assert sorted(c.amount_cents for c in SimulatedGateway.charges()) == sorted(a * 100 for a in first_amount.values())


# -- Payment History -----------------------------------------------------------------------------------


def test_payment_history_is_newest_first_in_pages(world: World, acme: str) -> None:
    ids = []
    for n in range(5):
        ids.append(add(world, acme, key=f"k{n}", body={"amount": f"{10 + n}.00"}).body["id"])
        world.clock.advance(minutes=1)
    first = list_payments(viewer(acme), acme, {}, 2)
    assert first["billing"] == "own" and first["billing_account_id"] == acme
    assert [p["id"] for p in first["items"]] == ids[::-1][:2]
    second = list_payments(viewer(acme), acme, {"cursor": first["next_cursor"]}, 2)
    third = list_payments(viewer(acme), acme, {"cursor": second["next_cursor"]}, 2)
    assert [p["id"] for p in second["items"] + third["items"]] == ids[::-1][2:]
    assert third["next_cursor"] is None


def test_payment_history_of_a_period_in_the_accounts_time_zone(world: World, acme: str) -> None:
    add(world, acme, key="march")  # 2026-03-15 08:00 in New York
    world.clock.advance(days=20)
    add(world, acme, key="april")
    march = list_payments(viewer(acme), acme, {"from": "2026-03-01", "to": "2026-03-31"}, 10)
    assert [p["id"] for p in march["items"]] == [payment_id_for_request(acme, "march")]
    with pytest.raises(BadRequest):
        list_payments(viewer(acme), acme, {"from": "2026-03-31", "to": "2026-03-01"}, 10)
    with pytest.raises(BadRequest):
        list_payments(viewer(acme), acme, {"from": "2026-03-01", "to": "2026-03-31", "cursor": "bogus"}, 10)


def test_a_sub_account_on_shared_billing_is_shown_who_pays(world: World) -> None:
    world.provision("agency", kind="agency")
    world.provision("client", agency_id="agency", billing="agency")
    listed = list_payments(viewer("client"), "client", {}, 10)
    assert listed["paid_by"] == {"account_id": "agency", "name": "agency Inc"}
    assert listed["items"] == [] and listed["next_cursor"] is None
