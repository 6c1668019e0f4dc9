"""HTTP: POST /usage-events validates, enqueues on the FIFO usage queue, and the consumer charges."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import get_settings
from tests.integration.http_helpers import (
    admin,
    agency_with_subs,
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


@pytest.fixture(scope="module")
def client(aws: Any) -> Client:
    return make_client()


@pytest.fixture(autouse=True)
def empty_queue(client: Client) -> None:
    """Each test starts with an empty usage queue."""
    drain_queue(get_settings().usage_queue_name)


def post(client: Client, body: Any, headers: dict[str, str] | None = None, *, raw: bytes | None = None) -> Any:
    return send(client, "POST", "/usage-events", service() if headers is None else headers, body, raw=raw)


def queued() -> list[dict[str, Any]]:
    return drain_queue(get_settings().usage_queue_name)


def events_in(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for message in messages:
        body = json.loads(message["Body"])
        found.extend(body.get("events", [body]))
    return found


def ingest(messages: list[dict[str, Any]]) -> dict[str, Any]:
    import app as app_module

    result: dict[str, Any] = app_module.ingest_usage_events(sqs_event(messages), None)
    return result


def logs(client: Client, account_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = ok_json(send(client, "GET", f"/accounts/{account_id}/logs", viewer(account_id)))[
        "items"
    ]
    return items


def test_posted_events_are_enqueued_per_billing_account_and_charged_once(client: Client) -> None:
    agency, shared, own = agency_with_subs(client)
    events = [
        credit(agency, "25.00", event_id=new_id("rc")),
        credit(own, "10.00", event_id=new_id("rc")),
        usage_event(
            own,
            "call_minutes",
            "3",
            event_id=new_id("call"),
            description="Inbound call (555) 010-7788",
            metadata={"call_id": "8812"},
        ),
        usage_event(shared, "text_messages", "2", event_id=new_id("sms")),
        usage_event(shared, "subscription_fees", "1", event_id=new_id("sub"), amount="29.99"),
    ]
    assert ok_json(post(client, {"events": events}), 202) == {"accepted": 5, "duplicates": 0, "conflicts": []}

    messages = queued()
    # One FIFO group per billing account: the shared sub-account's events go with the agency's.
    groups = {m["Attributes"]["MessageGroupId"] for m in messages}
    assert groups == {agency, own}
    assert sorted(e["event_id"] for e in events_in(messages)) == sorted(e["event_id"] for e in events)
    for message in messages:
        group = message["Attributes"]["MessageGroupId"]
        accounts = {e["account_id"] for e in events_in([message])}
        assert accounts <= ({agency, shared} if group == agency else {own})

    assert ingest(messages) == {"batchItemFailures": []}
    # Delivered again (SQS is at-least-once): nothing is charged twice.
    assert ingest(messages) == {"batchItemFailures": []}

    own_rows = logs(client, own)
    assert [(r["category"], r["amount"], r["balance_after"]) for r in own_rows] == [
        ("call_minutes", "-0.0375", "9.9625"),
        ("recharge", "10.00", "10.00"),
    ]
    call = own_rows[0]
    assert (call["quantity"], call["unit"], call["unit_price"]) == ("3", "minute", "0.0125")
    assert call["description"] == "Inbound call (555) 010-7788"
    assert call["event_id"] == events[2]["event_id"]
    assert call["occurred_at"] == "2026-01-15T09:00:00.000000Z"

    shared_rows = logs(client, shared)
    assert sorted((r["category"], r["amount"], r["billing_account_id"]) for r in shared_rows) == [
        ("subscription_fees", "-29.99", agency),
        ("text_messages", "-0.0158", agency),
    ]
    balance = ok_json(send(client, "GET", f"/accounts/{shared}/balance", viewer(agency)))  # the payer's view
    assert (balance["billing_account_id"], balance["balance"], balance["status"]) == (agency, "-5.0058", "past_due")
    assert ok_json(send(client, "GET", f"/accounts/{own}/balance", viewer(own)))["balance"] == "9.9625"


def test_an_event_already_charged_is_a_duplicate_and_a_changed_one_a_conflict(client: Client) -> None:
    account_id = provision(client)
    other = provision(client)
    event = usage_event(account_id, "call_minutes", "10", event_id=new_id("dup"))
    assert ok_json(post(client, {"events": [event]}), 202) == {"accepted": 1, "duplicates": 0, "conflicts": []}
    assert ingest(queued()) == {"batchItemFailures": []}
    # A producer retrying much later (outside SQS's 5-minute dedupe window is the same to the ledger).
    assert ok_json(post(client, {"events": [event, event]}), 202) == {"accepted": 0, "duplicates": 2, "conflicts": []}
    # The same id with another amount, or for another account: reported, never charged.
    changed = {**event, "quantity": "99"}
    elsewhere = {**event, "account_id": other}
    body = ok_json(post(client, {"events": [changed, elsewhere]}), 202)
    assert (body["accepted"], body["duplicates"]) == (0, 0)
    assert [c["event_id"] for c in body["conflicts"]] == [event["event_id"]] * 2
    assert "another account" in body["conflicts"][1]["reason"] and "already charged" in body["conflicts"][0]["reason"]
    assert queued() == []
    rows = logs(client, account_id)
    assert [(r["event_id"], r["amount"], r["balance_after"]) for r in rows] == [(event["event_id"], "-0.125", "-0.125")]
    state = ok_json(send(client, "GET", f"/accounts/{account_id}/balance", viewer(account_id)))
    assert (state["balance"], state["entries"]) == ("-0.125", 1)


def test_a_thousand_events_are_accepted_packed_and_charged(client: Client) -> None:
    accounts = [provision(client) for _ in range(4)]
    events = [
        usage_event(accounts[i % 4], "text_messages", "1", event_id=f"bulk-{accounts[i % 4]}-{i:04d}")
        for i in range(1000)
    ]
    assert ok_json(post(client, {"events": events}), 202) == {"accepted": 1000, "duplicates": 0, "conflicts": []}
    messages = queued()
    assert len(messages) == 12  # 250 events per billing account, at most 100 a message
    for account_id in accounts:
        group = [m for m in messages if m["Attributes"]["MessageGroupId"] == account_id]
        # FIFO order within the group is the order the events were posted in.
        assert [e["event_id"] for e in events_in(group)] == [
            e["event_id"] for e in events if e["account_id"] == account_id
        ]
    # Lambda hands a FIFO consumer at most 10 messages at a time.
    for start in range(0, len(messages), 10):
        assert ingest(messages[start : start + 10]) == {"batchItemFailures": []}
    for account_id in accounts:
        state = ok_json(send(client, "GET", f"/accounts/{account_id}/balance", viewer(account_id)))
        assert (state["balance"], state["entries"]) == ("-1.975", 250)  # 250 x 0.0079


def test_more_than_a_thousand_events_is_400_and_nothing_is_enqueued(client: Client) -> None:
    account_id = provision(client)
    events = [usage_event(account_id, event_id=f"many-{i}") for i in range(1001)]
    assert "1000" in assert_error(post(client, {"events": events}), 400, "bad_request")["message"]
    assert queued() == []


def bad_items(account_id: str) -> list[tuple[Any, str]]:
    """(event, a word the reason must contain)."""
    return [
        ({"event_id": "only-an-id"}, "account_id"),
        ("not an object", "object"),
        (42, "object"),
        (usage_event("no-such-account"), "unknown account"),
        (usage_event(account_id, category="fax_pages"), "category"),
        (usage_event(account_id, quantity="0"), "quantity"),
        (usage_event(account_id, quantity="-1"), "quantity"),
        (usage_event(account_id, quantity="abc"), "quantity"),
        (usage_event(account_id, quantity="1e3"), "quantity"),
        (usage_event(account_id, quantity="0.0000001"), "quantity"),
        (usage_event(account_id, occurred_at="yesterday"), "occurred_at"),
        (usage_event(account_id, occurred_at="2026-01-15T09:00:00"), "occurred_at"),
        (usage_event(account_id, occurred_at="2099-01-01T00:00:00Z"), "occurred_at"),
        (usage_event(account_id, occurred_at="1999-12-31T23:59:59Z"), "occurred_at"),
        (usage_event(account_id, event_id="has space"), "event_id"),
        (usage_event(account_id, event_id=""), "event_id"),
        (usage_event(account_id, amount="1.00", unit_price="1.00"), "not both"),
        (usage_event(account_id, amount="-1.00"), "amount"),
        (usage_event(account_id, amount="0.0000001"), "amount"),
        (usage_event(account_id, unit_price="-0.01"), "unit_price"),
        (usage_event(account_id, "recharge", "1"), "amount"),
        (usage_event(account_id, "recharge", "1", amount="-5.00"), "positive"),
        (usage_event(account_id, "adjustment", "1", amount="1.00"), "description"),
        (usage_event(account_id, "adjustment", "1", amount="0", description="zero"), "zero"),
        (usage_event(account_id, metadata={"nested": {"a": 1}}), "metadata"),
        (usage_event(account_id, typo_field=1), "typo_field"),
    ]


def test_bad_items_are_400_listing_every_one_and_nothing_is_enqueued(client: Client) -> None:
    account_id = provision(client)
    bad = bad_items(account_id)
    good = [usage_event(account_id, event_id=new_id("good")) for _ in range(3)]
    # Good events around and between the bad ones: none of them may be enqueued either.
    body_events: list[Any] = (
        [good[0]] + [event for event, _ in bad[:10]] + [good[1]] + [event for event, _ in bad[10:]] + [good[2]]
    )
    error = assert_error(post(client, {"events": body_events}), 400, "bad_request")
    details = error["details"]
    bad_indexes = [i for i, e in enumerate(body_events) if not any(e is g for g in good)]
    assert [d["index"] for d in details] == bad_indexes
    assert str(len(bad)) in error["message"]
    for detail, (_, word) in zip(details, bad, strict=True):
        assert word in detail["message"], detail
        raw = body_events[detail["index"]]
        expected_id = raw.get("event_id") if isinstance(raw, dict) else None
        assert detail["event_id"] == (expected_id if isinstance(expected_id, str) else None)
    assert queued() == []


@pytest.mark.parametrize("index", range(26))
def test_each_bad_item_alone_is_400_with_one_detail(client: Client, index: int) -> None:
    account_id = provision(client)
    event, word = bad_items(account_id)[index]
    error = assert_error(post(client, {"events": [usage_event(account_id), event]}), 400, "bad_request")
    assert [d["index"] for d in error["details"]] == [1]
    assert word in error["details"][0]["message"]
    assert queued() == []


def test_money_as_json_numbers_is_exact(client: Client) -> None:
    account_id = provision(client)
    # JSON numbers are parsed as exact decimals: 1.5 minutes at 0.0125 = 0.01875, no float on the way.
    raw = json.dumps({"events": [usage_event(account_id, quantity="QTY", event_id=new_id("num"))]}).replace(
        '"QTY"', "1.5"
    )
    assert ok_json(post(client, None, raw=raw.encode()), 202)["accepted"] == 1
    assert ingest(queued()) == {"batchItemFailures": []}
    row = logs(client, account_id)[0]
    assert (row["quantity"], row["amount"]) == ("1.5", "-0.01875")
    # A number a float would have rounded is refused, not rounded.
    raw = json.dumps({"events": [usage_event(account_id, amount="AMT")]}).replace('"AMT"', "0.30000000000000004")
    error = assert_error(post(client, None, raw=raw.encode()), 400)
    assert "decimal places" in error["details"][0]["message"]
    assert queued() == []


BAD_BODIES: list[tuple[str, bytes]] = [
    ("malformed json", b'{"events": ['),
    ("empty body", b""),
    ("not an object", b"[]"),
    ("events missing", b"{}"),
    ("events not a list", b'{"events": {}}'),
    ("events null", b'{"events": null}'),
    ("extra field", b'{"events": [], "dry_run": true}'),
    ("no events", b'{"events": []}'),
    ("deeply nested", b"[" * 100_000),
]


@pytest.mark.parametrize("raw", [r for _, r in BAD_BODIES], ids=[i for i, _ in BAD_BODIES])
def test_bad_body_is_400(client: Client, raw: bytes) -> None:
    assert_error(post(client, None, raw=raw), 400, "bad_request")
    assert queued() == []


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_only_the_service_token_posts_usage(client: Client, role: str) -> None:
    account_id = provision(client)
    headers = viewer(account_id) if role == "viewer" else admin(account_id)
    assert_error(post(client, {"events": [usage_event(account_id)]}, headers), 403, "forbidden")
    assert queued() == []
