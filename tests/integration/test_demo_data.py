"""The demo data tells one story: every card-funded credit is a payment with a receipt, statements
match card charges to recharges, month-over-month costs move as a real business's do."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.adapters.accounts_repo import AccountRepository
from chalicelib.adapters.gateway.factory import reset_gateway
from chalicelib.adapters.ledger_repo import LedgerRepository
from chalicelib.adapters.payments_repo import PaymentRepository
from chalicelib.domain.categories import Category
from chalicelib.domain.payments import Payment, PaymentStatus
from chalicelib.services.statements import build_numbers
from devtools.demo_ids import AGENCY_ID, OWN_1_ID, OWN_2_ID, SHARED_ID
from devtools.seed import DEMO_ACCOUNTS, first_day, seed
from tests.integration.http_helpers import make_client, ok_json, send, viewer

BILLING_ACCOUNTS = (AGENCY_ID, OWN_1_ID, OWN_2_ID)


@pytest.fixture(scope="module")
def today(aws: Any) -> date:
    reset_gateway()  # the local default, the simulated gateway
    day = datetime.now(UTC).date()
    seed(today=day, verbose=False)
    return day


@pytest.fixture(scope="module")
def client(aws: Any) -> Client:
    return make_client()


def _payments(billing_account_id: str) -> list[Payment]:
    page = PaymentRepository().page(billing_account_id, None, None, 500, None)
    assert page.last_key is None
    return page.payments


def _full_months(today: date) -> list[tuple[date, date]]:
    """The whole calendar months of the demo history, oldest first."""
    months: list[tuple[date, date]] = []
    start = first_day(today)
    while True:
        end = (start.replace(day=28) + timedelta(days=4)).replace(day=1)  # the first of the next month
        if end > today:  # the month has not ended yesterday or before
            return months
        months.append((start, end - timedelta(days=1)))
        start = end


def test_every_card_funded_credit_in_the_logs_is_a_payment_with_its_receipt(today: date, client: Client) -> None:
    for billing in BILLING_ACCOUNTS:
        credits = [e for e in LedgerRepository().chain(billing) if e.category is Category.RECHARGE]
        payments = _payments(billing)
        succeeded = {p.payment_id: p for p in payments if p.status is PaymentStatus.SUCCEEDED}
        assert credits and succeeded
        for entry in credits:  # every credit names its payment, and is keyed by it (credited once)
            payment = succeeded[str(entry.metadata["payment_id"])]
            assert entry.event_id == payment.credit_event_id
            assert entry.amount_micros == payment.amount_micros
            assert "•••• " in entry.description and payment.card_last4 in entry.description
        assert {str(e.metadata["payment_id"]) for e in credits} == set(succeeded)  # and every payment is credited
        # Receipts: numbered 1, 2, 3 ... in the order the card was charged, each one readable.
        in_order = sorted(succeeded.values(), key=lambda p: p.created_at)
        assert [p.receipt_number for p in in_order] == list(range(1, len(in_order) + 1))
        for payment in in_order:
            response = send(
                client, "GET", f"/accounts/{billing}/payments/{payment.payment_id}/receipt", viewer(billing)
            )
            assert response.status_code == 200 and f"No. {payment.receipt_number}" in response.body.decode()
        listed = ok_json(send(client, "GET", f"/accounts/{billing}/payments?limit=100", viewer(billing)))["items"]
        assert all((p["receipt"] is None) == (p["status"] == "failed") for p in listed)
    # Auto-recharges through the history, not only today's top-ups.
    history = [p for b in BILLING_ACCOUNTS for p in _payments(b) if p.created_at.date() < today]
    assert {p.billing_account_id for p in history if p.status is PaymentStatus.SUCCEEDED} == set(BILLING_ACCOUNTS)


def test_statements_show_the_card_charges_behind_the_recharges(today: date) -> None:
    accounts = AccountRepository()
    now = datetime.now(UTC)
    seen_charges = 0
    for billing in BILLING_ACCOUNTS:
        account = accounts.get(billing)
        assert account is not None
        for first, last in _full_months(today):
            doc = build_numbers(account, first, last, statement_id="st_" + "0" * 24, now=now)
            recharges = next(line for line in doc.credits if line.key == "recharges").amount_micros
            assert doc.card_charges_total_micros == recharges, (billing, first, doc.card_charges)
            seen_charges += len(doc.card_charges)
    assert seen_charges >= 5


def test_month_over_month_costs_are_those_of_a_steady_business(today: date, client: Client) -> None:
    months = _full_months(today)
    assert len(months) >= 2
    for account in DEMO_ACCOUNTS:
        report = ok_json(
            send(
                client,
                "GET",
                f"/accounts/{account.account_id}/usage?from={months[0][0]}&to={months[-1][1]}&group_by=month",
                viewer(account.account_id),
            )
        )
        cost: dict[str, int] = {}
        for row in report["rows"]:
            whole, _, cents = row["amount"].partition(".")
            cost[row["period"]] = cost.get(row["period"], 0) + int(whole) * 100 + int((cents + "00")[:2])
        values = [cost[key] for key in sorted(cost)]
        assert len(values) == len(months), (account.account_id, cost)
        for before, after in itertools.pairwise(values):
            assert abs(after - before) * 100 <= 25 * before, (account.account_id, values)  # within 25%


def test_the_declined_card_and_the_pause_are_part_of_the_story(today: date, client: Client) -> None:
    thames = _payments(OWN_2_ID)
    failed = [p for p in thames if p.status is PaymentStatus.FAILED]
    assert len(failed) == 3 and all(p.receipt_number is None and p.failure_code == "expired_card" for p in failed)
    balance = ok_json(send(client, "GET", f"/accounts/{OWN_2_ID}/balance", viewer(OWN_2_ID)))
    assert balance["auto_recharge"]["paused"] is True and balance["status"] in ("low", "past_due")
    # The shared sub-account has no payments: its agency's card pays.
    assert _payments(SHARED_ID) == []


def test_seeding_again_charges_nothing_new(today: date) -> None:
    before = {b: (LedgerRepository().balance(b).seq, len(_payments(b))) for b in BILLING_ACCOUNTS}
    summary = seed(today=today, verbose=False)
    assert summary.charged == 0
    assert {b: (LedgerRepository().balance(b).seq, len(_payments(b))) for b in BILLING_ACCOUNTS} == before
