"""Auto-recharge against DynamoDB Local: one request per crossing, one charge per recharge."""

from __future__ import annotations

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.adapters.accounts_repo import AccountRepository
from chalicelib.adapters.gateway.base import GatewayTimeout
from chalicelib.adapters.gateway.factory import reset_gateway, set_gateway
from chalicelib.adapters.gateway.simulated import SimulatedGateway
from chalicelib.adapters.ledger_repo import LedgerRepository
from chalicelib.adapters.payments_repo import PaymentRepository
from chalicelib.domain.auto_recharge import MAX_CONSECUTIVE_DECLINES, BillingTask, payment_id_for_recharge
from chalicelib.domain.payments import PaymentStatus
from chalicelib.services.billing_settings import put_billing_settings
from chalicelib.services.recharge import RechargeOutcome, run_task
from chalicelib.services.usage import record_usage
from tests.conftest import budget

from .payment_helpers import account_with_card, admin_of, debit, emails_to, never, recharge_tasks
from .usage_helpers import assert_ledger_consistent, event_body, message, new_id

pytestmark = [pytest.mark.usefixtures("aws"), pytest.mark.slow]


@pytest.fixture(autouse=True)
def simulated_gateway():
    SimulatedGateway.reset()
    gateway = SimulatedGateway()
    set_gateway(gateway)
    yield gateway
    reset_gateway()


def billing_email(account_id: str) -> str:
    account = AccountRepository().get(account_id)
    assert account is not None
    return account.emails[0]


def test_a_debit_below_the_threshold_recharges_once_and_credits_the_ledger(simulated_gateway):
    account = account_with_card()  # 20.00, threshold 15.00, amount 25.00
    assert recharge_tasks(debit(account, "4.00")) == []  # 16.00: above
    (task,) = recharge_tasks(debit(account, "2.00"))  # 14.00: below
    assert recharge_tasks(debit(account, "1.00")) == []  # one in flight already

    assert run_task(task, simulated_gateway) is RechargeOutcome.SUCCEEDED
    assert run_task(task, simulated_gateway) is RechargeOutcome.STALE  # a redelivery changes nothing

    assert assert_ledger_consistent(account) == 38_000_000  # 13.00 + 25.00
    payment = PaymentRepository().get(payment_id_for_recharge(task.key, 0))
    assert payment is not None and payment.status is PaymentStatus.SUCCEEDED
    assert (payment.card_brand, payment.card_last4) == ("visa", "4242")
    assert len(SimulatedGateway.charges()) == 1
    head = LedgerRepository().balance(account).billing.recharge
    assert head.in_flight_id is None and head.consecutive_declines == 0
    (receipt,) = [m for m in emails_to(billing_email(account)) if m["subject"].startswith("Receipt")]
    assert "25.00" in receipt["text"]


RECEIPTED = 5  # of the 50 accounts in the next test, those with a billing address
# 50 accounts x ROUNDS = the recharges of the next test: 300 in `make test`, 1,000 in `make test-long`.
ROUNDS = budget(quick=6, long=20)


def test_hundreds_of_recharges_with_timeouts_and_retries_charge_and_credit_once_each():
    # A receipt (a PDF and an email) is most of a recharge's time and not what this test is about:
    # RECEIPTED accounts have a billing address and are checked to get exactly one per recharge,
    # the others have none (their recharges skip the receipt, nothing else).
    accounts = [
        account_with_card(opening="16.00", amount="10.00", emails=None if n < RECEIPTED else []) for n in range(50)
    ]
    rng = random.Random(1234)
    seen_keys: Counter[str] = Counter()

    def fault(key: str) -> str | None:
        seen_keys[key] += 1
        if seen_keys[key] == 1:  # a first attempt may time out, before or after charging
            return rng.choice([None, None, "timeout_before", "timeout_after"])
        return None

    gateway = SimulatedGateway(fault=fault)
    set_gateway(gateway)
    processed: Counter[str] = Counter()
    recharges = []

    def work(task: BillingTask) -> None:
        while True:  # SQS redelivers until the worker reports success, at most 3 runs here
            processed[task.key] += 1
            try:
                assert run_task(task, gateway) is RechargeOutcome.SUCCEEDED
                break
            except GatewayTimeout:
                assert processed[task.key] < 3
        if rng.random() < 0.3 and processed[task.key] < 3:  # and a duplicate delivery after success
            processed[task.key] += 1
            assert run_task(task, gateway) is RechargeOutcome.STALE

    # Each round's tasks are worked on by a few workers at once, as concurrent consumers of
    # the tasks queue would (each task by one worker: a message is invisible while in flight).
    with ThreadPoolExecutor(max_workers=4) as workers:
        for _ in range(ROUNDS):
            # Each account's balance dips below its threshold once per round.
            outcome = record_usage(
                [
                    message(event_body(new_id("fee"), a, "subscription_fees", quantity="1", amount="10.00"), group=a)
                    for a in accounts
                ],
                dead_letter=never,
            )
            tasks = recharge_tasks(outcome)
            assert len(tasks) == len(accounts)
            recharges += tasks
            list(workers.map(work, tasks))  # re-raises a worker's failure

    assert len(recharges) == 50 * ROUNDS and max(processed.values()) <= 3
    assert sum(1 for v in processed.values() if v > 1) > len(recharges) / 5  # the faults really happened
    charges = SimulatedGateway.charges()
    assert len(charges) == len(recharges)
    assert len({c.idempotency_key for c in charges}) == len(recharges)
    for account in accounts:
        credits = [e for e in LedgerRepository().chain(account) if e.event_id.startswith("payment:")]
        assert len(credits) == ROUNDS
        # 16.00 opening, then each round: -10.00 and +10.00
        assert assert_ledger_consistent(account) == 16_000_000
    for account in accounts[:RECEIPTED]:
        receipts = [m["subject"] for m in emails_to(billing_email(account)) if m["subject"].startswith("Receipt")]
        assert len(receipts) == len(set(receipts)) == ROUNDS  # one per recharge, each its own number


def test_concurrent_debits_crossing_the_threshold_together_request_one_recharge():
    account = account_with_card(opening="40.00")
    outcomes = []

    def spend():
        outcomes.append(
            record_usage(
                [message(event_body(new_id("fee"), account, "subscription_fees", amount="4.00"))],
                dead_letter=never,
                sleep=lambda s: None,
            )
        )

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(len(recharge_tasks(o)) for o in outcomes) == 1
    assert assert_ledger_consistent(account) == 8_000_000


def test_declines_try_the_backup_cool_down_and_pause_after_three(simulated_gateway):
    clock = [datetime.now(UTC)]
    account = account_with_card(card="pm_card_chargeDeclined", backup="pm_card_chargeDeclinedInsufficientFunds")
    for attempt in range(1, MAX_CONSECUTIVE_DECLINES + 1):
        (task,) = recharge_tasks(debit(account, "6.00"))
        assert run_task(task, simulated_gateway, clock=lambda: clock[0]) is RechargeOutcome.DECLINED
        primary = PaymentRepository().get(payment_id_for_recharge(task.key, 0))
        backup = PaymentRepository().get(payment_id_for_recharge(task.key, 1))
        assert primary is not None and primary.status is PaymentStatus.FAILED
        assert primary.failure_code == "card_declined"
        assert backup is not None and backup.failure_code == "insufficient_funds"
        state = LedgerRepository().balance(account).billing.recharge
        assert state.consecutive_declines == attempt
        assert state.paused is (attempt == MAX_CONSECUTIVE_DECLINES)
        if not state.paused:
            assert recharge_tasks(debit(account, "0.10")) == []  # cooling down: no new attempt
            assert state.cooldown_until is not None
            # the cool-down is over for the writer once its time has passed
            put_cooldown_in_the_past(account)
    assert recharge_tasks(debit(account, "0.10")) == []  # paused: no more attempts
    assert SimulatedGateway.charges() == []
    declined = [m for m in emails_to(billing_email(account)) if m["subject"].startswith("Card declined")]
    assert len(declined) == MAX_CONSECUTIVE_DECLINES
    assert "paused" in declined[-1]["text"].lower()

    # Changing the settings lifts the pause.
    put_billing_settings(admin_of(account), account, {"primary_card": "pm_card_visa"})
    (task,) = recharge_tasks(debit(account, "0.10"))
    assert run_task(task, simulated_gateway) is RechargeOutcome.SUCCEEDED


def put_cooldown_in_the_past(account_id: str) -> None:
    from chalicelib.adapters.tables.balances import BalanceRecord

    BalanceRecord(account_id).update(
        actions=[BalanceRecord.cooldown_until.set(datetime.now(UTC) - timedelta(seconds=1))]
    )


def test_low_balance_alert_is_sent_once_per_crossing():
    account = account_with_card(card="pm_card_visa", opening="30.00", threshold="0.00", alert="20.00")
    kinds = lambda o: [t.kind.value for t in o.tasks]  # noqa: E731
    assert kinds(debit(account, "5.00")) == []  # 25.00
    assert kinds(debit(account, "6.00")) == ["low_balance_alert"]  # 19.00: crossed
    assert kinds(debit(account, "1.00")) == []  # still below
    assert kinds(debit(account, credit="10.00")) == []  # 28.00: back above, re-armed
    (task,) = debit(account, "9.00").tasks  # 19.00: crossed again
    assert run_task(task) is RechargeOutcome.ALERTED
    alerts = [m for m in emails_to(billing_email(account)) if m["subject"].startswith("Low balance")]
    assert len(alerts) == 1 and "19.00" in alerts[0]["text"]
