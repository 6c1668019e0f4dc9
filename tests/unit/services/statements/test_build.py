"""services/statements/build.py on the fakes: a statement's numbers from the ledger's balance days,
the rollups and the payments, read the way the API shows them (decimal strings), so these tests
hold whatever type carries the numbers inside."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain.payments import Payment, PaymentStatus
from chalicelib.services.statements import StatementRefused, build, get_statement, request_statement
from tests.fakes.world import admin, card_payment, viewer
from tests.unit.services.statements.conftest import World

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 3, 1, tzinfo=BERLIN)  # the period: March 1..14, Berlin
END = datetime(2026, 3, 15, tzinfo=BERLIN)
BODY = {"from": "2026-03-01", "to": "2026-03-14", "recipients": ["a@x.io"]}


def statement(world: World, account_id: str = "acme", body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The statement as GET /accounts/{id}/statements/{sid} returns it."""
    sid = request_statement(admin(account_id), account_id, body or BODY)["statement_id"]
    doc = get_statement(viewer(account_id), account_id, sid)["statement"]
    assert isinstance(doc, dict)
    return doc


def money(value: str) -> Decimal:
    return Decimal(value)


def balance_posted_before(world: World, account_id: str, instant: datetime) -> Decimal:
    """The ledger's own answer: the balance after the last entry posted before `instant`."""
    before = [e for e in world.ledger.chain(account_id) if e.posted_at < instant]
    micros = before[-1].balance_after_micros if before else 0
    return Decimal(micros) / 1_000_000


@dataclass(frozen=True)
class Activity:
    category: str
    occurred: timedelta  # after the period's start (negative: before it)
    posted_late: timedelta  # how long after it occurred it was charged
    amount: str | None  # recharges and adjustments


activity = st.builds(
    Activity,
    category=st.sampled_from(["call_minutes", "text_messages", "number_renewals", "recharge", "adjustment"]),
    occurred=st.timedeltas(min_value=timedelta(days=-4), max_value=timedelta(days=14, hours=12)),
    posted_late=st.sampled_from([timedelta(0), timedelta(seconds=5), timedelta(hours=3), timedelta(days=1)]),
    amount=st.sampled_from(["25", "0.015", "-1.25", "3.333333"]),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(activities=st.lists(activity, min_size=0, max_size=10))
def test_opening_plus_credits_minus_debits_is_closing(activities: list[Activity]) -> None:
    world = World()
    with world.bound():
        world.provision("acme")
        now = world.clock.now
        timed = []
        for a in activities:
            occurred = (START + a.occurred).astimezone(UTC)
            posted = min(occurred + a.posted_late, now)
            extra: dict[str, object] = {}
            if a.category == "recharge":
                extra["amount"] = a.amount.lstrip("-") if a.amount else "1"
            elif a.category == "adjustment":
                extra.update(amount=a.amount, description="goodwill")
            timed.append((posted, world.event("acme", a.category, **extra, occurred_at=occurred)))
        for posted, body in sorted(timed, key=lambda t: t[0]):
            world.record_at(posted, body)

        doc = statement(world)

        opening, closing = money(doc["opening_balance"]), money(doc["closing_balance"])
        credits = sum((money(line["amount"]) for line in doc["credits"]), Decimal(0))
        debits = sum((money(line["amount"]) for line in doc["debits"]), Decimal(0))
        assert opening + credits - debits == closing
        assert (credits, debits) == (money(doc["total_credits"]), money(doc["total_debits"]))
        # As printed, to the cent, too.
        printed = [money(doc[k]) for k in ("opening_balance_display", "closing_balance_display")]
        printed_credits = sum((money(line["amount_display"]) for line in doc["credits"]), Decimal(0))
        printed_debits = sum((money(line["amount_display"]) for line in doc["debits"]), Decimal(0))
        assert printed[0] + printed_credits - printed_debits == printed[1]
        # The boundaries are the ledger's balances at the period's edges (posted basis).
        assert opening == balance_posted_before(world, "acme", START)
        assert closing == balance_posted_before(world, "acme", END)
        # Usage lines are the events that occurred in the period (occurred basis).
        in_period = [
            a for a in activities if a.category not in ("recharge", "adjustment") and timedelta(0) <= a.occurred
            and a.occurred < END - START
        ]  # fmt: skip
        assert sum(row["count"] for row in doc["usage"]) == len(in_period)
        assert doc["chain"]["entries_posted"] == sum(
            1 for e in world.ledger.chain("acme") if START <= e.posted_at < END
        )


def test_a_quiet_period_opens_and_closes_at_the_same_balance(world: World) -> None:
    world.provision("acme")
    before = datetime(2026, 2, 20, 9, tzinfo=UTC)
    world.record_at(
        before,
        world.event("acme", "recharge", amount="10", occurred_at=before),
        world.event("acme", occurred_at=before),
    )
    doc = statement(world)
    assert doc["opening_balance"] == doc["closing_balance"] == "9.9625"
    assert doc["usage"] == [] and doc["chain"]["entries_posted"] == 0
    assert [line["key"] for line in doc["credits"] + doc["debits"]] == ["recharges", "usage"]
    assert all(money(line["amount"]) == 0 for line in doc["credits"] + doc["debits"])
    assert len(doc["daily"]) == 14 and doc["period"]["in_progress"] is False


def test_late_posting_shows_as_a_posting_date_difference(world: World) -> None:
    world.provision("acme")
    occurred = datetime(2026, 2, 28, 22, 59, 58, tzinfo=UTC)  # 23:59:58 on Feb 28 in Berlin
    posted = occurred + timedelta(seconds=5)  # charged on March 1
    world.record_at(posted, world.event("acme", occurred_at=occurred))
    doc = statement(world)
    assert doc["usage"] == []  # it occurred before the period
    (difference,) = [line for line in doc["debits"] if line["key"] == "posting_difference"]
    assert money(difference["amount"]) == Decimal("0.0375") == -money(doc["closing_balance"])


def test_a_period_still_running_closes_at_the_balance_now(world: World) -> None:
    world.provision("acme")
    today = world.clock.now - timedelta(hours=1)
    world.record_at(today, world.event("acme", "recharge", amount="5", occurred_at=today))
    doc = statement(world, body={"from": "2026-03-01", "to": "2026-03-15", "recipients": ["a@x.io"]})
    assert doc["period"]["in_progress"] is True
    assert doc["period"]["closing_at"] == "2026-03-15T12:00:00.000000Z"
    assert doc["closing_balance"] == "5.00" and len(doc["daily"]) == 15


def payment(account_id: str, status: PaymentStatus, amount: int, at: datetime, **fields: Any) -> Payment:
    return card_payment(
        account_id,
        f"pay_{status.value}_{amount}_{at:%d%H}",
        status=status,
        amount_micros=amount,
        created_at=at,
        **fields,
    )


def pay(world: World, p: Payment) -> None:
    world.payments.create_pending(p)
    if p.status is not PaymentStatus.PENDING:
        world.payments.finish(p.payment_id, p.status, p.created_at, gateway_reference="ref", failure_reason=None)


def test_card_charges_of_the_period_are_listed_and_the_succeeded_ones_totalled(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build, "PAYMENT_PAGE", 1)  # every charge on a page of its own: all pages read
    world.provision("acme")
    inside = datetime(2026, 3, 3, 12, tzinfo=UTC)
    pay(world, payment("acme", PaymentStatus.SUCCEEDED, 20_000_000, inside))
    pay(world, payment("acme", PaymentStatus.FAILED, 7_000_000, inside + timedelta(days=1)))
    pay(world, payment("acme", PaymentStatus.PENDING, 9_000_000, inside + timedelta(days=2)))
    pay(world, payment("acme", PaymentStatus.SUCCEEDED, 1_000_000, datetime(2026, 2, 27, tzinfo=UTC)))
    doc = statement(world)
    assert [(c["status"], c["amount"]) for c in doc["card_charges"]] == [("succeeded", "20.00"), ("failed", "7.00")]
    assert doc["card_charges_total"] == "20.00" and doc["card_charges"][0]["card_last4"] == "4242"


def test_an_agency_statement_covers_its_shared_accounts_and_lists_the_own_billing_ones(world: World) -> None:
    world.provision("agency", kind="agency", name="Agency")
    world.provision("shared", agency_id="agency", billing="agency", name="Shared client")
    world.provision("own", agency_id="agency", billing="own", name="Own client")
    at = datetime(2026, 3, 6, 9, tzinfo=UTC)
    world.record_at(
        at,
        world.event("agency", "recharge", amount="100", occurred_at=at),
        world.event("shared", occurred_at=at),
        world.event("shared", "text_messages", occurred_at=at),
        world.event("agency", occurred_at=at),
        world.event("own", "recharge", amount="30", occurred_at=at),
        world.event("own", occurred_at=at),
    )
    pay(world, payment("own", PaymentStatus.SUCCEEDED, 30_000_000, at, agency_id="agency"))
    doc = statement(world, "agency")
    assert [(a["account_id"], a["role"]) for a in doc["accounts"]] == [("agency", "agency"), ("shared", "shared")]
    assert money(doc["usage_total"]) == sum((money(a["usage_total"]) for a in doc["accounts"]), Decimal(0))
    assert doc["closing_balance"] == "99.9013"  # the agency's balance pays for the shared client's use
    (own,) = doc["own_billing_accounts"]
    assert (own["account_id"], own["card_charges"], own["closing_balance"]) == ("own", "30.00", "29.9625")
    assert own["usage_total"] == "0.0375"


def own_billing_client(world: World) -> None:
    world.provision("agency", kind="agency", name="Agency")
    world.provision("own", agency_id="agency", billing="own", name="Own client")
    at = datetime(2026, 3, 6, 9, tzinfo=UTC)
    world.record_at(at, world.event("own", "recharge", amount="30", occurred_at=at))
    late = datetime(2026, 3, 15, 8, tzinfo=UTC)  # after the period: its closing is the head less this day
    world.record_at(late, world.event("own", occurred_at=late))


def test_an_own_billing_clients_closing_balance_is_at_the_periods_end(world: World) -> None:
    own_billing_client(world)
    (closed,) = statement(world, "agency")["own_billing_accounts"]
    assert closed["closing_balance"] == "30.00" and world.balance("own") == 29_962_500
    running = {"from": "2026-03-01", "to": "2026-03-15", "recipients": ["a@x.io"]}
    (now,) = statement(world, "agency", running)["own_billing_accounts"]
    assert now["closing_balance"] == "29.9625"


def test_an_own_billing_client_whose_ledger_does_not_link_up_refuses_the_agencys_statement(world: World) -> None:
    own_billing_client(world)
    head = world.ledger.tables.head_record("own")
    assert head is not None
    world.ledger.tables.update_head(head, {"balance_micros": int(head.balance_micros) + 1})
    with pytest.raises(StatementRefused, match="do not link up"):
        statement(world, "agency")
    assert world.statements.items == {}
