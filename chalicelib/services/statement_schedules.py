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

from ..adapters.statements_repo import Schedule
from ..domain.access import Action, Principal
from ..domain.periods import format_instant, parse_instant
from ..domain.statement_schedule import (
    DEFAULT_HOUR,
    WEEKDAYS,
    Cadence,
    Frequency,
    day_of_month_name,
    next_run_after,
    parse_day_of_month,
    parse_weekday,
    period_for_run,
    plan_tick,
)
from .access import require
from .errors import BadRequest
from .statements import ScheduledRun, ensure_own_billing, parse_recipients
from .stores import stores


def _view(account_id: str, time_zone: str, schedule: Schedule | None) -> dict[str, Any]:
    if schedule is None:
        return {
            "account_id": account_id,
            "configured": False,
            "enabled": False,
            "frequency": None,
            "weekday": None,
            "day_of_month": None,
            "hour": None,
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
        "day_of_month": day_of_month_name(schedule.cadence.day_of_month),
        "hour": schedule.cadence.hour,
        "recipients": list(schedule.recipients),
        "time_zone": schedule.time_zone,
        "next_run_at": schedule.next_run_at if schedule.enabled else None,
        "next_period": next_period,
        "last_run_at": schedule.last_run_at,
        "updated_at": format_instant(schedule.updated_at),
    }


def get_schedule(principal: Principal, account_id: str) -> dict[str, Any]:
    account = require(principal, Action.READ, account_id)
    return _view(account.account_id, account.time_zone, stores().schedules.get(account.account_id))


SCHEDULE_FIELDS = {"frequency", "weekday", "day_of_month", "hour", "recipients", "enabled"}


def parse_schedule(body: object) -> tuple[Cadence, list[str], bool]:
    """{frequency, weekday (weekly only), day_of_month (monthly only: 1-28 or "last"; default 1),
    hour (local, 0-23; default 6), recipients (1-10), enabled (default true)}."""
    if not isinstance(body, dict):
        raise BadRequest(
            'body must be {"frequency": "daily|weekly|monthly|quarterly|yearly", "weekday": "monday" (weekly), '
            '"day_of_month": 1-28 or "last" (monthly), "hour": 0-23, "recipients": ["..."], "enabled": true}'
        )
    unknown = set(body) - SCHEDULE_FIELDS
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
    day_of_month: int | None = None
    if body.get("day_of_month") is not None:
        if frequency is not Frequency.MONTHLY:
            raise BadRequest("day_of_month is only for a monthly schedule")
        try:
            day_of_month = parse_day_of_month(body["day_of_month"])
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
    hour = body.get("hour", DEFAULT_HOUR)
    if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
        raise BadRequest("hour must be a whole hour from 0 to 23 (local time)")
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        raise BadRequest("enabled must be true or false")
    if "recipients" not in body:
        raise BadRequest("recipients is required")
    return Cadence(frequency, day, day_of_month, hour), parse_recipients(body["recipients"]), enabled


def put_schedule(
    principal: Principal, account_id: str, body: object, clock: Callable[[], datetime] = lambda: stores().clock()
) -> dict[str, Any]:
    account = require(principal, Action.ADMIN, account_id)
    ensure_own_billing(account)
    cadence, recipients, enabled = parse_schedule(body)
    now = clock()
    schedule = stores().schedules.put(
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


def enqueue_due(tick: datetime, send: Send | None = None, now: datetime | None = None) -> dict[str, int]:
    """Hand every due schedule's latest run to the sender queue; move the schedules on.

    `now` is the real time (the clock unless given). A tick later than now pretends to
    be that time (`make statements-now AT=...`): see `plan_tick`, it never sends a
    period that has not ended and never moves a schedule past now.
    """
    if send is None:
        send = stores().queues.send_statements
    now = now or stores().clock()
    repo = stores().schedules
    runs: list[ScheduledRun] = []
    moves: list[tuple[Schedule, datetime | None, datetime]] = []
    held_back = 0
    due = 0
    for schedule in repo.due(tick):
        due += 1
        assert schedule.next_run_at is not None
        zone = ZoneInfo(schedule.time_zone)
        plan = plan_tick(schedule.cadence, zone, parse_instant(schedule.next_run_at), tick, now)
        held_back += plan.held_back
        if plan.run_at is not None:
            runs.append(ScheduledRun(schedule.account_id, schedule.cadence, schedule.time_zone, plan.run_at))
        if plan.next_run_at is not None:
            moves.append((schedule, plan.run_at, plan.next_run_at))
    send([run.to_json() for run in runs])
    advanced = sum(repo.advance(s, ran=ran, next_run_at=nxt) for s, ran, nxt in moves)
    return {"due": due, "enqueued": len(runs), "advanced": advanced, "held_back": held_back}


def scheduled_tick(event_time: str | None) -> datetime:
    """The tick EventBridge names in its event (`time`), or now if it names none."""
    if event_time:
        try:
            return datetime.strptime(event_time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            pass
    return stores().clock()
