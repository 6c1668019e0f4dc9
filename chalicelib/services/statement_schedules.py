"""Recurring statements: the schedule of an account, and the "who is due" function.

`enqueue_due` is what the 15-minute EventBridge rule runs. It queries the sparse
`by_next_run` index for schedules whose next run has come (never a scan), puts one
message per due schedule on the statements queue, naming the latest run that is
due (a schedule whose runs were missed sends only the latest period), and then
moves each schedule's next run on with a condition on the value it read. Messages
go out before the schedule moves: a crash in between re-sends the same run at the
next tick, which the sender's claim turns into nothing.

`make statements-now` fires it once against the local stack (devtools/statements_now.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..adapters.statements_repo import Schedule, ScheduleRepository
from ..domain.access import Action, Principal
from ..domain.periods import format_instant, parse_instant
from ..domain.statement_schedule import (
    WEEKDAYS,
    Cadence,
    Frequency,
    latest_run_at_or_before,
    next_run_after,
    parse_weekday,
    period_for_run,
)
from .accounts import require
from .errors import BadRequest
from .statements import ScheduledRun, ensure_own_billing, parse_recipients


def _view(account_id: str, time_zone: str, schedule: Schedule | None) -> dict[str, Any]:
    if schedule is None:
        return {
            "account_id": account_id,
            "configured": False,
            "enabled": False,
            "frequency": None,
            "weekday": None,
            "recipients": [],
            "time_zone": time_zone,
            "next_run_at": None,
            "next_period": None,
            "last_run_at": None,
            "updated_at": None,
        }
    next_period = None
    if schedule.enabled and schedule.next_run_at:
        first, last = period_for_run(
            schedule.cadence, ZoneInfo(schedule.time_zone), parse_instant(schedule.next_run_at)
        )
        next_period = {"from": first.isoformat(), "to": last.isoformat()}
    return {
        "account_id": account_id,
        "configured": True,
        "enabled": schedule.enabled,
        "frequency": schedule.cadence.frequency.value,
        "weekday": schedule.cadence.weekday_name,
        "recipients": list(schedule.recipients),
        "time_zone": schedule.time_zone,
        "next_run_at": schedule.next_run_at if schedule.enabled else None,
        "next_period": next_period,
        "last_run_at": schedule.last_run_at,
        "updated_at": format_instant(schedule.updated_at),
    }


def get_schedule(principal: Principal, account_id: str) -> dict[str, Any]:
    account = require(principal, Action.READ, account_id)
    return _view(account.account_id, account.time_zone, ScheduleRepository().get(account.account_id))


def parse_schedule(body: object) -> tuple[Cadence, list[str], bool]:
    """{frequency, weekday (weekly only), recipients (1-10), enabled (default true)}."""
    if not isinstance(body, dict):
        raise BadRequest(
            'body must be {"frequency": "daily|weekly|monthly|quarterly", "weekday": "monday" (weekly), '
            '"recipients": ["..."], "enabled": true}'
        )
    unknown = set(body) - {"frequency", "weekday", "recipients", "enabled"}
    if unknown:
        raise BadRequest(f"unknown fields: {', '.join(sorted(map(str, unknown)))}")
    try:
        frequency = Frequency(str(body.get("frequency")))
    except ValueError:
        raise BadRequest(f"frequency must be one of {', '.join(f.value for f in Frequency)}") from None
    weekday = body.get("weekday")
    if frequency is Frequency.WEEKLY:
        if weekday is None:
            raise BadRequest(f"a weekly schedule needs a weekday: one of {', '.join(WEEKDAYS)}")
        try:
            day: int | None = parse_weekday(weekday)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
    elif weekday is not None:
        raise BadRequest("weekday is only for a weekly schedule")
    else:
        day = None
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        raise BadRequest("enabled must be true or false")
    if "recipients" not in body:
        raise BadRequest("recipients is required")
    return Cadence(frequency, day), parse_recipients(body["recipients"]), enabled


def put_schedule(
    principal: Principal, account_id: str, body: object, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> dict[str, Any]:
    account = require(principal, Action.ADMIN, account_id)
    ensure_own_billing(account)
    cadence, recipients, enabled = parse_schedule(body)
    now = clock()
    schedule = ScheduleRepository().put(
        account_id=account.account_id,
        cadence=cadence,
        recipients=recipients,
        enabled=enabled,
        time_zone=account.time_zone,
        next_run_at=next_run_after(cadence, account.zone, now) if enabled else None,
        now=now,
        updated_by=principal.subject,
    )
    return _view(account.account_id, account.time_zone, schedule)


Send = Callable[[Sequence[Mapping[str, Any]]], None]


def enqueue_due(tick: datetime, send: Send | None = None) -> dict[str, int]:
    """Hand every due schedule's latest run to the sender queue; move the schedules on."""
    if send is None:
        from ..adapters.statement_queue import send_statement_messages

        send = send_statement_messages
    repo = ScheduleRepository()
    plans: list[tuple[Schedule, ScheduledRun, datetime]] = []
    for schedule in repo.due(tick):
        zone = ZoneInfo(schedule.time_zone)
        run = ScheduledRun(
            schedule.account_id,
            schedule.cadence,
            schedule.time_zone,
            latest_run_at_or_before(schedule.cadence, zone, tick),
        )
        plans.append((schedule, run, next_run_after(schedule.cadence, zone, tick)))
    send([run.to_json() for _, run, _ in plans])
    advanced = sum(repo.advance(s, ran=run.scheduled_at, next_run_at=nxt) for s, run, nxt in plans)
    return {"due": len(plans), "enqueued": len(plans), "advanced": advanced}


def scheduled_tick(event_time: str | None) -> datetime:
    """The tick EventBridge names in its event (`time`), or now if it names none."""
    if event_time:
        try:
            return datetime.strptime(event_time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            pass
    return datetime.now(UTC)
