"""The local event pump: what Lambda's event sources do in AWS, for `make run`.

Neither `chalice local` nor moto runs the app's non-HTTP functions. The pump
does, by calling the very handlers Lambda would call:

- SQS: it long-polls each queue the app subscribes to (`@app.on_sqs_message`),
  hands each batch to the handler as a Lambda-shaped SQS event, deletes the
  messages the handler did not report in `batchItemFailures` and leaves the
  failed ones to reappear after the visibility timeout (moto moves them to the
  dead-letter queue after the redrive policy's maxReceiveCount).
- Schedules: it fires `@app.schedule` functions with a scheduled-event payload
  whose `time` is the scheduled tick (rate(...) and simple cron(...) expressions).

moto keeps its queues in memory, so whatever is still queued when it stops is
gone. `drain_for_shutdown` is what `make run` does on Ctrl-C once the API has
stopped accepting: it pumps every queue until all are empty (messages in flight
included), within a time bound, and says what it could not drain.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class QueueSource:
    """A queue and the function Lambda would call with its messages."""

    queue_name: str
    handler: Handler
    batch_size: int = 10
    name: str = ""


@dataclass
class PumpCounts:
    received: int = 0
    deleted: int = 0
    failed: int = 0  # left on the queue for a retry (reported failures or a crashed handler)
    invocations: int = 0
    scheduled: int = 0

    def add(self, other: PumpCounts) -> None:
        self.received += other.received
        self.deleted += other.deleted
        self.failed += other.failed
        self.invocations += other.invocations
        self.scheduled += other.scheduled


@dataclass
class DrainResult:
    """What a shutdown drain did, and what it left behind (queue name -> messages)."""

    counts: PumpCounts
    left: dict[str, int]
    dead_letters: dict[str, int] = field(default_factory=dict)  # dead-letter queue name -> messages
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return not any(self.left.values())


# What a queue holds: waiting, in flight (received, not yet deleted) and delayed.
_BACKLOG_ATTRIBUTES = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]


def _lambda_message_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """ReceiveMessage's MessageAttributes in the camelCase shape Lambda delivers."""
    shaped: dict[str, Any] = {}
    for name, value in attributes.items():
        item: dict[str, Any] = {"dataType": value.get("DataType"), "stringListValues": [], "binaryListValues": []}
        if "StringValue" in value:
            item["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            item["binaryValue"] = value["BinaryValue"]
        shaped[name] = item
    return shaped


def sqs_event(messages: Iterable[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping passes to the function."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": dict(m.get("Attributes") or {}),
                "messageAttributes": _lambda_message_attributes(m.get("MessageAttributes") or {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def failed_ids(response: Any) -> set[str]:
    """Message ids a handler reported as failed (ReportBatchItemFailures)."""
    if not isinstance(response, dict):
        return set()
    failures = response.get("batchItemFailures") or []
    return {str(f.get("itemIdentifier")) for f in failures if isinstance(f, dict)}


# -- schedules ---------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduledSource:
    name: str
    expression: str  # rate(...) or cron(...)
    handler: Handler


_RATE_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def rate_seconds(expression: str) -> int | None:
    """Seconds between ticks of `rate(N unit)`, or None when it is not a rate."""
    text = expression.strip()
    if not (text.startswith("rate(") and text.endswith(")")):
        return None
    value, _, unit = text[5:-1].strip().partition(" ")
    if not value.isdigit() or unit.strip() not in _RATE_UNITS:
        raise ValueError(f"unsupported schedule expression {expression!r}")
    return int(value) * _RATE_UNITS[unit.strip()]


def _field_matches(spec: str, value: int, names: dict[str, int] | None = None) -> bool:
    for part in spec.split(","):
        part = part.strip().upper()
        if part in ("*", "?"):
            return True
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part in ("*", ""):
            low, high = 0, 10_000
        elif "-" in part:
            a, b = part.split("-", 1)
            low, high = _cron_value(a, names), _cron_value(b, names)
        else:
            low = _cron_value(part, names)
            high = low if step == 1 else 10_000
        if low <= value <= high and (value - low) % step == 0:
            return True
    return False


def _cron_value(text: str, names: dict[str, int] | None) -> int:
    if names and text in names:
        return names[text]
    return int(text)


_MONTHS = {
    m: i + 1 for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"))
}
_DAYS = {d: i + 1 for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}  # AWS: 1 = Sunday


def cron_matches(expression: str, at: datetime) -> bool:
    """Whether an EventBridge `cron(min hour dom month dow year)` fires at minute `at` (UTC).

    Covers *, ?, lists, ranges, steps and names; not L, W or #.
    """
    text = expression.strip()
    if not (text.startswith("cron(") and text.endswith(")")):
        raise ValueError(f"not a cron expression: {expression!r}")
    fields = text[5:-1].split()
    if len(fields) != 6:
        raise ValueError(f"a cron expression has 6 fields: {expression!r}")
    minute, hour, dom, month, dow, year = fields
    aws_dow = (at.isoweekday() % 7) + 1  # Sunday = 1
    return (
        _field_matches(minute, at.minute)
        and _field_matches(hour, at.hour)
        and _field_matches(dom, at.day)
        and _field_matches(month, at.month, _MONTHS)
        and _field_matches(dow, aws_dow, _DAYS)
        and _field_matches(year, at.year)
    )


def scheduled_event(name: str, tick: datetime, region: str) -> dict[str, Any]:
    """The payload EventBridge sends a scheduled rule's target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": tick.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:000000000000:rule/{name}"],
        "detail": {},
    }


# -- the pump ------------------------------------------------------------------------


@dataclass
class Pump:
    """Feeds queue messages and schedule ticks to the app's handlers."""

    sources: list[QueueSource]
    schedules: list[ScheduledSource] = field(default_factory=list)
    sqs: Any = None  # a boto3 SQS client; the app's cached one by default
    region: str = "us-east-1"
    wait_seconds: int = 1
    verbose: bool = True
    totals: PumpCounts = field(default_factory=PumpCounts)
    _queues: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (url, arn)
    _next_tick: dict[str, datetime] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _client(self) -> Any:
        if self.sqs is None:
            from chalicelib.adapters.aws import client

            self.sqs = client("sqs")
        return self.sqs

    def _queue(self, name: str) -> tuple[str, str]:
        if name not in self._queues:
            sqs = self._client()
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            self._queues[name] = (url, arn)
        return self._queues[name]

    def _log(self, text: str) -> None:
        if self.verbose:
            print(f"[pump] {text}", flush=True)

    def pump_queue(
        self, source: QueueSource, wait_seconds: int | None = None, retry_failed_after: int | None = None
    ) -> PumpCounts:
        """Receive one batch from the queue and hand it to its handler.

        `retry_failed_after`: make failed messages visible again after that many
        seconds instead of the queue's visibility timeout (a shutdown drain).
        """
        counts = PumpCounts()
        url, arn = self._queue(source.queue_name)
        sqs = self._client()
        response = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=max(1, min(source.batch_size, 10)),
            WaitTimeSeconds=self.wait_seconds if wait_seconds is None else wait_seconds,
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages") or []
        if not messages:
            return counts
        counts.received = len(messages)
        counts.invocations = 1
        event = sqs_event(messages, arn, self.region)
        try:
            result = source.handler(event, None)
        except Exception:
            # Lambda would retry the whole batch: leave every message to reappear.
            self._log(f"{source.name or source.queue_name} raised; {len(messages)} message(s) left for a retry")
            traceback.print_exc()
            counts.failed = len(messages)
            return counts
        failed = failed_ids(result)
        done = [m for m in messages if m["MessageId"] not in failed]
        if retry_failed_after is not None:
            self._retry_soon([m for m in messages if m["MessageId"] in failed], url, retry_failed_after)
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        counts.deleted = len(done)
        counts.failed = len(messages) - len(done)
        summary = f"{source.name or source.queue_name}: {counts.received} message(s), {counts.deleted} done"
        if counts.failed:
            summary += f", {counts.failed} failed (left for a retry)"
        self._log(summary)
        return counts

    def _retry_soon(self, messages: list[dict[str, Any]], url: str, seconds: int) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            self._client().change_message_visibility_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": seconds}
                    for i, m in enumerate(chunk)
                ],
            )

    def backlog(self) -> dict[str, int]:
        """Messages each queue still holds: waiting, in flight or delayed."""
        return {source.queue_name: self._queue_size(source.queue_name) for source in self.sources}

    def _queue_size(self, name: str) -> int:
        url, _ = self._queue(name)
        attributes = self._client().get_queue_attributes(QueueUrl=url, AttributeNames=_BACKLOG_ATTRIBUTES)
        values = attributes.get("Attributes") or {}
        return sum(int(values.get(name, 0)) for name in _BACKLOG_ATTRIBUTES)

    def dead_letter_counts(self) -> dict[str, int]:
        """Messages on each queue's dead-letter queue (from its redrive policy), where there are any."""
        counts: dict[str, int] = {}
        sqs = self._client()
        for source in self.sources:
            url, _ = self._queue(source.queue_name)
            policy = (
                sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"]).get("Attributes") or {}
            ).get("RedrivePolicy")
            if not policy:
                continue
            dlq = str(json.loads(policy)["deadLetterTargetArn"]).rsplit(":", 1)[-1]
            size = self._queue_size(dlq)
            if size:
                counts[dlq] = size
        return counts

    def drain_for_shutdown(
        self,
        timeout: float,
        abandon: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> DrainResult:
        """Pump every queue until all are empty, in flight included; give up after `timeout` seconds.

        Call it once nothing feeds the queues any more (the API has stopped) and the
        background loop has stopped. Failed messages are retried after a second
        rather than the queue's visibility timeout. Setting `abandon` stops early.
        """
        started = clock()
        total = PumpCounts()
        while True:
            with self._lock:
                counts = PumpCounts()
                for source in self.sources:
                    counts.add(self.pump_queue(source, wait_seconds=0, retry_failed_after=1))
                total.add(counts)
            if counts.received == 0:
                left = self.backlog()
                if not any(left.values()) or clock() - started >= timeout or (abandon and abandon.is_set()):
                    return DrainResult(total, left, self.dead_letter_counts(), clock() - started)
                sleep(0.5)  # what is left is in flight: it comes back when its visibility ends
            elif clock() - started >= timeout or (abandon and abandon.is_set()):
                return DrainResult(total, self.backlog(), self.dead_letter_counts(), clock() - started)

    def fire_due(self, now: datetime | None = None) -> PumpCounts:
        """Fire every schedule whose tick has come (each tick at most once)."""
        counts = PumpCounts()
        now = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
        for source in self.schedules:
            every = rate_seconds(source.expression)
            if every is not None:
                # Like an EventBridge rate rule: the first tick one interval after start.
                due = self._next_tick.setdefault(source.name, now + timedelta(seconds=every))
                if now < due:
                    continue
                self._next_tick[source.name] = now + timedelta(seconds=every)
            else:
                last = self._next_tick.get(source.name)
                if last == now or not cron_matches(source.expression, now):
                    continue
                self._next_tick[source.name] = now
            try:
                source.handler(scheduled_event(source.name, now, self.region), None)
                self._log(f"fired schedule {source.name} for {now:%Y-%m-%dT%H:%MZ}")
            except Exception:
                self._log(f"schedule {source.name} raised")
                traceback.print_exc()
            counts.scheduled += 1
        return counts

    def pump_once(self, wait_seconds: int | None = None) -> PumpCounts:
        """One round: fire due schedules, then one batch from every queue."""
        with self._lock:
            counts = self.fire_due()
            for source in self.sources:
                counts.add(self.pump_queue(source, wait_seconds))
            self.totals.add(counts)
            return counts

    def drain(self, max_rounds: int = 100) -> PumpCounts:
        """Pump until a round receives nothing (tests, the seed)."""
        total = PumpCounts()
        for _ in range(max_rounds):
            counts = self.pump_once(wait_seconds=0)
            total.add(counts)
            if counts.received == 0:
                break
        return total

    def run(self, stop: threading.Event) -> None:
        """Pump until `stop` is set; an error is printed and the loop goes on."""
        while not stop.is_set():
            try:
                counts = self.pump_once()
            except Exception as exc:
                self._log(f"error: {exc}")
                stop.wait(1.0)
                continue
            if counts.received == 0 and not self.sources:
                stop.wait(1.0)


def app_sources(app_module: Any | None = None) -> tuple[list[QueueSource], list[ScheduledSource]]:
    """The app's SQS consumers and schedules, as Lambda's event sources would call them."""
    from chalice.app import ScheduledEventConfig, SQSEventConfig

    from chalicelib.config import get_settings

    if app_module is None:
        import app as default_app  # the top-level app.py, the module Lambda loads

        app_module = default_app
    chalice_app = app_module.app
    settings = get_settings()
    # The app names the stage's queue by its default name; the settings may rename it.
    renames = {
        getattr(app_module, "USAGE_QUEUE", "usage-events.fifo"): settings.usage_queue_name,
        getattr(app_module, "BILLING_TASKS_QUEUE", "billing-tasks"): settings.billing_tasks_queue_name,
        getattr(app_module, "STATEMENTS_QUEUE", "statements"): settings.statements_queue_name,
        getattr(app_module, "NOTICES_QUEUE", "notices"): settings.notices_queue_name,
    }
    queues: list[QueueSource] = []
    schedules: list[ScheduledSource] = []
    for config in chalice_app.event_sources:
        handler = chalice_app.handler_map[config.name]
        if isinstance(config, SQSEventConfig) and config.queue:
            queue = renames.get(config.queue, config.queue)
            queues.append(QueueSource(queue, handler, config.batch_size, config.name))
        elif isinstance(config, ScheduledEventConfig):
            expression = config.schedule_expression
            text = expression if isinstance(expression, str) else expression.to_string()
            schedules.append(ScheduledSource(config.name, text, handler))
    return queues, schedules


def app_pump(verbose: bool = True) -> Pump:
    from chalicelib.config import get_settings

    queues, schedules = app_sources()
    return Pump(queues, schedules, region=get_settings().region, verbose=verbose)


def start_pump_thread(pump: Pump) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=pump.run, args=(stop,), name="event-pump", daemon=True)
    thread.start()
    return thread, stop
