"""Notices an agency needs, and a runway that knows what is coming, against DynamoDB Local and moto.

- Below zero (past due): the billing contacts are emailed once per crossing; a client on its
  own billing also has its agency's contacts told (and its card declines, its paused auto-recharge).
- GET /agencies/{id}/attention lists the clients whose balance needs a person.
- GET /accounts/{id}/balance says what recurring charges are coming and until when it covers them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.gateway.factory import reset_gateway, set_gateway
from chalicelib.adapters.gateway.simulated import SimulatedGateway
from chalicelib.domain.access import Principal, Role
from chalicelib.domain.auto_recharge import TaskKind
from chalicelib.domain.runway import add_months
from chalicelib.services.attention import agency_attention
from chalicelib.services.balances import get_balance
from chalicelib.services.recharge import RechargeOutcome, run_task
from tests.integration.test_usage_alerts import charge, event

from .payment_helpers import account_with_card, debit, emails_to
from .usage_helpers import new_id, provision

pytestmark = pytest.mark.usefixtures("aws")


@pytest.fixture(autouse=True)
def simulated_gateway() -> Any:
    SimulatedGateway.reset()
    gateway = SimulatedGateway()
    set_gateway(gateway)
    yield gateway
    reset_gateway()


def agency_with_client(**client: Any) -> tuple[str, str, str]:
    """An agency with a contact, and a client of it on its own billing with a card; returns (agency,
    client, the agency's contact address)."""
    contact = f"{new_id('owner')}@agency.example"
    agency = provision(new_id("ag"), kind="agency", emails=[contact])
    return agency, account_with_card(agency_id=agency, **client), contact


def kinds(outcome: Any) -> list[str]:
    """The notices a write set off (a recharge it may ask for aside)."""
    return [t.kind.value for t in outcome.tasks if t.kind is not TaskKind.RECHARGE]


def test_past_due_is_told_once_per_crossing_to_the_client_and_its_agency():
    _, client, agency_contact = agency_with_client(opening="5.00", threshold="0.00")
    assert kinds(debit(client, "4.00")) == []  # 1.00
    (task,) = [t for t in debit(client, "3.00").tasks if t.kind is TaskKind.PAST_DUE]  # -2.00: below zero
    assert kinds(debit(client, "1.00")) == []  # still past due: told already
    assert run_task(task) is RechargeOutcome.ALERTED
    [own] = [m for m in emails_to(_contact(client)) if m["subject"].startswith("Past due")]
    assert "-$2.00" in own["text"] and "went below zero" in own["text"]
    [copy] = [m for m in emails_to(agency_contact) if "Past due" in m["subject"]]
    assert copy["subject"].startswith("Your client") and "manage the account" in copy["text"]
    assert kinds(debit(client, credit="10.00")) == []  # 7.00: back above, re-armed
    assert kinds(debit(client, "8.00")) == ["past_due"]  # -1.00: a new crossing


def test_a_client_on_shared_billing_has_no_balance_of_its_own_to_be_past_due():
    agency = provision(new_id("ag"), kind="agency", emails=["o@ag.example"])
    shared = provision(new_id("sh"), agency_id=agency, billing="agency")
    outcome = debit(shared, "1.00")  # the agency's balance goes below zero: the agency is told
    (task,) = outcome.tasks
    assert (task.kind, task.billing_account_id) == (TaskKind.PAST_DUE, agency)


def test_a_clients_declined_card_and_paused_auto_recharge_reach_its_agency(simulated_gateway: Any) -> None:
    from .test_recharge import put_cooldown_in_the_past

    agency, client, agency_contact = agency_with_client(card="pm_card_chargeDeclined", opening="20.00")
    for _ in range(3):
        (task,) = [t for t in debit(client, "6.00").tasks if t.kind is TaskKind.RECHARGE]
        assert run_task(task, simulated_gateway) is RechargeOutcome.DECLINED
        put_cooldown_in_the_past(client)
    copies = [m for m in emails_to(agency_contact) if m["subject"].startswith("Your client")]
    assert len(copies) == 3 and "auto-recharge paused" in copies[-1]["subject"]
    assert all("declined" in m["text"].lower() for m in copies)

    attention = agency_attention(Principal("viewer", agency, Role.VIEWER), agency)
    [row] = attention["items"]
    assert row["account_id"] == client
    assert [n["kind"] for n in row["notices"]] == ["auto_recharge_paused"]
    assert attention["counts"] == {"auto_recharge_paused": 1}
    debit(client, "10.00")  # now below zero too
    [row] = agency_attention(Principal("viewer", agency, Role.VIEWER), agency)["items"]
    assert [n["kind"] for n in row["notices"]] == ["past_due", "auto_recharge_paused"]
    balance = get_balance(Principal("viewer", client, Role.VIEWER), client)
    assert [n["kind"] for n in balance["notices"]] == ["past_due", "auto_recharge_paused"]
    assert balance["auto_recharge"]["paused"] is True and balance["auto_recharge"]["consecutive_declines"] == 3


def _contact(account_id: str) -> str:
    from chalicelib.adapters.accounts_repo import AccountRepository

    account = AccountRepository().get(account_id)
    assert account is not None
    return account.emails[0]


# -- runway --------------------------------------------------------------------------------------------


def test_the_balance_knows_the_renewals_coming_and_the_day_it_runs_out():
    account = provision(new_id("runway"), time_zone="UTC")
    today = datetime.now(UTC).date()
    charge([[{**event(account, "recharge", 1, datetime.now(UTC) - timedelta(days=40)), "amount": "60.00"}]])
    # Three numbers renewed 20 days ago (one a week earlier, so it renewed before this window too),
    # a subscription 25 days ago, and calls: 30 days of 4 minutes a day at 0.0125 = 0.05 a day.
    renewed = today - timedelta(days=20)
    events = [
        {**event(account, "number_renewals", 1, _at(renewed), f"{account}-nr-{n}"), "unit_price": "5.00",
         "metadata": {"phone_number": f"+1555010000{n}"}}
        for n in range(3)
    ]  # fmt: skip
    events.append({**event(account, "subscription_fees", 1, _at(today - timedelta(days=25))), "amount": "20.00"})
    events += [event(account, "call_minutes", 4, _at(today - timedelta(days=d))) for d in range(1, 31)]
    charge([events])
    balance = get_balance(Principal("viewer", account, Role.VIEWER), account)
    # 60.00 - 15.00 - 20.00 - 1.50 = 23.50
    assert balance["balance"] == "23.50" and balance["average_daily_spend"] == "1.216667"
    upcoming = balance["upcoming"]
    assert upcoming["total"] == "35.00" and upcoming["count"] == 4
    assert upcoming["by_category"] == [
        {"category": "number_renewals", "count": 3, "amount": "15.00"},
        {"category": "subscription_fees", "count": 1, "amount": "20.00"},
    ]
    due = {(c["due_on"], c["category"]): c["amount"] for c in upcoming["charges"]}
    assert due == {
        (add_months(renewed, 1).isoformat(), "number_renewals"): "15.00",
        (add_months(today - timedelta(days=25), 1).isoformat(), "subscription_fees"): "20.00",
    }
    assert upcoming["average_daily_usage"] == "0.05"
    # 23.50 runs down by 0.05 a day; the subscription (20.00, in 5 or 6 days) leaves about 3.2, the
    # renewals (15.00, in 10 or 11 days) take it below zero that day.
    assert balance["covered_until"] == add_months(renewed, 1).isoformat()
    assert balance["runway_days"] == "19.3"


def _at(day: Any) -> datetime:
    return datetime(day.year, day.month, day.day, 12, 0, tzinfo=UTC)
