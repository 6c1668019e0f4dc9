"""HTTP: billing settings, adding funds (Idempotency-Key), Payment History and receipts."""

from __future__ import annotations

import re
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.adapters.gateway.factory import reset_gateway, set_gateway
from chalicelib.adapters.gateway.simulated import SimulatedGateway
from chalicelib.adapters.tables.base import all_models
from tests.integration.http_helpers import (
    admin,
    agency_with_subs,
    assert_error,
    make_client,
    ok_json,
    provision,
    send,
    service,
    viewer,
)


@pytest.fixture(scope="module")
def client(aws: Any) -> Client:
    return make_client()


@pytest.fixture(autouse=True)
def gateway():
    SimulatedGateway.reset()
    set_gateway(SimulatedGateway())
    yield
    reset_gateway()


def settings(client: Client, account: str, body: dict[str, Any]) -> Any:
    return send(client, "PUT", f"/accounts/{account}/billing-settings", admin(account), body)


def add_funds(client: Client, account: str, body: dict[str, Any], key: str | None, headers=None) -> Any:
    headers = dict(headers or admin(account))
    if key is not None:
        headers["Idempotency-Key"] = key
    return send(client, "POST", f"/accounts/{account}/payments", headers, body)


def test_settings_round_trip_without_the_token(client):
    account = provision(client)
    body = ok_json(
        settings(
            client,
            account,
            {
                "auto_recharge_enabled": True,
                "threshold": "15.00",
                "amount": "25.00",
                "primary_card": "pm_card_visa",
                "backup_card": "pm_card_mastercard",
                "low_balance_alert": "20.00",
                "alert_recipients": ["ops@example.com"],
            },
        )
    )
    assert body["primary_card"] == {"brand": "visa", "last4": "4242"}
    assert body["backup_card"]["brand"] == "mastercard"
    assert (body["threshold"], body["amount"], body["low_balance_alert"]) == ("15.00", "25.00", "20.00")
    assert "pm_card" not in str(ok_json(send(client, "GET", f"/accounts/{account}/billing-settings", viewer(account))))
    # fields left out keep their value; null clears
    body = ok_json(settings(client, account, {"backup_card": None}))
    assert body["backup_card"] is None and body["primary_card"]["last4"] == "4242"
    balance = ok_json(send(client, "GET", f"/accounts/{account}/balance", viewer(account)))
    assert balance["auto_recharge"]["enabled"] is True


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"primary_card": "4242 4242 4242 4242"}, "raw card number"),
        ({"primary_card": "4242-4242-4242-4242"}, "raw card number"),
        ({"primary_card": "tok_visa"}, "token"),
        ({"primary_card": "pm_card_unknown"}, "primary_card"),
        ({"amount": "25.005"}, "cents"),
        ({"amount": "5.00"}, "between"),
        ({"amount": "100000.00"}, "between"),
        ({"threshold": "-1.00"}, "threshold"),
        ({"amount": "abc"}, "amount"),
        ({"auto_recharge_enabled": True}, "card"),
        ({"backup_card": "pm_card_visa"}, "primary"),
        ({"alert_recipients": ["not-an-email"]}, "email"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_settings_are_400_and_change_nothing(client, body, mentions):
    account = provision(client)
    assert_error(settings(client, account, body), 400, mentions=mentions)
    stored = ok_json(send(client, "GET", f"/accounts/{account}/billing-settings", viewer(account)))
    assert stored["primary_card"] is None and stored["auto_recharge_enabled"] is False


def test_no_raw_card_number_is_ever_stored(client):
    account = provision(client)
    for number in ("4242424242424242", "4000 0566 5566 5556", "5555-5555-5555-4444"):
        assert_error(settings(client, account, {"primary_card": number}), 400)
        assert_error(add_funds(client, account, {"amount": "10.00", "card": number}, "k-" + number[:4]), 400)
    # Every text attribute of every item of every table (amounts are numbers, not text).
    card_run = re.compile(r"(?<![0-9A-Za-z])(?:\d[ -]?){12,18}\d(?![0-9A-Za-z])")
    for model in all_models():
        for item in model.scan():
            assert not card_run.search(_texts(item.serialize())), item.serialize()


def _texts(value: Any) -> str:
    """All string values inside a serialized DynamoDB item, maps and lists included."""
    if isinstance(value, dict):
        if "S" in value and len(value) == 1:
            return str(value["S"])
        return " ".join(_texts(v) for v in value.values())
    if isinstance(value, list):
        return " ".join(_texts(v) for v in value)
    return ""


def test_add_funds_is_idempotent_per_key(client):
    account = provision(client, emails=["owner@example.com"])
    settings(client, account, {"primary_card": "pm_card_visa"})
    first = add_funds(client, account, {"amount": "50.00"}, "topup-1")
    payment = ok_json(first, 201)
    assert (payment["status"], payment["amount"], payment["kind"]) == ("succeeded", "50.00", "manual")
    again = add_funds(client, account, {"amount": "50.00"}, "topup-1")
    assert ok_json(again, 201) == payment
    assert_error(add_funds(client, account, {"amount": "60.00"}, "topup-1"), 409, "conflict")
    assert len(SimulatedGateway.charges()) == 1
    assert ok_json(send(client, "GET", f"/accounts/{account}/balance", viewer(account)))["balance"] == "50.00"
    ok_json(add_funds(client, account, {"amount": "10.00"}, "topup-2"), 201)
    assert ok_json(send(client, "GET", f"/accounts/{account}/balance", viewer(account)))["balance"] == "60.00"


def test_add_funds_needs_a_key_a_card_and_an_admin(client):
    account = provision(client)
    assert_error(add_funds(client, account, {"amount": "50.00"}, None), 400, mentions="Idempotency-Key")
    assert_error(add_funds(client, account, {"amount": "50.00"}, "k1"), 400, mentions="card")
    settings(client, account, {"primary_card": "pm_card_visa"})
    assert_error(add_funds(client, account, {"amount": "50.00"}, "k2", headers=viewer(account)), 403)
    assert_error(add_funds(client, account, {"amount": "50.00"}, "k3", headers=service()), 403)
    assert_error(add_funds(client, account, {"amount": "5"}, "k4"), 400, mentions="between")
    assert_error(add_funds(client, account, {"amount": "10.001"}, "k5"), 400)


def test_a_declined_top_up_is_recorded_and_answered_422(client):
    account = provision(client)
    settings(client, account, {"primary_card": "pm_card_chargeDeclinedExpiredCard"})
    error = assert_error(add_funds(client, account, {"amount": "20.00"}, "k"), 422, "card_declined")
    assert error["details"][0]["status"] == "failed" and error["details"][0]["failure_code"] == "expired_card"
    history = ok_json(send(client, "GET", f"/accounts/{account}/payments", viewer(account)))
    assert [p["status"] for p in history["items"]] == ["failed"]


def test_history_is_newest_first_and_pages_with_a_bound_cursor(client):
    account = provision(client, time_zone="America/New_York")
    other = provision(client)
    settings(client, account, {"primary_card": "pm_card_visa"})
    for i in range(5):
        ok_json(add_funds(client, account, {"amount": f"{10 + i}.00"}, f"h{i}"), 201)
    page = ok_json(send(client, "GET", f"/accounts/{account}/payments?limit=2", viewer(account)))
    assert [p["amount"] for p in page["items"]] == ["14.00", "13.00"]
    seen = [p["id"] for p in page["items"]]
    while page["next_cursor"]:
        page = ok_json(
            send(client, "GET", f"/accounts/{account}/payments?limit=2&cursor={page['next_cursor']}", viewer(account))
        )
        seen += [p["id"] for p in page["items"]]
    assert len(seen) == len(set(seen)) == 5
    cursor = ok_json(send(client, "GET", f"/accounts/{account}/payments?limit=2", viewer(account)))["next_cursor"]
    assert_error(send(client, "GET", f"/accounts/{other}/payments?cursor={cursor}", viewer(other)), 400)
    empty = ok_json(send(client, "GET", f"/accounts/{account}/payments?from=2020-01-01&to=2020-12-31", viewer(account)))
    assert empty["items"] == []
    assert_error(send(client, "GET", f"/accounts/{account}/payments?from=2026-13-01", viewer(account)), 400)


def test_receipt_is_escaped_html(client):
    account = provision(client, name="<script>alert(1)</script> Plumbing")
    settings(client, account, {"primary_card": "pm_card_visa"})
    payment = ok_json(add_funds(client, account, {"amount": "12.34"}, "r1"), 201)
    response = send(client, "GET", f"/accounts/{account}/payments/{payment['id']}/receipt", viewer(account))
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    html = response.body.decode()
    assert "&lt;script&gt;" in html and "<script>alert" not in html
    assert "12.34" in html and "4242" in html
    other = provision(client)
    assert_error(send(client, "GET", f"/accounts/{other}/payments/{payment['id']}/receipt", viewer(other)), 404)
    assert_error(send(client, "GET", f"/accounts/{account}/payments/pay_nope/receipt", viewer(account)), 404)


def test_shared_billing_says_who_pays(client):
    agency, shared, _own = agency_with_subs(client)
    body = ok_json(send(client, "GET", f"/accounts/{shared}/payments", viewer(shared)))
    assert body["items"] == [] and body["paid_by"]["account_id"] == agency
    assert ok_json(send(client, "GET", f"/accounts/{shared}/billing-settings", viewer(shared)))["paid_by"] == agency
    assert_error(settings(client, shared, {"primary_card": "pm_card_visa"}), 422, "shared_billing")
    assert_error(add_funds(client, shared, {"amount": "10.00"}, "s1"), 422, "shared_billing")


def test_receipts_follow_the_access_policy(client):
    agency, _shared, own = agency_with_subs(client)
    sibling = provision(client, agency_id=agency)
    settings(client, own, {"primary_card": "pm_card_visa"})
    payment = ok_json(add_funds(client, own, {"amount": "10.00"}, "x1"), 201)
    path = f"/accounts/{own}/payments/{payment['id']}/receipt"
    assert send(client, "GET", path, viewer(own)).status_code == 200
    assert send(client, "GET", path, viewer(agency)).status_code == 200  # the agency reaches its sub
    assert_error(send(client, "GET", path, viewer(sibling)), 404)
    assert_error(send(client, "GET", f"/accounts/{sibling}/payments/{payment['id']}/receipt", viewer(sibling)), 404)
