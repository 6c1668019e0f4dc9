"""services/notifications.py: the emails about money (read back from FakeMailer) and the billing
events that go to webhooks with them; services/tasks.py: handing billing tasks to the worker."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.adapters.statements_repo import StoredStatement
from chalicelib.config import get_settings
from chalicelib.domain.alerts import AlertPeriod, AlertScope, Measure, UsageAlert
from chalicelib.domain.auto_recharge import BillingTask, TaskKind
from chalicelib.domain.categories import Category
from chalicelib.domain.money import MICROS_PER_UNIT
from chalicelib.domain.payments import Payment, PaymentKind, PaymentStatus, RechargeState
from chalicelib.services.notifications import (
    notify_payment_failed,
    notify_statement_sent,
    send_card_declined,
    send_low_balance_alert,
    send_past_due,
    send_receipt,
    send_usage_alert,
)
from chalicelib.services.tasks import dispatch
from tests.fakes.world import card_payment
from tests.unit.services.payments.conftest import World

UNIT = MICROS_PER_UNIT
HOOK = "http://localhost:9/hook"


def payment(
    account: str, status: PaymentStatus = PaymentStatus.SUCCEEDED, suffix: str = "1", **changes: Any
) -> Payment:
    failed = status is not PaymentStatus.SUCCEEDED
    return card_payment(
        account,
        f"pay_n{suffix}",
        status=status,
        amount_micros=25 * UNIT,
        created_at=datetime(2026, 3, 15, 11, 0, tzinfo=UTC),
        **{
            "kind": PaymentKind.AUTO_RECHARGE,
            "failure_code": "card_declined" if failed else None,
            "failure_reason": "Your card was declined." if failed else None,
            **changes,
        },
    )


def recorded(world: World, made: Payment) -> Payment:
    world.payments.create_pending(made)
    return world.payments.finish(
        made.payment_id,
        made.status,
        world.clock(),
        gateway_reference="pi_1",
        failure_code=made.failure_code,
        failure_reason=made.failure_reason,
    )


@pytest.fixture
def console(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("BILLING_CONSOLE_URL", "https://console.example.com/")
    get_settings.cache_clear()
    yield "https://console.example.com"
    monkeypatch.delenv("BILLING_CONSOLE_URL")
    get_settings.cache_clear()


# -- receipts -------------------------------------------------------------------------------------------


def test_a_receipt_is_mailed_once_with_its_pdf_and_told_to_the_webhook(world: World) -> None:
    world.provision("acme", emails=["ops@acme.example", "cfo@acme.example"])
    world.settings("acme", webhook_url=HOOK)
    paid = recorded(world, payment("acme"))
    send_receipt(paid)
    send_receipt(paid)  # a retried worker
    [mail] = world.mailer.sent
    assert mail.to == ["ops@acme.example", "cfo@acme.example"]
    assert mail.subject == "Receipt No. 1: 25.00 USD added to acme Inc"
    assert "No. 1" in mail.text and mail.html is not None and "4242" in mail.html
    [pdf] = mail.attachments
    assert pdf.content_type == "application/pdf" and pdf.data.startswith(b"%PDF")
    [event] = world.events("payment.succeeded")
    assert event.data["payment_id"] == "pay_n1" and event.data["amount"] == "25.00"
    assert world.payments.receipt_sent_at("pay_n1") == world.clock.now


def test_a_receipt_that_could_not_be_mailed_is_released_for_the_retry(world: World) -> None:
    world.provision("acme", emails=["ops@acme.example"])
    paid = recorded(world, payment("acme"))
    world.mailer.fail_with = RuntimeError("SES said no")
    send_receipt(paid)  # best effort: logged, never raised
    assert world.mailer.sent == [] and world.payments.receipt_sent_at("pay_n1") is None
    world.mailer.fail_with = None
    send_receipt(paid)
    assert len(world.mailer.sent) == 1


def test_a_receipt_whose_pdf_fails_goes_out_without_it(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import chalicelib.receipt_render as receipt_render

    def broken(_context: object) -> bytes:
        raise ValueError("no fonts")

    monkeypatch.setattr(receipt_render, "render_pdf", broken)
    world.provision("acme", emails=["ops@acme.example"])
    send_receipt(recorded(world, payment("acme")))
    [mail] = world.mailer.sent
    assert mail.attachments == ()


def test_a_payment_recorded_before_numbering_gets_its_number_for_the_receipt(world: World) -> None:
    world.provision("acme", emails=["ops@acme.example"])
    legacy = payment("acme")
    world.payments.seed(legacy)  # succeeded, no number
    send_receipt(legacy)
    assert world.mailer.sent[0].subject.startswith("Receipt No. 1: ")
    stored = world.payments.get("pay_n1")
    assert stored is not None and stored.receipt_number == 1


def test_no_receipt_without_recipients_or_for_money_not_taken(world: World) -> None:
    world.provision("quiet", emails=[])
    world.settings("quiet", webhook_url=HOOK)
    send_receipt(recorded(world, payment("quiet")))
    assert world.mailer.sent == [] and len(world.events("payment.succeeded")) == 1
    world.provision("acme", emails=["ops@acme.example"])
    world.settings("acme", webhook_url=HOOK)
    send_receipt(recorded(world, payment("acme", PaymentStatus.FAILED, suffix="2")))
    assert world.mailer.sent == [] and len(world.events("payment.succeeded")) == 1
    send_receipt(payment("nobody", suffix="3"))  # its account is gone
    assert world.mailer.sent == []


# -- declines --------------------------------------------------------------------------------------------


def test_a_declined_recharge_is_mailed_with_the_settings_link(world: World, console: str) -> None:
    world.provision("acme", emails=["ops@acme.example"])
    failed = payment("acme", PaymentStatus.FAILED)
    state = RechargeState(consecutive_declines=1, cooldown_until=datetime(2026, 3, 15, 18, 0, tzinfo=UTC))
    send_card_declined("acme", [failed], state)
    [mail] = world.mailer.sent
    assert mail.subject == "Card declined: auto-recharge failed for acme Inc"
    assert f"{console}#/billing" in mail.text and "4242" in mail.text


def test_a_decline_of_an_account_that_is_gone_tells_no_one(world: World) -> None:
    send_card_declined("gone", [payment("gone", PaymentStatus.FAILED)], RechargeState(consecutive_declines=1))
    notify_payment_failed(payment("gone", PaymentStatus.FAILED))
    assert world.mailer.sent == [] and world.events() == []


def test_a_manual_decline_is_told_to_the_webhooks_of_the_client_and_its_agency(world: World) -> None:
    world.provision("agency", kind="agency")
    world.provision("client", agency_id="agency")
    world.settings("client", webhook_url=HOOK)
    world.settings("agency", webhook_url=HOOK + "/agency")
    notify_payment_failed(payment("client", PaymentStatus.FAILED))
    assert sorted(e.owner for e in world.events("payment.failed")) == ["agency", "client"]
    assert world.mailer.sent == []  # whoever added funds saw the decline


# -- balance alerts --------------------------------------------------------------------------------------


def test_past_due_goes_to_the_alert_recipients_and_the_agency_of_a_client(world: World) -> None:
    world.provision("agency", kind="agency", emails=["desk@agency.example"])
    world.provision("client", agency_id="agency", emails=["client@example.org"])
    world.settings("client", alert_recipients=["cfo@client.example"], webhook_url=HOOK)
    send_past_due(BillingTask(TaskKind.PAST_DUE, "client", "7", -12 * UNIT))
    assert [m.to for m in world.mailer.sent] == [["cfo@client.example"], ["desk@agency.example"]]
    assert world.mailer.sent[0].subject == "Past due: client Inc's balance is -12.00 USD"
    assert world.mailer.sent[1].subject == "Your client Past due: client Inc's balance is -12.00 USD"
    [event] = world.events("balance.past_due")
    assert event.data == {"balance": "-12.00", "currency": "USD"}


def test_past_due_and_low_balance_of_an_account_that_is_gone_send_nothing(world: World) -> None:
    send_past_due(BillingTask(TaskKind.PAST_DUE, "gone", "1", -UNIT))
    send_low_balance_alert(BillingTask(TaskKind.LOW_BALANCE_ALERT, "gone", "1", UNIT))
    assert world.mailer.sent == []


def test_past_due_without_anyone_to_tell_mails_nothing(world: World) -> None:
    world.provision("quiet", emails=[])
    send_past_due(BillingTask(TaskKind.PAST_DUE, "quiet", "1", -UNIT))
    assert world.mailer.sent == []


def test_the_low_balance_alert_goes_to_the_accounts_emails_by_default(world: World) -> None:
    world.provision("acme", emails=["ops@acme.example"])
    world.settings("acme", low_balance_alert="30.00", webhook_url=HOOK)
    send_low_balance_alert(BillingTask(TaskKind.LOW_BALANCE_ALERT, "acme", "4", 25 * UNIT))
    [mail] = world.mailer.sent
    assert mail.to == ["ops@acme.example"] and mail.subject == "Low balance: acme Inc is below 30.00 USD"
    [event] = world.events("balance.low")
    assert event.data == {"balance": "25.00", "threshold": "30.00", "currency": "USD"}


# -- usage alerts, statements ------------------------------------------------------------------------------


def usage_alert(measure: Measure, category: Category | None) -> UsageAlert:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    return UsageAlert(
        "acme", "ua-1", AlertScope.ACCOUNT, "Spend watch", category, measure, AlertPeriod.MONTH, 500, ("a@x.example",),
        None, True, 1, at, at,
    )  # fmt: skip


def firing_data(threshold: str, value: str, **more: object) -> dict[str, object]:
    return {"period": "month", "period_start": "2026-03-01", "threshold": threshold, "value": value, **more}


def test_a_cost_alert_says_the_money_as_people_read_it(world: World, console: str) -> None:
    acme = world.provision("acme")
    context = {
        "alert": usage_alert(Measure.COST, None),
        "data": firing_data("500.00", "512.37", currency="USD", time_zone="America/New_York"),
        "owner": acme,
        "subject": acme,
    }
    assert send_usage_alert(["a@x.example"], context) is None
    [mail] = world.mailer.sent
    assert mail.subject == "Usage alert: Spend watch reached $500.00 USD (March 2026)"
    assert "$512.37 USD" in mail.text and f"{console}#/usage" in mail.text


def test_a_count_alert_of_a_subject_that_is_gone(world: World) -> None:
    context = {
        "alert": usage_alert(Measure.COUNT, Category.CALL_MINUTES),
        "data": firing_data("500", "512", subject_account_id="gone"),
        "owner": None,
        "subject": None,
    }
    assert send_usage_alert(["a@x.example"], context) is None
    [mail] = world.mailer.sent
    assert "500" in mail.subject and "gone" in mail.text


def test_a_usage_alert_says_why_it_was_not_sent(world: World) -> None:
    context = {"alert": usage_alert(Measure.COUNT, None), "data": firing_data("5", "6"), "owner": None, "subject": None}
    assert send_usage_alert([], context) == "no recipients"
    world.mailer.fail_with = RuntimeError("SES down")
    assert send_usage_alert(["a@x.example"], context) == "RuntimeError: SES down"


def test_a_statement_sent_is_told_to_the_accounts_webhook(world: World) -> None:
    world.provision("acme")
    world.settings("acme", webhook_url=HOOK)
    statement = StoredStatement(
        "st_1", "acme", "scheduled", "monthly", "2026-02-01", "2026-02-28", ("a@x.example", "b@x.example"), "sent",
        world.clock.now, world.clock.now, world.clock.now, "ses-1", "USD", 0, 0, None,
    )  # fmt: skip
    notify_statement_sent(statement)
    notify_statement_sent(replace(statement, account_id="gone"))
    [event] = world.events("statement.sent")
    assert event.data == {
        "statement_id": "st_1",
        "from": "2026-02-01",
        "to": "2026-02-28",
        "origin": "scheduled",
        "recipients": 2,
    }


# -- tasks -------------------------------------------------------------------------------------------------


def test_billing_tasks_are_queued_as_json_and_none_is_nothing(world: World) -> None:
    dispatch([])
    assert world.queues.billing_tasks == []
    task = BillingTask(TaskKind.RECHARGE, "acme", "rc_1", -5 * UNIT)
    dispatch([task])
    assert [BillingTask.from_json(t) for t in world.queues.billing_tasks] == [task]


def test_a_queue_that_does_not_answer_loses_no_money(world: World) -> None:
    tried: list[object] = []

    def down(bodies: object) -> None:
        tried.append(bodies)
        raise ConnectionError("SQS unreachable")

    world.queues.send_billing_tasks = down  # type: ignore[method-assign,assignment]
    dispatch([BillingTask(TaskKind.RECHARGE, "acme", "rc_1", 0)])  # logged, not raised: the head stays flagged
    assert len(tried) == 1
