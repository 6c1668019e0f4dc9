"""The usage router: EventBridge events to FIFO messages, one message group per billing account."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain.accounts import Account, AccountKind, Billing
from chalicelib.services.routing import event_body, route_usage_events
from chalicelib.services.usage import QueuedMessage

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ACCOUNTS = {
    "agency": Account("agency", "Agency", AccountKind.AGENCY, "UTC", "USD", None, Billing.OWN),
    "shared": Account("shared", "Shared", AccountKind.ACCOUNT, "UTC", "USD", "agency", Billing.AGENCY),
    "own": Account("own", "Own", AccountKind.ACCOUNT, "UTC", "USD", "agency", Billing.OWN),
}


class Accounts:
    def __init__(self) -> None:
        self.calls = 0

    def get_many(self, ids: Any) -> dict[str, Account]:
        self.calls += 1
        return {i: ACCOUNTS[i] for i in set(ids) if i in ACCOUNTS}


def eventbridge(detail: object, event_id: str = "eb-1") -> str:
    """A record body as the rule delivers it: the whole EventBridge event."""
    return json.dumps({
        "version": "0", "id": event_id, "detail-type": "UsageEvent", "source": "call-tracking.telephony",
        "account": "123456789012", "time": "2026-11-26T11:59:00Z", "region": "us-east-1", "resources": [],
        "detail": detail,
    })  # fmt: skip


def usage(event_id: str, account_id: str) -> dict[str, str]:
    return {
        "event_id": event_id,
        "account_id": account_id,
        "category": "call_minutes",
        "quantity": "2",
        "occurred_at": "2026-11-26T11:00:00Z",
    }


def route(records: list[QueuedMessage], send: Any = None) -> tuple[Any, list[Any], list[tuple[str, str]]]:
    sent: list[Any] = []
    parked: list[tuple[str, str]] = []
    outcome = route_usage_events(
        records,
        dead_letter=lambda record, reason, raw: parked.append((record.message_id, reason)),
        accounts=Accounts(),  # type: ignore[arg-type]
        send=send or sent.extend,
        clock=lambda: NOW,
    )
    return outcome, sent, parked


def test_events_of_one_balance_share_a_message_group_and_a_message() -> None:
    records = [
        QueuedMessage("m1", eventbridge(usage("c1", "shared"))),
        QueuedMessage("m2", eventbridge(usage("c2", "agency"))),
        QueuedMessage("m3", eventbridge(usage("c3", "own"))),
        QueuedMessage("m4", eventbridge(usage("c4", "shared"))),
    ]
    outcome, sent, parked = route(records)
    assert not parked and not outcome.failed_message_ids
    groups = {m.group_id: [e["event_id"] for e in json.loads(m.body)["events"]] for m in sent}
    # The shared sub-account draws from its agency's balance: the agency's group, in arrival order.
    assert groups == {"agency": ["c1", "c2", "c4"], "own": ["c3"]}
    assert outcome.routed == 4 and outcome.messages == 2


def test_a_hot_balance_is_packed_a_hundred_events_a_message() -> None:
    records = [QueuedMessage(f"m{i}", eventbridge(usage(f"c{i}", "shared"))) for i in range(250)]
    outcome, sent, _ = route(records)
    assert outcome.routed == 250
    assert [len(json.loads(m.body)["events"]) for m in sent] == [100, 100, 50]
    assert {m.group_id for m in sent} == {"agency"}
    assert len({m.dedupe_key for m in sent}) == 3


def test_malformed_and_unknown_events_are_dead_lettered_with_the_reason() -> None:
    records = [
        QueuedMessage("bad", eventbridge({"event_id": "x", "account_id": "own"})),
        QueuedMessage("stranger", eventbridge(usage("s1", "nobody"))),
        QueuedMessage("good", eventbridge(usage("g1", "own"))),
    ]
    outcome, sent, parked = route(records)
    reasons = dict(parked)
    assert set(reasons) == {"bad", "stranger"}
    assert "unknown account 'nobody'" in reasons["stranger"]
    assert [json.loads(m.body)["events"][0]["event_id"] for m in sent] == ["g1"]
    assert not outcome.failed_message_ids


def test_when_sqs_refuses_every_record_with_events_comes_back() -> None:
    def refuse(messages: list[Any]) -> None:
        raise RuntimeError("SQS refused 1 usage messages: throttled")

    records = [QueuedMessage("m1", eventbridge(usage("c1", "own"))), QueuedMessage("m2", eventbridge({"oops": 1}))]
    outcome, _, parked = route(records, send=refuse)
    assert outcome.failed_message_ids == ["m1"] and [m for m, _ in parked] == ["m2"]
    assert outcome.send_error and "throttled" in outcome.send_error


def test_a_body_that_is_not_an_eventbridge_event_is_taken_as_the_events_themselves() -> None:
    packed = json.dumps({"events": [usage("c1", "own")]})
    assert event_body(packed) == packed
    assert json.loads(event_body(eventbridge({"events": [usage("c1", "own")]}))) == {"events": [usage("c1", "own")]}
    assert event_body("{not json") == "{not json"
