import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from chalicelib.domain.categories import Category
from chalicelib.domain.events import InvalidEvent, decode_message, event_to_json, events_to_json, parse_event

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
BASE = {
    "event_id": "call-8812-minutes",
    "account_id": "acct_123",
    "category": "call_minutes",
    "quantity": "3",
    "occurred_at": "2026-11-26T09:00:00Z",
    "description": "Inbound call (555) 010-7788",
    "metadata": {"call_id": "8812"},
}


def event(**changes):
    data = {**BASE, **changes}
    return {k: v for k, v in data.items() if v is not None}


def test_the_contract_example_parses_exactly():
    e = parse_event(event(), NOW)
    assert e.category is Category.CALL_MINUTES
    assert e.quantity == Decimal("3")
    assert e.occurred_at == datetime(2026, 11, 26, 9, tzinfo=UTC)
    assert e.metadata == {"call_id": "8812"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"event_id": None}, "event_id"),
        ({"event_id": ""}, "event_id"),
        ({"account_id": "has space"}, "account_id"),
        ({"category": "pizza"}, "category"),
        ({"quantity": "0"}, "greater than 0"),
        ({"quantity": "-2"}, "greater than 0"),
        ({"quantity": "abc"}, "quantity"),
        ({"quantity": 1.5}, "float"),
        ({"quantity": "0.0000001"}, "6 decimal"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2026-11-26T09:00:00"}, "time zone"),
        ({"occurred_at": "2027-01-01T00:00:00Z"}, "future"),
        ({"occurred_at": "1999-12-31T00:00:00Z"}, "2000"),
        ({"unit_price": "0.01", "amount": "1"}, "not both"),
        ({"amount": "-1"}, "positive price"),
        ({"surprise": 1}, "surprise"),
        ({"category": "recharge", "amount": None}, "needs an amount"),
        ({"category": "recharge", "amount": "-5"}, "positive"),
        ({"category": "adjustment", "amount": "0", "description": "x"}, "zero"),
        ({"category": "adjustment", "amount": "5", "description": ""}, "description"),
        ({"category": "recharge", "amount": "5", "unit_price": "1"}, "not both|unit_price"),
        ({"metadata": {"k": 1.5}}, "metadata"),
        ({"metadata": {"k": "x" * 300}}, "256"),
    ],
)
def test_invalid_events_say_why(changes, message):
    with pytest.raises(InvalidEvent, match=message):
        parse_event(event(**changes), NOW)


def test_non_object_is_invalid():
    with pytest.raises(InvalidEvent, match="object"):
        parse_event(["x"], NOW)


def test_message_round_trip_keeps_exact_values():
    e = parse_event(event(quantity="2.5", unit_price="0.0125"), NOW)
    (decoded,) = decode_message(event_to_json(e), NOW)
    assert decoded.event == e


def test_a_message_may_carry_several_events_and_bad_ones_are_singled_out():
    good = parse_event(event(), NOW)
    body = json.loads(events_to_json([good]))
    body["events"].append({**BASE, "event_id": "bad", "quantity": "-1"})
    decoded = decode_message(json.dumps(body), NOW)
    assert decoded[0].event == good
    assert decoded[1].event is None and "greater than 0" in (decoded[1].error or "")
    assert json.loads(decoded[1].raw)["event_id"] == "bad"


@pytest.mark.parametrize("body", ["{nope", "[]", '{"events": []}', '{"events": 3}', "3"])
def test_undecodable_messages_are_one_error(body):
    decoded = decode_message(body, NOW)
    assert len(decoded) == 1 and decoded[0].event is None and decoded[0].error


def test_json_floats_in_a_message_are_read_as_decimals_not_floats():
    body = json.dumps(event(quantity=None))[:-1] + ', "quantity": 0.1}'
    (decoded,) = decode_message(body, NOW)
    assert decoded.event is not None and decoded.event.quantity == Decimal("0.1")


@pytest.mark.parametrize("value", [1767225600, "1767225600", "26/11/2026", "2026-11-26"])
def test_occurred_at_must_be_rfc3339_text(value):
    with pytest.raises(InvalidEvent, match="RFC 3339"):
        parse_event(event(occurred_at=value), NOW)
