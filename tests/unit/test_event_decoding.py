"""Queue decoding is total: any message body gives events or reasons, never an exception.

The consumer dead-letters each reason at once, alone; an exception would make SQS
retry the whole batch for minutes and then dead-letter it with no reason at all.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain.events import DecodedEvent, decode_message, event_to_json, events_to_json
from chalicelib.domain.money import MAX_ABS_MICROS
from chalicelib.domain.pricing import DEFAULT_RATES, RateCard, RateCardError, price_event
from chalicelib.domain.text import text_problem
from tests.conftest import budget

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
CARD = RateCard.build(DEFAULT_RATES, {})
GOOD: dict[str, Any] = {
    "event_id": "call-8812-minutes",
    "account_id": "acct_123",
    "category": "call_minutes",
    "quantity": "3",
    "occurred_at": "2026-11-26T09:00:00Z",
    "description": "Inbound call (555) 010-7788",
    "metadata": {"call_id": "8812"},
}
FIELDS = [*GOOD, "unit_price", "amount", "surprise"]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**60), max_value=10**60)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(["", "3", "-1", "0.0000001", "1e3", "\u0663", "\uff15", "12.50", "2026-11-26T09:00:00Z"])
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
# JSON number texts json.dumps would never write: huge exponents, long digits.
number_texts = st.from_regex(r"-?(0|[1-9][0-9]{0,45})(\.[0-9]{1,45})?([eE][+-]?[0-9]{1,7})?", fullmatch=True)


def check_total(decoded: list[DecodedEvent]) -> None:
    assert decoded, "at least one event or reason"
    for item in decoded:
        assert isinstance(item.raw, str)
        assert (item.event is None) != (item.error is None)
        if item.error is not None:
            assert item.error.strip()
            # The catch-all is a last resort: bad input must get a real reason.
            assert "could not be decoded" not in item.error, item.error
        else:
            check_chargeable(item)


def check_chargeable(item: DecodedEvent) -> None:
    """An event that decodes can be priced and stored: every value is within what the ledger holds."""
    event = item.event
    assert event is not None
    assert text_problem(event.description) is None
    for key, value in event.metadata.items():
        assert key and text_problem(key) is None
        if isinstance(value, str):
            assert text_problem(value) is None and len(value) <= 256
        elif not isinstance(value, bool):
            assert abs(value) < 10**38
    try:
        price = price_event(
            event.category,
            event.quantity,
            CARD,
            unit_price_micros=event.unit_price_micros,
            amount_micros=event.amount_micros,
        )
    except RateCardError:
        pass  # dead-lettered by the writer, with this reason
    else:
        assert abs(price.amount_micros) <= MAX_ABS_MICROS
    (again,) = decode_message(event_to_json(event), NOW)
    assert again.event == event


@settings(max_examples=budget(quick=100, long=300), suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_any_text_body_is_decoded_or_explained(body: str) -> None:
    check_total(decode_message(body, NOW))


@settings(max_examples=budget(quick=100, long=300), suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_any_json_body_is_decoded_or_explained(value: Any) -> None:
    check_total(decode_message(json.dumps(value), NOW))
    check_total(decode_message(json.dumps({"events": [value, value]}), NOW))


@settings(max_examples=budget(quick=150, long=500), suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4), st.sets(st.sampled_from(FIELDS), max_size=2))
def test_an_event_with_any_fields_changed_or_removed_is_decoded_or_explained(
    changes: dict[str, Any], removed: set[str]
) -> None:
    event = {k: v for k, v in {**GOOD, **changes}.items() if k not in removed}
    check_total(decode_message(json.dumps(event), NOW))
    check_total(decode_message(json.dumps({"events": [GOOD, event]}), NOW))


@settings(max_examples=budget(quick=150, long=500), suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["quantity", "unit_price", "amount", "metadata"]), number_texts, st.sampled_from(FIELDS[2:4]))
def test_any_json_number_in_any_numeric_field_is_decoded_or_explained(field: str, number: str, category: str) -> None:
    event: dict[str, Any] = {**GOOD, "category": "call_minutes" if category == "category" else "subscription_fees"}
    event[field] = {"n": "NUMBER"} if field == "metadata" else "NUMBER"
    body = json.dumps(event).replace('"NUMBER"', number)
    check_total(decode_message(body, NOW))


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"quantity": Decimal("1e1000000")}, "quantity: is too large"),
        ({"unit_price": Decimal("1e1000000")}, "unit_price: is too large"),
        ({"category": "recharge", "amount": Decimal("1e1000000")}, "amount: is too large"),
        ({"category": "recharge", "amount": Decimal("-1e1000000")}, "amount: is too large"),
        ({"quantity": Decimal("1e-1000000")}, "6 decimal places"),
        ({"quantity": "\u0663"}, "ASCII"),
        ({"quantity": "\uff15"}, "ASCII"),
        ({"category": "recharge", "amount": "\u0663"}, "ASCII"),
        ({"metadata": {"n": 10**44}}, "metadata.n: an integer of more than 38 digits"),
        ({"metadata": {"n": -(10**38)}}, "metadata.n: an integer of more than 38 digits"),
        ({"metadata": {"n": Decimal("1e50")}}, "metadata.n"),
        ({"metadata": {"n": Decimal("1.5")}}, "metadata.n: a number with a fraction"),
        ({"metadata": {"": "x"}}, "metadata"),
        ({"metadata": {"k\n": "x"}}, "metadata"),
        ({"metadata": {"k": "a\r\nb"}}, "metadata.k: must not contain control characters"),
        ({"description": "Inbound\r\nBcc: x@evil.example"}, "description: must not contain control characters"),
        ({"description": "a\u2028b"}, "description: must not contain a line break"),
        ({"description": "trailing newline\n"}, "description"),
        ({"quantity": "1000000000", "unit_price": "10000000000"}, "unit_price: quantity 1000000000 x unit_price"),
        ({"occurred_at": "\uff12\uff10\uff12\uff16-11-26T09:00:00Z"}, "occurred_at: must be an RFC 3339 time"),
        ({"occurred_at": "2026-11-26T09:00:00Z\n"}, "occurred_at: must be an RFC 3339 time"),
        ({"occurred_at": "0001-01-01T00:00:00+01:00"}, "occurred_at"),
        ({"occurred_at": "9999-12-31T23:59:59-23:59"}, "occurred_at"),
    ],
)
def test_the_issue_11_poison_events_are_explained_naming_the_event_and_the_field(
    changes: dict[str, Any], reason: str
) -> None:
    event = {**GOOD, "event_id": "poison-1", **changes}
    body = json.dumps({"events": [GOOD, event]}, default=str).replace('"1E+1000000"', "1e1000000")
    body = body.replace('"-1E+1000000"', "-1e1000000").replace('"1E-1000000"', "1e-1000000")
    body = body.replace('"1E+50"', "1e50").replace('"1.5"', "1.5")
    good, bad = decode_message(body, NOW)
    assert good.event is not None and good.event.event_id == GOOD["event_id"]
    assert bad.event is None and bad.error is not None
    assert bad.error.startswith("event 'poison-1': "), bad.error
    assert reason in bad.error, bad.error
    assert json.loads(bad.raw)["event_id"] == "poison-1"


def test_quantity_times_the_rate_card_over_the_ledger_range_is_a_pricing_error() -> None:
    (decoded,) = decode_message(json.dumps({**GOOD, "category": "subscription_fees", "quantity": "1000000000"}), NOW)
    assert decoded.event is not None
    with pytest.raises(RateCardError, match=r"quantity: 1000000000 x unit price 30\.00"):
        price_event(decoded.event.category, decoded.event.quantity, CARD)


def test_a_message_of_many_events_keeps_the_good_ones() -> None:
    events = [{**GOOD, "event_id": f"e{i}"} for i in range(5)]
    events[2]["quantity"] = "\uff15"
    decoded = decode_message(events_to_json([]).replace("[]", json.dumps(events)), NOW)
    assert [d.event is not None for d in decoded] == [True, True, False, True, True]
