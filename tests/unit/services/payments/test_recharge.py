"""services/recharge.py: the billing worker's auto-recharge run, branch by branch (threshold,
cool-down, pause after 3 declines, backup card, a redelivered or retried task, settings changed
meanwhile), and the alert tasks it hands to notifications. The rules themselves are
domain/auto_recharge.py's (tests/unit/test_auto_recharge.py)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.adapters.gateway.base import ChargeResult, GatewayTimeout
from chalicelib.adapters.gateway.simulated import TIMEOUT_BEFORE, SimulatedGateway
from chalicelib.domain.auto_recharge import (
    DECLINE_COOLDOWN,
    MAX_CONSECUTIVE_DECLINES,
    BillingTask,
    TaskKind,
    after_success,
    payment_id_for_recharge,
)
from chalicelib.domain.money import MICROS_PER_UNIT
from chalicelib.domain.payments import BillingSettings, PaymentKind, PaymentStatus
from chalicelib.services.payments import add_funds
from chalicelib.services.recharge import RechargeOutcome, run_task
from tests.fakes.world import admin
from tests.unit.services.payments.conftest import World

UNIT = MICROS_PER_UNIT
DECLINED = "pm_card_chargeDeclined"


def below_threshold(world: World, account: str, amount: str = "20.00") -> BillingTask:
    """Spend until the balance is below the threshold: the recharge task the ledger write sets off."""
    return world.task(world.spend(account, amount))


@pytest.fixture
def acme(world: World) -> str:
    world.provision("acme", emails=["ops@acme.example"])
    world.with_auto_recharge("acme")  # below 15.00, recharge 25.00
    return "acme"


# -- the threshold and a successful recharge -----------------------------------------------------------


def test_a_balance_above_its_threshold_asks_for_nothing(world: World, acme: str) -> None:
    add_funds(admin(acme), acme, {"amount": "100.00"}, "k", sleep=world.clock.sleep)
    assert world.spend(acme, "85.00").tasks == []  # at 15.00 exactly: not below
    assert world.head(acme).recharge.in_flight_id is None
    task = below_threshold(world, acme, "0.01")
    assert task.balance_micros == 14_990_000 and world.head(acme).recharge.in_flight_id == task.key


def test_a_recharge_charges_the_primary_card_credits_it_and_mails_the_receipt(world: World, acme: str) -> None:
    task = below_threshold(world, acme)
    assert run_task(task) is RechargeOutcome.SUCCEEDED
    assert world.balance(acme) == 5 * UNIT
    [payment] = world.payments_of(acme)
    assert payment.payment_id == payment_id_for_recharge(task.key, 0)
    assert (payment.kind, payment.status, payment.recharge_id, payment.description) == (
        PaymentKind.AUTO_RECHARGE,
        PaymentStatus.SUCCEEDED,
        task.key,
        "Auto recharge",
    )
    assert payment.receipt_number == 1 and payment.amount_micros == 25 * UNIT
    recharge = world.head(acme).recharge
    assert recharge.in_flight_id is None and recharge.consecutive_declines == 0 and recharge.cooldown_until is None
    [mail] = world.mailer.sent
    assert mail.subject.startswith("Receipt No. 1: 25.00 USD")


def test_a_redelivered_task_is_stale_and_charges_nothing_more(world: World, acme: str) -> None:
    task = below_threshold(world, acme)
    assert run_task(task) is RechargeOutcome.SUCCEEDED
    assert run_task(task) is RechargeOutcome.STALE
    assert len(SimulatedGateway.charges()) == 1 and world.balance(acme) == 5 * UNIT
    assert len(world.mailer.sent) == 1


def test_a_stale_task_credits_a_success_its_worker_never_credited(world: World, acme: str) -> None:
    task = below_threshold(world, acme)
    real = world.ledger.commit

    def lost_credit(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the worker died while crediting")

    world.ledger.commit = lost_credit  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        run_task(task)
    world.ledger.commit = real  # type: ignore[method-assign]
    # Another write ended the recharge meanwhile (say, a settings change superseded it).
    assert world.billing.finish_recharge(acme, task.key, after_success(world.head(acme).recharge), world.clock())
    assert run_task(task) is RechargeOutcome.STALE
    assert world.balance(acme) == 5 * UNIT and len(SimulatedGateway.charges()) == 1


def test_a_task_for_another_recharge_is_stale(world: World, acme: str) -> None:
    below_threshold(world, acme)
    other = BillingTask(TaskKind.RECHARGE, acme, "rc_someotherrecharge", 0)
    assert run_task(other) is RechargeOutcome.STALE
    assert SimulatedGateway.attempts() == [] and world.head(acme).recharge.in_flight_id is not None


def test_a_worker_that_timed_out_is_run_again_and_charges_once(world: World) -> None:
    world.provision("acme")
    world.with_auto_recharge("acme", primary="pm_card_visa_timeoutAfterCharge")
    task = below_threshold(world, "acme")
    with pytest.raises(GatewayTimeout):
        run_task(task)
    assert world.balance("acme") == -20 * UNIT and world.head("acme").recharge.in_flight_id == task.key
    assert run_task(task) is RechargeOutcome.SUCCEEDED
    [charge] = SimulatedGateway.charges()
    assert charge.calls == 2 and world.balance("acme") == 5 * UNIT


# -- settings changed before the worker ran ---------------------------------------------------------------


def test_auto_recharge_switched_off_meanwhile_ends_the_recharge_without_charging(world: World, acme: str) -> None:
    task = below_threshold(world, acme)
    world.settings(acme, auto_recharge_enabled=False)
    assert run_task(task) is RechargeOutcome.NOT_POSSIBLE
    assert SimulatedGateway.attempts() == [] and world.head(acme).recharge.in_flight_id is None


def test_cards_removed_meanwhile_end_the_recharge_without_charging(world: World, acme: str) -> None:
    task = below_threshold(world, acme)
    no_cards = BillingSettings(auto_recharge_enabled=True)
    world.billing.save_settings(acme, "USD", no_cards, world.clock(), changed=False)
    assert run_task(task) is RechargeOutcome.NOT_POSSIBLE
    assert world.head(acme).recharge.in_flight_id is None


# -- declines: backup card, cool-down, pause ------------------------------------------------------------


def test_a_declined_primary_is_followed_by_the_backup_card(world: World) -> None:
    world.provision("acme")
    world.with_auto_recharge("acme", primary=DECLINED, backup="pm_card_mastercard")
    task = below_threshold(world, "acme")
    assert run_task(task) is RechargeOutcome.SUCCEEDED
    backup, primary = world.payments_of("acme")  # newest first
    assert primary.payment_id == payment_id_for_recharge(task.key, 0) and primary.status is PaymentStatus.FAILED
    assert backup.payment_id == payment_id_for_recharge(task.key, 1) and backup.status is PaymentStatus.SUCCEEDED
    assert backup.description == "Auto recharge (backup card)" and backup.card_brand == "mastercard"
    assert world.balance("acme") == 5 * UNIT and world.head("acme").recharge.consecutive_declines == 0


def test_a_decline_cools_the_balance_down_and_mails_its_contacts(world: World) -> None:
    world.provision("acme", emails=["ops@acme.example"])
    world.with_auto_recharge("acme", primary=DECLINED)
    task = below_threshold(world, "acme")
    assert run_task(task) is RechargeOutcome.DECLINED
    recharge = world.head("acme").recharge
    assert recharge.in_flight_id is None and recharge.consecutive_declines == 1 and not recharge.paused
    assert recharge.cooldown_until == world.clock.now + DECLINE_COOLDOWN
    assert world.balance("acme") == -20 * UNIT
    [mail] = world.mailer.sent
    assert mail.to == ["ops@acme.example"] and mail.subject == "Card declined: auto-recharge failed for acme Inc"

    # Cooling down: spending more asks for no recharge until the cool-down is over.
    world.clock.advance(hours=5)
    assert [t for t in world.spend("acme", "1.00").tasks if t.kind is TaskKind.RECHARGE] == []
    world.clock.advance(hours=1)
    assert below_threshold(world, "acme", "1.00").key != task.key


def test_both_cards_declined_is_one_decline_told_once_with_both_payments(world: World) -> None:
    world.provision("acme", emails=["ops@acme.example"])
    world.with_auto_recharge("acme", primary=DECLINED, backup="pm_card_chargeDeclinedExpiredCard")
    assert run_task(below_threshold(world, "acme")) is RechargeOutcome.DECLINED
    assert world.head("acme").recharge.consecutive_declines == 1
    assert [p.failure_code for p in world.payments_of("acme")] == ["expired_card", "card_declined"]
    [mail] = world.mailer.sent
    assert "0069" in mail.text and "0002" in mail.text  # the backup card's decline is in it too


def test_three_declines_in_a_row_pause_auto_recharge_until_the_settings_change(world: World) -> None:
    world.provision("acme", emails=["ops@acme.example"])
    world.with_auto_recharge("acme", primary=DECLINED, webhook_url="http://localhost:9/hook")
    for n in range(1, MAX_CONSECUTIVE_DECLINES + 1):
        assert run_task(below_threshold(world, "acme", "1.00")) is RechargeOutcome.DECLINED
        assert world.head("acme").recharge.consecutive_declines == n
        world.clock.advance(hours=6)
    recharge = world.head("acme").recharge
    assert recharge.paused
    assert world.mailer.sent[-1].subject == "Card declined: auto-recharge paused for acme Inc"
    [paused] = world.events("auto_recharge.paused")
    assert paused.data["consecutive_declines"] == 3
    assert len(world.events("payment.failed")) == 3

    world.clock.advance(days=2)
    assert [t for t in world.spend("acme", "1.00").tasks if t.kind is TaskKind.RECHARGE] == []
    world.settings("acme", primary_card="pm_card_visa")  # a change of settings lifts the pause
    assert not world.head("acme").recharge.paused and world.head("acme").recharge.consecutive_declines == 0
    assert run_task(below_threshold(world, "acme", "1.00")) is RechargeOutcome.SUCCEEDED


def test_a_success_after_declines_resets_the_count(world: World) -> None:
    world.provision("acme")
    world.with_auto_recharge("acme", primary=DECLINED)
    run_task(below_threshold(world, "acme"))
    world.clock.advance(hours=7)
    world.with_auto_recharge("acme", primary="pm_card_visa")
    assert run_task(below_threshold(world, "acme", "1.00")) is RechargeOutcome.SUCCEEDED
    recharge = world.head("acme").recharge
    assert recharge.consecutive_declines == 0 and recharge.cooldown_until is None


class FinishedByAnotherWorker:
    """A gateway that declines, while another worker ends the recharge before this one records it."""

    name = "simulated"

    def __init__(self, world: World, account: str) -> None:
        self.world, self.account, self.inner = world, account, SimulatedGateway()

    def describe_card(self, token: str) -> Any:
        return self.inner.describe_card(token)

    def charge(self, **request: Any) -> ChargeResult:
        head = self.world.head(self.account)
        assert head.recharge.in_flight_id is not None
        self.world.billing.finish_recharge(
            self.account, head.recharge.in_flight_id, after_success(head.recharge), self.world.clock()
        )
        return self.inner.charge(**request)


def test_a_decline_recorded_by_no_one_else_is_the_only_one_told(world: World) -> None:
    world.provision("acme", emails=["ops@acme.example"])
    world.with_auto_recharge("acme", primary=DECLINED)
    task = below_threshold(world, "acme")
    assert run_task(task, FinishedByAnotherWorker(world, "acme")) is RechargeOutcome.DECLINED
    assert world.mailer.sent == []  # the other worker's outcome stands; this one says nothing
    assert world.head("acme").recharge.consecutive_declines == 0


def test_an_agency_client_on_its_own_billing_has_its_agency_told_of_a_decline(world: World) -> None:
    world.provision("agency", kind="agency", emails=["desk@agency.example"])
    world.provision("client", agency_id="agency", emails=["client@example.org"], currency="EUR")
    world.with_auto_recharge("client", primary=DECLINED)
    world.settings("agency", primary_card="pm_card_visa", webhook_url="http://localhost:9/agency")
    assert run_task(below_threshold(world, "client")) is RechargeOutcome.DECLINED
    [payment] = world.payments_of("client")
    assert payment.currency == "EUR" and payment.agency_id == "agency"
    assert [m.to for m in world.mailer.sent] == [["client@example.org"], ["desk@agency.example"]]
    assert world.mailer.sent[1].subject == "Your client client Inc: card declined, auto-recharge failed"
    [event] = world.events("payment.failed")
    assert event.owner == "agency" and event.account_id == "client"


# -- alert tasks ---------------------------------------------------------------------------------------


def test_a_low_balance_task_sends_the_alert(world: World) -> None:
    world.provision("acme", emails=["ops@acme.example"])
    world.settings(
        "acme", primary_card="pm_card_visa", low_balance_alert="30.00", alert_recipients=["cfo@acme.example"]
    )
    add_funds(admin("acme"), "acme", {"amount": "50.00"}, "k", sleep=world.clock.sleep)
    world.mailer.sent.clear()
    task = world.task(world.spend("acme", "25.00"), TaskKind.LOW_BALANCE_ALERT)
    assert run_task(task) is RechargeOutcome.ALERTED
    [mail] = world.mailer.sent
    assert mail.to == ["cfo@acme.example"] and mail.subject == "Low balance: acme Inc is below 30.00 USD"


def test_a_past_due_task_tells_the_contacts(world: World) -> None:
    world.provision("acme", emails=["ops@acme.example"])
    task = world.task(world.spend("acme", "5.00"), TaskKind.PAST_DUE)
    assert run_task(task) is RechargeOutcome.ALERTED
    [mail] = world.mailer.sent
    assert mail.subject == "Past due: acme Inc's balance is -5.00 USD"


def test_run_task_uses_the_bound_gateway_by_default(world: World, acme: str) -> None:
    task = below_threshold(world, acme)
    world.stores.gateway = SimulatedGateway(fault=lambda _key: TIMEOUT_BEFORE)
    with pytest.raises(GatewayTimeout):
        run_task(task)
    assert world.head(acme).recharge.in_flight_id == task.key  # left in flight for the retry
