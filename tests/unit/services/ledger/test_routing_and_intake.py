"""services/routing.py (intake queue -> FIFO usage queue) and services/intake.py (POST /usage-events)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.domain.access import Principal, Role
from chalicelib.domain.events import decode_message
from chalicelib.services.errors import BadRequest, Forbidden, Unavailable
from chalicelib.services.intake import EVENTS_PER_MESSAGE, submit_usage_events, usage_messages
from chalicelib.services.routing import RoutingOutcome, event_body, route_usage_events
from chalicelib.services.usage import QueuedMessage
from tests.fakes.world import SERVICE, message
from tests.unit.services.ledger.conftest import World

ADMIN = Principal("u1", "acme", Role.ADMIN)


def bridge(detail: object) -> str:
    return json.dumps({"version": "0", "id": "x", "detail-type": "usage", "source": "platform", "detail": detail})


def route(
    world: World, *records: QueuedMessage, send: Callable[[list[Any]], None] | None = None
) -> tuple[RoutingOutcome, list[tuple[str, str]]]:
    dead: list[tuple[str, str]] = []
    outcome = route_usage_events(
        records, dead_letter=lambda r, reason, raw: dead.append((r.message_id, reason)), clock=world.clock, send=send
    )
    return outcome, dead


def test_event_body_unwraps_an_eventbridge_event_and_leaves_anything_else() -> None:
    assert json.loads(event_body(bridge({"events": [1]}))) == {"events": [1]}
    assert event_body('{"event_id": "e"}') == '{"event_id": "e"}'
    assert event_body("not json") == "not json"


def test_routing_groups_events_by_balance_and_rejects_what_the_writer_would(world: World) -> None:
    world.provision("agency", kind="agency")
    world.provision("sub", agency_id="agency", billing="agency")
    world.provision("acme")
    records = [
        message(bridge(world.event("sub", event_id="e1"))),
        message(bridge({"events": [world.event("agency", event_id="e2"), world.event("acme", event_id="e3")]})),
        message(bridge(world.event("nobody", event_id="e4"))),
        message("{broken"),
    ]
    outcome, dead = route(world, *records)
    assert (outcome.routed, outcome.messages, outcome.failed_message_ids) == (3, 2, [])
    sent = world.stores.queues.usage
    assert [
        (m.group_id, [d.event.event_id for d in decode_message(m.body, world.clock.now) if d.event]) for m in sent
    ] == [
        ("agency", ["e1", "e2"]),
        ("acme", ["e3"]),
    ]
    assert [m for m, _ in dead] == [records[3].message_id, records[2].message_id]
    assert "unknown account 'nobody'" in dead[1][1]


def test_routing_that_sqs_refuses_fails_the_records_with_events(world: World) -> None:
    world.provision("acme")

    def refuse(messages: list[Any]) -> None:
        raise RuntimeError("SQS down")

    good = message(world.event("acme", event_id="e1"))
    outcome, _ = route(world, good, message("[]"), send=refuse)
    assert outcome.failed_message_ids == [good.message_id]
    assert outcome.send_error == "SQS down" and outcome.routed == 0


def test_routing_keeps_a_record_whose_dead_letter_failed(world: World) -> None:
    def refuse(*_: object) -> None:
        raise RuntimeError("DLQ down")

    bad = message("{")
    outcome = route_usage_events([bad, bad], dead_letter=refuse, clock=world.clock)
    assert outcome.failed_message_ids == [bad.message_id]


def test_messages_pack_up_to_a_hundred_events_of_one_balance(world: World) -> None:
    world.provision("acme")
    events = [world.event("acme", event_id=f"e{n}") for n in range(EVENTS_PER_MESSAGE + 1)]
    intake = submit_usage_events(SERVICE, {"events": events})
    assert intake.accepted == EVENTS_PER_MESSAGE + 1
    sent = world.stores.queues.usage
    assert [len(json.loads(m.body)["events"]) if "events" in json.loads(m.body) else 1 for m in sent] == [100, 1]
    assert sent[0].dedupe_key.split("\n")[:2] == ["e0", "e1"]
    assert usage_messages({}) == []


def test_intake_refuses_bad_bodies_and_other_callers(world: World) -> None:
    with pytest.raises(Forbidden):
        submit_usage_events(ADMIN, {"events": []})
    bodies: list[object] = [{"events": []}, {"events": "x"}, [], {"events": [{}], "more": 1}]
    for body in bodies:
        with pytest.raises(BadRequest):
            submit_usage_events(SERVICE, body)


def test_intake_is_all_or_nothing_and_lists_every_bad_event(world: World) -> None:
    world.provision("acme")
    events = [
        world.event("acme", event_id="e1"),
        {"event_id": "e2", "account_id": "acme"},
        world.event("nobody", event_id="e3"),
        world.event("acme", quantity="99999999999", event_id="e4"),
        "not an object",
    ]
    with pytest.raises(BadRequest) as refused:
        submit_usage_events(SERVICE, {"events": events})
    details = refused.value.details or []
    assert [d["index"] for d in details] == [1, 2, 3, 4]
    assert [d["event_id"] for d in details] == ["e2", "e3", "e4", None]
    assert world.stores.queues.usage == []


def test_intake_counts_duplicates_and_reports_conflicts(world: World) -> None:
    world.provision("acme")
    world.provision("beta")
    world.deliver(world.event("acme", event_id="e1"))
    events = [
        world.event("acme", event_id="e1"),  # charged before, same content
        world.event("beta", event_id="e1"),  # charged before for another account
        world.event("acme", event_id="e2"),
        world.event("acme", event_id="e2"),  # twice in the request
        world.event("acme", quantity="7", event_id="e2"),  # twice, other content
        world.event("acme", event_id="e3"),
    ]
    intake = submit_usage_events(SERVICE, {"events": events})
    assert (intake.accepted, intake.duplicates) == (2, 2)
    assert [c["event_id"] for c in intake.conflicts] == ["e1", "e2"]
    assert "already charged for another account" in intake.conflicts[0]["reason"]
    assert "earlier in this request" in intake.conflicts[1]["reason"]
    assert intake.as_json()["accepted"] == 2


def test_intake_refuses_a_currency_its_balance_does_not_hold(world: World) -> None:
    from dataclasses import replace

    world.provision("agency", kind="agency")
    sub = world.provision("sub", agency_id="agency", billing="agency")
    world.accounts.save(replace(sub, currency="EUR"))
    with pytest.raises(BadRequest, match="currencies are never mixed"):
        submit_usage_events(SERVICE, {"events": [world.event("sub", event_id="e1")]})


def test_intake_that_cannot_enqueue_is_unavailable(world: World) -> None:
    world.provision("acme")

    def refuse(messages: object) -> None:
        raise RuntimeError("SQS down")

    world.stores.queues.send_usage = refuse  # type: ignore[method-assign]
    with pytest.raises(Unavailable, match="retry the same request"):
        submit_usage_events(SERVICE, {"events": [world.event("acme", event_id="e1")]})
