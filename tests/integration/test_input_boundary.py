"""Issue 11: one validation boundary for every number and string that enters, HTTP and queue alike.

Each refused value is a 400 in the contract's error shape naming the field, and
nothing is written; on the queue path the same values are dead-lettered at once,
alone, with their reason, and the good events of the same batch are charged.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.adapters.gateway.factory import reset_gateway, set_gateway
from chalicelib.adapters.gateway.simulated import SimulatedGateway
from chalicelib.config import get_settings
from tests.integration.http_helpers import (
    admin,
    assert_error,
    credit,
    drain_queue,
    make_client,
    new_id,
    ok_json,
    provision,
    send,
    service,
    sqs_event,
    usage_event,
    viewer,
)

HUGE = "1e1000000"  # a JSON number: Decimal parses it, Decimal arithmetic on it overflows
BAD_NUMBERS = [
    pytest.param(HUGE, id="1e1000000"),
    pytest.param("-" + HUGE, id="-1e1000000"),
    # Digits of other scripts that Python's \d and Decimal() read as 50, 50 and 10.00:
    # valid amounts and quantities, had they been ASCII.
    pytest.param('"\u0665\u0660"', id="arabic-indic-50"),
    pytest.param('"\uff15\uff10"', id="fullwidth-50"),
    pytest.param('"1\u0660.00"', id="mixed-digits-10"),
]
CONTROL_TEXTS = [
    pytest.param("Acme\r\nPlumbing", id="CRLF"),
    pytest.param("Acme\nPlumbing", id="LF"),
    pytest.param("Acme\rBcc: x@evil.example", id="CR"),
    pytest.param("Acme\x00", id="NUL"),
    pytest.param("Acme\x85Plumbing", id="NEL"),
    pytest.param("Acme\u2028Plumbing", id="U+2028"),
    pytest.param("Acme\tPlumbing", id="TAB"),
]


@pytest.fixture(scope="module")
def client(aws: Any) -> Client:
    return make_client()


@pytest.fixture(autouse=True)
def gateway_and_queue(client: Client) -> Any:
    SimulatedGateway.reset()
    set_gateway(SimulatedGateway())
    drain_queue(get_settings().usage_queue_name)
    drain_queue(get_settings().usage_dlq_name)
    yield
    reset_gateway()


def raw_json(body: Any, number: str) -> bytes:
    """`body` as JSON with every "NUMBER" placeholder written as the JSON text `number`."""
    return json.dumps(body).replace('"NUMBER"', number).encode()


def queued() -> list[dict[str, Any]]:
    return drain_queue(get_settings().usage_queue_name)


def logs(client: Client, account_id: str) -> list[dict[str, Any]]:
    body = ok_json(send(client, "GET", f"/accounts/{account_id}/logs", viewer(account_id)))
    return list(body["items"])


# -- numbers over HTTP ---------------------------------------------------------------------


@pytest.mark.parametrize("number", BAD_NUMBERS)
@pytest.mark.parametrize(
    ("field", "event"),
    [
        ("quantity", {"category": "call_minutes", "quantity": "NUMBER"}),
        ("unit_price", {"category": "call_minutes", "quantity": "1", "unit_price": "NUMBER"}),
        ("amount", {"category": "subscription_fees", "quantity": "1", "amount": "NUMBER"}),
        ("amount", {"category": "recharge", "amount": "NUMBER"}),
        ("amount", {"category": "adjustment", "amount": "NUMBER", "description": "why"}),
    ],
)
def test_bad_numbers_in_usage_events_are_400_naming_the_field(
    client: Client, number: str, field: str, event: dict[str, Any]
) -> None:
    account = provision(client)
    body = {"events": [usage_event(account), {**usage_event(account), **event}]}
    response = send(client, "POST", "/usage-events", service(), raw=raw_json(body, number))
    error = assert_error(response, 400, "bad_request")
    assert [d["index"] for d in error["details"]] == [1]
    assert error["details"][0]["message"].startswith(f"{field}: "), error
    assert field in error["message"]
    assert queued() == []


@pytest.mark.parametrize("number", BAD_NUMBERS)
def test_bad_numbers_in_add_funds_are_400_and_charge_nothing(client: Client, number: str) -> None:
    account = provision(client)
    ok_json(
        send(client, "PUT", f"/accounts/{account}/billing-settings", admin(account), {"primary_card": "pm_card_visa"})
    )
    headers = {**admin(account), "Idempotency-Key": new_id("key")}
    response = send(
        client, "POST", f"/accounts/{account}/payments", headers, raw=raw_json({"amount": "NUMBER"}, number)
    )
    assert "amount" in assert_error(response, 400, "bad_request")["message"]
    assert ok_json(send(client, "GET", f"/accounts/{account}/payments", viewer(account)))["items"] == []


@pytest.mark.parametrize("number", BAD_NUMBERS)
@pytest.mark.parametrize("field", ["threshold", "amount", "low_balance_alert"])
def test_bad_numbers_in_billing_settings_are_400_and_change_nothing(client: Client, number: str, field: str) -> None:
    account = provision(client)
    url = f"/accounts/{account}/billing-settings"
    before = ok_json(send(client, "GET", url, admin(account)))
    response = send(client, "PUT", url, admin(account), raw=raw_json({field: "NUMBER"}, number))
    assert field in assert_error(response, 400, "bad_request")["message"]
    assert ok_json(send(client, "GET", url, admin(account))) == before


@pytest.mark.parametrize("number", BAD_NUMBERS)
def test_bad_numbers_in_rates_are_400_and_change_nothing(client: Client, number: str) -> None:
    account = provision(client)
    url = f"/accounts/{account}/rates"
    before = ok_json(send(client, "GET", url, service()))
    body = {"rates": {"call_minutes": {"unit_price": "NUMBER"}}}
    response = send(client, "PUT", url, service(), raw=raw_json(body, number))
    assert "unit_price" in assert_error(response, 400, "bad_request")["message"]
    assert ok_json(send(client, "GET", url, service())) == before


# -- metadata and products ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ('{"n": ' + "1" * 45 + "}", "metadata.n: an integer of more than 38 digits"),
        ('{"n": -' + "9" * 39 + "}", "metadata.n: an integer of more than 38 digits"),
        ('{"n": 1e50}', "metadata.n"),
        ('{"n": 1.5}', "metadata.n: a number with a fraction"),
        ('{"": "x"}', "metadata"),
        ('{"call\\nid": "x"}', "metadata"),
        ('{"call_id": "88\\r\\n12"}', "metadata.call_id: must not contain control characters"),
    ],
)
def test_metadata_dynamodb_cannot_store_is_400(client: Client, metadata: str, reason: str) -> None:
    account = provision(client)
    body = {"events": [usage_event(account, metadata="NUMBER")]}
    response = send(client, "POST", "/usage-events", service(), raw=raw_json(body, metadata))
    error = assert_error(response, 400, "bad_request")
    assert reason in error["details"][0]["message"], error
    assert queued() == []


def test_a_38_digit_metadata_integer_is_stored_and_read_back_exactly(client: Client) -> None:
    import app as app_module

    account = provision(client)
    big = int("9" * 38)
    event = usage_event(account, event_id=new_id("meta"), metadata={"n": big, "m": -big, "flag": True})
    ok_json(send(client, "POST", "/usage-events", service(), {"events": [event]}), 202)
    assert app_module.ingest_usage_events(sqs_event(queued()), None) == {"batchItemFailures": []}
    from chalicelib.adapters.ledger_repo import LedgerRepository

    (entry,) = LedgerRepository().chain(account)
    assert entry.metadata == {"n": big, "m": -big, "flag": True}


@pytest.mark.parametrize(
    ("event", "rates", "reason"),
    [
        # The example: 1e9 x 1e10 would have written an entry of -1e25 micros.
        ({"quantity": "1000000000", "unit_price": "10000000000"}, None, "unit_price: quantity 1000000000 x unit_price"),
        ({"quantity": "1000000", "unit_price": "10000.000001"}, None, "more than the ledger's limit"),
        ({"category": "subscription_fees", "quantity": "1000000000"}, None, "quantity: 1000000000 x unit price 30.00"),
        ({"quantity": "1000000000"}, {"call_minutes": {"unit_price": "1000000"}}, "quantity: 1000000000 x unit price"),
    ],
)
def test_quantity_times_price_over_the_ledger_range_is_400(
    client: Client, event: dict[str, Any], rates: dict[str, Any] | None, reason: str
) -> None:
    account = provision(client)
    if rates:
        ok_json(send(client, "PUT", f"/accounts/{account}/rates", service(), {"rates": rates}))
    response = send(client, "POST", "/usage-events", service(), {"events": [{**usage_event(account), **event}]})
    error = assert_error(response, 400, "bad_request")
    assert reason in error["details"][0]["message"], error
    assert queued() == []


def test_a_price_at_the_ledger_limit_is_accepted_and_charged(client: Client) -> None:
    import app as app_module

    account = provision(client)
    event = usage_event(account, quantity="1000000", unit_price="10000", event_id=new_id("max"))
    ok_json(send(client, "POST", "/usage-events", service(), {"events": [event]}), 202)
    assert app_module.ingest_usage_events(sqs_event(queued()), None) == {"batchItemFailures": []}
    assert logs(client, account)[0]["amount"] == "-10000000000.00"


# -- text --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", CONTROL_TEXTS)
def test_control_characters_in_an_account_name_are_400_and_nothing_is_stored(client: Client, text: str) -> None:
    account_id = new_id("acct")
    response = send(client, "PUT", f"/accounts/{account_id}", service(), {"name": text})
    assert_error(response, 400, "bad_request", mentions="name")
    assert send(client, "GET", f"/accounts/{account_id}", service()).status_code == 404
    existing = provision(client, name="Acme Plumbing")
    response = send(client, "PUT", f"/accounts/{existing}", service(), {"name": text})
    assert_error(response, 400, "bad_request", mentions="name")
    assert ok_json(send(client, "GET", f"/accounts/{existing}", service()))["name"] == "Acme Plumbing"


@pytest.mark.parametrize(
    "address",
    [
        pytest.param("bil\x00ling@acme.example", id="NUL"),
        pytest.param("bil\x01ling@acme.example", id="SOH"),
        pytest.param("bil\x7fling@acme.example", id="DEL"),
        pytest.param("bil\x9bling@acme.example", id="CSI"),
        pytest.param("billing@acme.example\r\nBcc: x@evil.example", id="CRLF"),
    ],
)
def test_control_characters_in_emails_are_400_everywhere_an_address_is_taken(client: Client, address: str) -> None:
    account = provision(client, emails=["billing@acme.example"])
    assert_error(
        send(client, "PUT", f"/accounts/{account}", service(), {"name": "x", "emails": [address]}),
        400,
        mentions="emails",
    )
    assert ok_json(send(client, "GET", f"/accounts/{account}", service()))["emails"] == ["billing@acme.example"]
    url = f"/accounts/{account}/billing-settings"
    before = ok_json(send(client, "GET", url, admin(account)))
    assert_error(send(client, "PUT", url, admin(account), {"alert_recipients": [address]}), 400, mentions="alert")
    assert ok_json(send(client, "GET", url, admin(account))) == before
    statement = {"from": "2026-01-01", "to": "2026-01-31", "recipients": [address]}
    assert_error(send(client, "POST", f"/accounts/{account}/statements", admin(account), statement), 400)
    assert ok_json(send(client, "GET", f"/accounts/{account}/statements", viewer(account)))["items"] == []
    schedule = {"frequency": "monthly", "recipients": [address]}
    assert_error(send(client, "PUT", f"/accounts/{account}/statement-schedule", admin(account), schedule), 400)
    assert (
        ok_json(send(client, "GET", f"/accounts/{account}/statement-schedule", viewer(account)))["configured"] is False
    )


@pytest.mark.parametrize("text", CONTROL_TEXTS)
def test_control_characters_in_descriptions_and_rate_units_are_400(client: Client, text: str) -> None:
    account = provision(client)
    response = send(client, "POST", "/usage-events", service(), {"events": [usage_event(account, description=text)]})
    assert "description: must not contain" in assert_error(response, 400)["details"][0]["message"]
    adjustment = usage_event(account, "adjustment", "1", amount="5.00", description=text)
    response = send(client, "POST", "/usage-events", service(), {"events": [adjustment]})
    assert "description" in assert_error(response, 400)["details"][0]["message"]
    assert queued() == []
    body = {"rates": {"call_minutes": {"unit_price": "0.01", "unit": text}}}
    assert_error(send(client, "PUT", f"/accounts/{account}/rates", service(), body), 400, mentions="unit")


def test_an_account_id_with_a_trailing_newline_is_not_an_account_id(client: Client) -> None:
    from chalicelib.domain.access import Principal, Role
    from chalicelib.services.accounts import put_account
    from chalicelib.services.errors import BadRequest

    account_id = new_id("acct") + "\n"  # the id pattern's `$` matched before a trailing newline
    with pytest.raises(BadRequest, match="account id"):
        put_account(Principal("tests", "platform", Role.SERVICE), account_id, {"name": "x"})


# -- the queue path -------------------------------------------------------------------------

POISON: list[tuple[str, str, str]] = [
    # (name, the event as JSON text with ACCOUNT in place of the account id, what the reason must say)
    ("huge amount", '"category": "recharge", "amount": 1e1000000', "amount: is too large"),
    ("huge quantity", '"category": "call_minutes", "quantity": 1e1000000', "quantity: is too large"),
    ("huge unit price", '"category": "call_minutes", "quantity": "1", "unit_price": -1e1000000', "unit_price"),
    ("arabic-indic digit", '"category": "recharge", "amount": "\\u0663"', "amount: must be a decimal number"),
    ("fullwidth digit", '"category": "call_minutes", "quantity": "\\uff15"', "quantity: must be a decimal number"),
    ("45-digit metadata", '"category": "call_minutes", "metadata": {"n": ' + "1" * 45 + "}", "metadata.n"),
    ("CR/LF description", '"category": "call_minutes", "description": "a\\r\\nb"', "description: must not contain"),
    (
        "product over range",
        '"category": "call_minutes", "quantity": "1000000000", "unit_price": "10000000000"',
        "more than the ledger's limit",
    ),
    (
        "rate card over range",
        '"category": "subscription_fees", "quantity": "1000000000"',
        "more than the ledger's limit",
    ),
]


def poison_body(event_id: str, account: str, fields: str) -> str:
    return f'{{"event_id": "{event_id}", "account_id": "{account}", "occurred_at": "2026-01-15T09:00:00Z", {fields}}}'


def test_poison_events_on_the_queue_are_dead_lettered_at_once_alone_with_their_reason(client: Client) -> None:
    """Each poison message is dead-lettered in the first invocation; the good messages of
    the same FIFO group, before and after it, are charged in that same invocation."""
    import app as app_module
    from chalicelib.adapters.aws import client as aws_client
    from chalicelib.adapters.queues import queue_url

    account = provision(client)
    sqs = aws_client("sqs")
    url = queue_url(get_settings().usage_queue_name)
    good_ids: list[str] = []
    poison_ids: dict[str, str] = {}
    bodies: list[str] = []
    for name, fields, _ in POISON:
        good = credit(account, "1.00", event_id=new_id("good"))
        good_ids.append(good["event_id"])
        bodies.append(json.dumps(good))
        poison_ids[name] = new_id("poison")
        bodies.append(poison_body(poison_ids[name], account, fields))
    # One message of several events: the bad one is singled out, the others charged.
    mixed = [credit(account, "1.00", event_id=new_id("good")) for _ in range(2)]
    good_ids += [e["event_id"] for e in mixed]
    bodies.append(
        '{"events": ['
        + json.dumps(mixed[0])
        + ", "
        + poison_body("poison-in-a-pack", account, POISON[0][1])
        + ", "
        + json.dumps(mixed[1])
        + "]}"
    )
    for start in range(0, len(bodies), 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "MessageBody": b, "MessageGroupId": account, "MessageDeduplicationId": new_id("d")}
                for i, b in enumerate(bodies[start : start + 10])
            ],
        )
    received = queued()
    assert len(received) == len(bodies)
    # Lambda hands a FIFO source at most 10 messages; every invocation must finish its batch.
    for start in range(0, len(received), 10):
        result = app_module.ingest_usage_events(sqs_event(received[start : start + 10]), None)
        assert result == {"batchItemFailures": []}

    assert {row["event_id"] for row in logs(client, account)} == set(good_ids)
    balance = ok_json(send(client, "GET", f"/accounts/{account}/balance", viewer(account)))["balance"]
    assert balance == f"{len(good_ids)}.00"

    dead = drain_queue(get_settings().usage_dlq_name)
    reasons = {}
    for message in dead:
        body = json.loads(message["Body"])
        reasons[body["event_id"]] = message["MessageAttributes"]["reason"]["StringValue"]
    assert set(reasons) == set(poison_ids.values()) | {"poison-in-a-pack"}
    for name, _, word in POISON:
        reason = reasons[poison_ids[name]]
        assert word in reason, (name, reason)
    assert reasons["poison-in-a-pack"].startswith("event 'poison-in-a-pack': amount: ")
