"""services/receipts.py: a receipt is the billing account's, only for money taken, numbered (once)
when first read if it was recorded before numbering; as HTML and as a PDF."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from chalicelib.domain.money import MICROS_PER_UNIT
from chalicelib.domain.payments import Payment, PaymentStatus
from chalicelib.services.errors import NotFound
from chalicelib.services.payments import add_funds
from chalicelib.services.receipts import receipt_html, receipt_path, receipt_pdf
from tests.fakes.world import admin, card_payment, viewer
from tests.unit.services.payments.conftest import World


def stored_payment(account: str, status: PaymentStatus, payment_id: str = "pay_r1") -> Payment:
    return card_payment(
        account,
        payment_id,
        status=status,
        amount_micros=42 * MICROS_PER_UNIT,
        created_at=datetime(2026, 3, 10, 15, 30, tzinfo=UTC),
        card_brand="mastercard",
        card_last4="4444",
    )


@pytest.fixture
def paid(world: World) -> str:
    world.provision("acme")
    world.settings("acme", primary_card="pm_card_visa")
    return str(add_funds(admin("acme"), "acme", {"amount": "50.00"}, "k1").body["id"])


def test_the_receipt_page_and_pdf_of_a_payment(world: World, paid: str) -> None:
    html = receipt_html(viewer("acme"), "acme", paid)
    assert "No. 1" in html and "acme Inc" in html and "50.00" in html and "4242" in html
    pdf, filename = receipt_pdf(viewer("acme"), "acme", paid)
    assert pdf.startswith(b"%PDF") and filename.endswith(".pdf") and "1" in filename


def test_no_receipt_for_another_balance_an_unknown_id_or_money_not_taken(world: World, paid: str) -> None:
    world.provision("globex")
    with pytest.raises(NotFound):
        receipt_html(viewer("globex"), "globex", paid)  # acme's payment
    with pytest.raises(NotFound):
        receipt_html(viewer("acme"), "acme", "pay_unknown")
    with pytest.raises(NotFound):
        receipt_html(viewer("acme"), "acme", "../acme")  # not a payment id: not even looked up
    world.payments.seed(stored_payment("acme", PaymentStatus.FAILED, "pay_failed"))
    with pytest.raises(NotFound, match="failed: there is no receipt"):
        receipt_pdf(viewer("acme"), "acme", "pay_failed")


def test_a_payment_recorded_before_numbering_is_numbered_when_first_read(world: World, paid: str) -> None:
    world.payments.seed(stored_payment("acme", PaymentStatus.REFUNDED))
    assert "No. 2" in receipt_html(viewer("acme"), "acme", "pay_r1")
    assert "No. 2" in receipt_html(viewer("acme"), "acme", "pay_r1")
    assert world.payments.last_receipt_number("acme") == 2


def test_a_receipt_names_the_agency_that_pays_for_a_sub_account(world: World) -> None:
    world.provision("agency", kind="agency")
    world.provision("client", agency_id="agency", billing="agency")
    # A payment the sub-account made while it paid its own way.
    world.payments.seed(replace(stored_payment("client", PaymentStatus.SUCCEEDED), receipt_number=1))
    html = receipt_html(admin("agency"), "client", "pay_r1")
    assert "agency Inc" in html and "client Inc" in html


def test_where_a_receipt_is(world: World) -> None:
    assert receipt_path(stored_payment("acme", PaymentStatus.SUCCEEDED)) == "/accounts/acme/payments/pay_r1/receipt"
    assert receipt_path(stored_payment("acme", PaymentStatus.PENDING)) is None
