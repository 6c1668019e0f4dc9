"""Receipts: numbered once per succeeded payment (per billing account, under concurrency), as HTML
and PDF with the company block and the card; none for a failed payment."""

from __future__ import annotations

import io
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import pypdf
import pytest
from chalice.test import Client

from chalicelib.adapters.gateway.factory import reset_gateway, set_gateway
from chalicelib.adapters.gateway.simulated import SimulatedGateway
from chalicelib.adapters.payments_repo import PaymentRepository
from chalicelib.domain.payments import Payment, PaymentKind, PaymentStatus
from tests.integration.email_helpers import read_sent_emails
from tests.integration.http_helpers import admin, assert_error, make_client, ok_json, provision, send, viewer

PDF = {"Accept": "application/pdf"}


@pytest.fixture(scope="module")
def client(aws: Any) -> Client:
    return make_client()


@pytest.fixture(autouse=True)
def gateway():
    SimulatedGateway.reset()
    set_gateway(SimulatedGateway())
    yield
    reset_gateway()


def _with_card(client: Client, card: str = "pm_card_visa", **account: Any) -> str:
    account_id = provision(client, **account)
    ok_json(send(client, "PUT", f"/accounts/{account_id}/billing-settings", admin(account_id), {"primary_card": card}))
    return account_id


def _top_up(client: Client, account: str, amount: str) -> Any:
    headers = {**admin(account), "Idempotency-Key": uuid.uuid4().hex}
    return send(client, "POST", f"/accounts/{account}/payments", headers, {"amount": amount})


def _pending(billing_account_id: str) -> Payment:
    payment = Payment(
        payment_id=f"pay_r{uuid.uuid4().hex[:18]}",
        billing_account_id=billing_account_id,
        account_id=billing_account_id,
        kind=PaymentKind.AUTO_RECHARGE,
        amount_micros=25_000_000,
        currency="USD",
        status=PaymentStatus.PENDING,
        card_brand="visa",
        card_last4="4242",
        created_at=datetime.now(UTC),
        gateway="simulated",
    )
    return PaymentRepository().create_pending(payment)


def test_succeeded_payments_are_numbered_in_turn_per_billing_account_and_failed_ones_have_no_receipt(client):
    account = _with_card(client)
    numbers = [ok_json(_top_up(client, account, f"{10 + i}.00"), 201)["receipt_number"] for i in range(3)]
    assert numbers == [1, 2, 3]
    other = _with_card(client)
    assert ok_json(_top_up(client, other, "10.00"), 201)["receipt_number"] == 1  # each billing account counts alone

    ok_json(
        send(
            client,
            "PUT",
            f"/accounts/{account}/billing-settings",
            admin(account),
            {"primary_card": "pm_card_chargeDeclined"},
        )
    )
    declined = assert_error(_top_up(client, account, "20.00"), 422, "card_declined")["details"][0]
    assert declined["receipt_number"] is None and declined["receipt"] is None
    history = ok_json(send(client, "GET", f"/accounts/{account}/payments", viewer(account)))["items"]
    assert [(p["status"], p["receipt_number"]) for p in history] == [
        ("failed", None),
        ("succeeded", 3),
        ("succeeded", 2),
        ("succeeded", 1),
    ]
    for p in history:
        path = f"/accounts/{account}/payments/{p['id']}/receipt"
        assert p["receipt"] == (path if p["status"] == "succeeded" else None)
    # A failed payment has no receipt, as HTML or PDF: the API says why.
    for suffix, headers in (("", {}), ("/pdf", PDF)):
        url = f"/accounts/{account}/payments/{declined['id']}/receipt{suffix}"
        assert_error(send(client, "GET", url, {**viewer(account), **headers}), 404, mentions="no receipt")
    ok_json(
        send(client, "PUT", f"/accounts/{account}/billing-settings", admin(account), {"primary_card": "pm_card_visa"})
    )
    assert ok_json(_top_up(client, account, "30.00"), 201)["receipt_number"] == 4  # a decline takes no number


def test_numbers_are_given_once_and_never_twice_under_concurrency(client):
    account = provision(client)
    payments = PaymentRepository()
    pending = [_pending(account) for _ in range(12)]
    barrier = threading.Barrier(len(pending) + 4)
    results: dict[str, list[int | None]] = {p.payment_id: [] for p in pending}
    lock = threading.Lock()

    def finish(payment_id: str) -> None:
        barrier.wait()
        stored = PaymentRepository().finish(
            payment_id, PaymentStatus.SUCCEEDED, datetime.now(UTC), gateway_reference="g"
        )
        with lock:
            results[payment_id].append(stored.receipt_number)

    # Twelve payments finishing at once, four of them finished twice (a retried worker).
    targets = [p.payment_id for p in pending] + [p.payment_id for p in pending[:4]]
    threads = [threading.Thread(target=finish, args=(pid,)) for pid in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    given: dict[str, int] = {}
    for pid in results:
        stored_payment = payments.get(pid)
        assert stored_payment is not None and stored_payment.receipt_number is not None
        given[pid] = stored_payment.receipt_number
    assert sorted(given.values()) == list(range(1, 13))  # no gap, no repeat
    for pid, seen in results.items():
        assert set(seen) == {given[pid]}  # both finishes of one payment read the same number
    assert payments.last_receipt_number(account) == 12

    # A payment that succeeded before receipts were numbered gets one number, however many ask at once.
    legacy = _pending(account)
    from chalicelib.adapters.tables.payments import PaymentRecord

    PaymentRecord(legacy.payment_id).update(actions=[PaymentRecord.status.set("succeeded")])
    stored = payments.get(legacy.payment_id)
    assert stored is not None and stored.receipt_number is None
    numbers: list[int | None] = []
    workers = [
        threading.Thread(
            target=lambda: numbers.append(PaymentRepository().ensure_receipt_number(stored).receipt_number)
        )
        for _ in range(5)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert numbers == [13] * 5 and payments.last_receipt_number(account) == 13


def test_the_receipt_as_html_and_pdf_with_the_company_block_and_the_card(client, moto_endpoint):
    inbox = f"{uuid.uuid4().hex[:10]}@example.org"
    account = _with_card(client, name="Harbor Plumbing", time_zone="America/Chicago", emails=[inbox])
    payment = ok_json(_top_up(client, account, "40.00"), 201)
    path = f"/accounts/{account}/payments/{payment['id']}/receipt"
    html = send(client, "GET", path, viewer(account))
    assert html.status_code == 200 and html.headers["Content-Type"].startswith("text/html")
    page = html.body.decode()
    for expected in ("No. 1", "Charges &amp; Usage Demo Ltd", "Springfield, IL 62701", "Tax ID: EIN 00-0000000 (demo)"):
        assert expected in page, expected
    assert "Visa ending in 4242" in page and "$40.00" in page

    for url, headers in ((path, PDF), (f"{path}/pdf", PDF)):
        response = send(client, "GET", url, {**viewer(account), **headers})
        assert response.status_code == 200 and response.headers["Content-Type"] == "application/pdf"
        assert response.headers["Content-Disposition"] == f'inline; filename="receipt-{account}-1-{payment["id"]}.pdf"'
        text = pypdf.PdfReader(io.BytesIO(response.body)).pages[0].extract_text()
        for expected in ("No. 1", "$40.00 USD", "Charges & Usage Demo Ltd", "Tax ID", "Visa ending in 4242"):
            assert expected in text, expected
    # A browser's Accept (HTML first) gets the page.
    browser = {"Accept": "text/html,application/xhtml+xml,application/pdf;q=0.9,*/*;q=0.8"}
    assert send(client, "GET", path, {**viewer(account), **browser}).headers["Content-Type"].startswith("text/html")

    # The email: the number in the subject, the PDF attached.
    [mail] = read_sent_emails(moto_endpoint, to=inbox)
    assert mail["subject"].startswith("Receipt No. 1: 40.00 USD added to Harbor Plumbing")
    assert mail["leaf_types"] == ["text/plain", "text/html", "application/pdf"]
    assert "No. 1" in mail["text"] and "Visa ending in 4242" in mail["text"]


def test_receipt_pdfs_follow_the_access_policy(client):
    agency = provision(client, kind="agency")
    own = _with_card(client, agency_id=agency)
    sibling = provision(client, agency_id=agency)
    payment = ok_json(_top_up(client, own, "10.00"), 201)
    path = f"/accounts/{own}/payments/{payment['id']}/receipt/pdf"
    assert send(client, "GET", path, {**viewer(own), **PDF}).status_code == 200
    assert send(client, "GET", path, {**viewer(agency), **PDF}).status_code == 200
    assert_error(send(client, "GET", path, {**viewer(sibling), **PDF}), 404)
    elsewhere = f"/accounts/{sibling}/payments/{payment['id']}/receipt/pdf"
    assert_error(send(client, "GET", elsewhere, {**viewer(sibling), **PDF}), 404)
    assert_error(send(client, "GET", f"/accounts/{own}/payments/pay_nope/receipt/pdf", {**viewer(own), **PDF}), 404)
