"""`make statements-now`: the statement scheduler's tick, once, against the local stack.

    python -m devtools.run exec python -m devtools.statements_now [--at 2026-12-01T11:00:00Z] [--no-send]

Runs what the 15-minute EventBridge rule runs (`enqueue_due`) for the tick `--at`
(default: now), then hands what it queued to the sender, as the event pump of
`make run` would (if the pump takes a message first, the statement's claim makes the
second delivery a no-op). Sent emails are in moto: `curl -s $MOTO/moto-api/data.json`.
moto's server is the one `make run` started; if none is running, one is started for
this run only (and its emails are gone when it stops: the summary printed here says
what was sent).

`--at` in the future pretends to be that time without changing the real schedule: a
period that has not ended yet is held back (never sent early), and no schedule moves
past the real now, so the runs of the coming days still happen when they are due.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--at", help="the scheduler's tick, RFC 3339 UTC (default: now)")
    parser.add_argument("--no-send", action="store_true", help="only queue; leave sending to the pump of make run")
    args = parser.parse_args(argv)
    tick = datetime.now(UTC)
    if args.at:
        tick = datetime.fromisoformat(args.at.replace("Z", "+00:00")).astimezone(UTC)

    from .processes import Service, port_open, start_moto_server

    moto: Service | None = None
    port = int(os.environ.get("MOTO_PORT") or 4566)
    if not port_open(port):
        print(f"moto is not running on {port} (start `make run` to keep the emails); starting one for this run")
        moto = start_moto_server(port)
    try:
        return _fire(tick, send=not args.no_send)
    finally:
        if moto is not None:
            moto.stop()


def _fire(tick: datetime, send: bool) -> int:
    from chalicelib.adapters.aws import client
    from chalicelib.adapters.queues import queue_url
    from chalicelib.config import get_settings
    from chalicelib.domain.periods import format_instant
    from chalicelib.services.statement_schedules import enqueue_due
    from chalicelib.services.statements import Busy, process_message

    from .resources import create_queues, verify_sender

    create_queues()
    verify_sender()
    now = datetime.now(UTC)
    outcome = enqueue_due(tick, now=now)
    pretend = " (pretended: the schedules keep their real next runs)" if tick > now else ""
    print(f"scheduler tick {format_instant(tick)}{pretend}: {outcome['due']} due, {outcome['enqueued']} queued")
    if outcome["held_back"]:
        print(f"  {outcome['held_back']} held back: their period has not ended by {format_instant(now)}")
    if not send:
        return 0
    sqs = client("sqs")
    url = queue_url(get_settings().statements_queue_name)
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return 0
        for message in messages:
            try:
                result = process_message(message["Body"])
            except Busy as exc:
                print(f"  busy (left for a retry): {exc}")
                continue
            except Exception as exc:
                print(f"  {message['Body']} -> not sent ({exc!r}); left on the queue for a retry")
                continue
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            print(f"  {message['Body']} -> {result.value}")


if __name__ == "__main__":
    raise SystemExit(main())
