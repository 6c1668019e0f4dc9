"""The local event pump, against a fake SQS client (no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from devtools.pump import (
    Pump,
    QueueSource,
    ScheduledSource,
    cron_matches,
    rate_seconds,
    sqs_event,
)

ARN = "arn:aws:sqs:us-east-1:123456789012:usage-events.fifo"


class FakeSQS:
    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.messages = messages
        self.deleted: list[str] = []
        self.receive_calls: list[dict[str, Any]] = []

    def get_queue_url(self, QueueName: str) -> dict[str, str]:
        return {"QueueUrl": f"http://sqs.local/123456789012/{QueueName}"}

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:
        return {"Attributes": {"QueueArn": ARN}}

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.receive_calls.append(kwargs)
        batch, self.messages = (
            self.messages[: kwargs["MaxNumberOfMessages"]],
            self.messages[kwargs["MaxNumberOfMessages"] :],
        )
        return {"Messages": batch} if batch else {}

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        assert len(Entries) <= 10
        self.deleted.extend(e["ReceiptHandle"] for e in Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}


def _message(n: int, group: str = "acct_1") -> dict[str, Any]:
    return {
        "MessageId": f"m{n}",
        "ReceiptHandle": f"rh{n}",
        "MD5OfBody": "x",
        "Body": f'{{"n": {n}}}',
        "Attributes": {"MessageGroupId": group, "ApproximateReceiveCount": "1", "SentTimestamp": "1"},
        "MessageAttributes": {"reason": {"DataType": "String", "StringValue": "why"}},
    }


def test_a_batch_reaches_the_handler_shaped_like_lambdas_sqs_event() -> None:
    seen: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event)
        assert context is None
        return {"batchItemFailures": []}

    sqs = FakeSQS([_message(1), _message(2, "acct_2")])
    pump = Pump([QueueSource("usage-events.fifo", handler, 10)], sqs=sqs, verbose=False)
    counts = pump.pump_once(wait_seconds=0)

    assert (counts.received, counts.deleted, counts.failed, counts.invocations) == (2, 2, 0, 1)
    assert sqs.deleted == ["rh1", "rh2"]
    record = seen[0]["Records"][0]
    assert record["messageId"] == "m1"
    assert record["receiptHandle"] == "rh1"
    assert record["body"] == '{"n": 1}'
    assert record["attributes"]["MessageGroupId"] == "acct_1"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == ARN
    assert record["awsRegion"] == "us-east-1"
    assert record["messageAttributes"]["reason"]["stringValue"] == "why"
    assert sqs.receive_calls[0]["MaxNumberOfMessages"] == 10
    assert sqs.receive_calls[0]["MessageSystemAttributeNames"] == ["All"]  # includes MessageGroupId


def test_reported_failures_stay_on_the_queue() -> None:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]}

    sqs = FakeSQS([_message(1), _message(2), _message(3)])
    counts = Pump([QueueSource("q.fifo", handler)], sqs=sqs, verbose=False).pump_once(wait_seconds=0)
    assert (counts.received, counts.deleted, counts.failed) == (3, 1, 2)
    assert sqs.deleted == ["rh1"]


def test_a_crashing_handler_leaves_the_whole_batch(capsys: pytest.CaptureFixture[str]) -> None:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("boom")

    sqs = FakeSQS([_message(1), _message(2)])
    counts = Pump([QueueSource("q.fifo", handler)], sqs=sqs, verbose=False).pump_once(wait_seconds=0)
    assert (counts.received, counts.deleted, counts.failed) == (2, 0, 2)
    assert sqs.deleted == []


def test_drain_stops_when_the_queue_is_empty() -> None:
    sqs = FakeSQS([_message(n) for n in range(25)])
    pump = Pump([QueueSource("q.fifo", lambda e, c: {"batchItemFailures": []}, 10)], sqs=sqs, verbose=False)
    total = pump.drain()
    assert (total.received, total.deleted, total.invocations) == (25, 25, 3)
    assert pump.totals.deleted == 25


def test_sqs_event_of_no_messages_is_empty() -> None:
    assert sqs_event([], ARN, "us-east-1") == {"Records": []}


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(1 hour)", 3600), ("rate(2 days)", 172800)],
)
def test_rate_expressions(expression: str, seconds: int) -> None:
    assert rate_seconds(expression) == seconds


def test_cron_expressions() -> None:
    monday_0900 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday
    assert cron_matches("cron(0 9 * * ? *)", monday_0900)
    assert cron_matches("cron(0/15 * * * ? *)", monday_0900)
    assert cron_matches("cron(0 9 ? * MON-FRI *)", monday_0900)
    assert not cron_matches("cron(0 9 ? * SAT,SUN *)", monday_0900)
    assert not cron_matches("cron(5 9 * * ? *)", monday_0900)
    assert cron_matches("cron(0 9 23 NOV ? 2026)", monday_0900)


def test_a_rate_schedule_fires_once_per_interval() -> None:
    fired: list[str] = []
    schedule = ScheduledSource("statements_due", "rate(5 minutes)", lambda e, c: fired.append(e["time"]))
    pump = Pump([], [schedule], verbose=False)
    start = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    for minute in range(11):
        pump.fire_due(start.replace(minute=minute))
    assert fired == ["2026-11-26T10:05:00Z", "2026-11-26T10:10:00Z"]


# -- draining on shutdown (make run's Ctrl-C) ----------------------------------------


class QueueSQS(FakeSQS):
    """A fake that keeps in-flight messages (received, not deleted) and counts them as SQS does."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        super().__init__(messages)
        self.in_flight: dict[str, dict[str, Any]] = {}
        self.made_visible: list[tuple[str, int]] = []

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        response = super().receive_message(**kwargs)
        for m in response.get("Messages", []):
            self.in_flight[m["ReceiptHandle"]] = m
        return response

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        for e in Entries:
            self.in_flight.pop(e["ReceiptHandle"])
        return super().delete_message_batch(QueueUrl, Entries)

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        for e in Entries:
            self.made_visible.append((e["ReceiptHandle"], e["VisibilityTimeout"]))
            self.messages.insert(0, self.in_flight.pop(e["ReceiptHandle"]))  # visible again (time is fake)
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:
        if QueueUrl.endswith("-dlq"):
            return {"Attributes": {"QueueArn": ARN + "-dlq", "ApproximateNumberOfMessages": "0"}}
        return {
            "Attributes": {
                "QueueArn": ARN,
                "ApproximateNumberOfMessages": str(len(self.messages)),
                "ApproximateNumberOfMessagesNotVisible": str(len(self.in_flight)),
                "ApproximateNumberOfMessagesDelayed": "0",
                "RedrivePolicy": '{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:1:q-dlq", "maxReceiveCount": "5"}',
            }
        }


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_shutdown_drain_charges_everything_queued_retrying_failures_at_once() -> None:
    attempts: dict[str, int] = {}

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            attempts[record["messageId"]] = attempts.get(record["messageId"], 0) + 1
            if record["messageId"] == "m3" and attempts["m3"] < 3:  # transient twice
                failures.append({"itemIdentifier": "m3"})
        return {"batchItemFailures": failures}

    sqs = QueueSQS([_message(n) for n in range(25)])
    clock = FakeClock()
    pump = Pump([QueueSource("q.fifo", handler, 10)], sqs=sqs, verbose=False)
    result = pump.drain_for_shutdown(60, clock=clock, sleep=clock.sleep)

    assert result.complete and result.left == {"q.fifo": 0}
    assert result.counts.deleted == 25 and len(sqs.deleted) == 25
    assert attempts["m3"] == 3
    assert sqs.made_visible == [("rh3", 1), ("rh3", 1)]  # retried after 1 s, not the 30 s visibility timeout
    assert clock.now < 5


def test_a_shutdown_drain_gives_up_after_its_bound_and_says_what_is_left() -> None:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["messageId"] == "m1"
            ]
        }

    sqs = QueueSQS([_message(n) for n in range(3)])
    clock = FakeClock()
    ticks = iter(range(1000))

    def slow_clock() -> float:  # every look at the clock is a second later
        return float(next(ticks))

    pump = Pump([QueueSource("q.fifo", handler, 10)], sqs=sqs, verbose=False)
    result = pump.drain_for_shutdown(10, clock=slow_clock, sleep=clock.sleep)
    assert not result.complete
    assert result.left == {"q.fifo": 1}
    assert result.counts.deleted == 2
    assert 10 <= result.seconds < 20


def test_a_second_ctrl_c_abandons_the_drain() -> None:
    import threading

    abandon = threading.Event()
    abandon.set()
    sqs = QueueSQS([_message(n) for n in range(30)])
    pump = Pump([QueueSource("q.fifo", lambda e, c: {"batchItemFailures": []}, 10)], sqs=sqs, verbose=False)
    result = pump.drain_for_shutdown(60, abandon)
    assert result.counts.deleted == 10  # the batch in hand is finished, then it stops
    assert result.left == {"q.fifo": 20} and not result.complete
