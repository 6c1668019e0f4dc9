"""services/statement_schedules.py on the fakes: the schedule of an account, and who is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.periods import format_instant, parse_instant
from chalicelib.domain.statement_schedule import Cadence, Frequency, period_for_run
from chalicelib.services.errors import BadRequest, Forbidden, NotFound
from chalicelib.services.statement_schedules import enqueue_due, get_schedule, put_schedule, scheduled_tick
from chalicelib.services.statements import ScheduledRun, SharedBillingStatement
from tests.fakes.world import admin, viewer
from tests.unit.services.statements.conftest import World

BERLIN = ZoneInfo("Europe/Berlin")


def test_an_account_without_a_schedule_reads_as_not_configured(world: World) -> None:
    world.provision("acme", time_zone="Asia/Tokyo")
    view = get_schedule(viewer("acme"), "acme")
    assert view == {
        "account_id": "acme",
        "configured": False,
        "enabled": False,
        "frequency": None,
        "weekday": None,
        "day_of_month": None,
        "hour": None,
        "recipients": [],
        "time_zone": "Asia/Tokyo",
        "next_run_at": None,
        "next_period": None,
        "last_run_at": None,
        "updated_at": None,
    }


def test_put_a_weekly_schedule_runs_next_on_its_weekday_and_hour(world: World) -> None:
    world.provision("acme")
    body = {"frequency": "weekly", "weekday": "Friday", "hour": 8, "recipients": ["a@example.org", "A@example.org "]}
    view = put_schedule(admin("acme"), "acme", body)
    assert (view["configured"], view["enabled"], view["frequency"], view["weekday"], view["hour"]) == (
        True, True, "weekly", "friday", 8,
    )  # fmt: skip
    assert view["recipients"] == ["a@example.org"] and view["day_of_month"] is None
    run = parse_instant(view["next_run_at"]).astimezone(BERLIN)
    assert (run.weekday(), run.hour, run.minute) == (4, 8, 0) and run > world.clock.now
    assert run - world.clock.now <= timedelta(days=7)
    first, last = period_for_run(Cadence(Frequency.WEEKLY, 4, None, 8), BERLIN, run)
    assert view["next_period"] == {"from": first.isoformat(), "to": last.isoformat()}
    assert view["updated_at"] == format_instant(world.clock.now) and view["last_run_at"] is None
    stored = world.schedules.get("acme")
    assert stored is not None and stored.updated_by == "admin@acme" and stored.revision == 1
    assert get_schedule(viewer("acme"), "acme") == view


def test_put_a_monthly_schedule_on_the_last_day(world: World) -> None:
    world.provision("acme")
    body = {"frequency": "monthly", "day_of_month": "last", "recipients": ["a@x.io"]}
    view = put_schedule(admin("acme"), "acme", body)
    assert view["day_of_month"] == "last" and view["hour"] == 6
    run = parse_instant(view["next_run_at"]).astimezone(BERLIN)
    assert (run + timedelta(days=1)).day == 1  # the last day of its month


def test_a_disabled_schedule_has_no_next_run(world: World) -> None:
    world.provision("acme")
    put_schedule(admin("acme"), "acme", {"frequency": "daily", "recipients": ["a@x.io"]})
    off = put_schedule(admin("acme"), "acme", {"frequency": "daily", "recipients": ["a@x.io"], "enabled": False})
    assert off["enabled"] is False and off["next_run_at"] is None and off["next_period"] is None
    stored = world.schedules.get("acme")
    assert stored is not None and stored.revision == 2 and stored.next_run_at is None
    assert list(world.schedules.due(world.clock.now + timedelta(days=400))) == []


def test_only_an_admin_of_an_own_billing_account_sets_a_schedule(world: World) -> None:
    world.provision("agency", kind="agency")
    world.provision("client", agency_id="agency", billing="agency")
    body = {"frequency": "daily", "recipients": ["a@x.io"]}
    with pytest.raises(Forbidden):
        put_schedule(viewer("client"), "client", body)
    with pytest.raises(SharedBillingStatement):
        put_schedule(admin("client"), "client", body)
    with pytest.raises(NotFound):
        get_schedule(viewer("agency"), "nobody")
    assert world.schedules.items == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "body must be"),
        ({"frequency": "daily", "recipients": ["a@x.io"], "colour": "red"}, "unknown fields: colour"),
        ({"frequency": "hourly", "recipients": ["a@x.io"]}, "frequency must be one of"),
        ({"frequency": "weekly", "recipients": ["a@x.io"]}, "a weekly schedule needs a weekday"),
        ({"frequency": "weekly", "weekday": "someday", "recipients": ["a@x.io"]}, "weekday must be one of"),
        ({"frequency": "daily", "weekday": "monday", "recipients": ["a@x.io"]}, "weekday is only for a weekly"),
        ({"frequency": "daily", "day_of_month": 3, "recipients": ["a@x.io"]}, "day_of_month is only for a monthly"),
        ({"frequency": "monthly", "day_of_month": 29, "recipients": ["a@x.io"]}, "day_of_month must be 1 to 28"),
        ({"frequency": "daily", "hour": 24, "recipients": ["a@x.io"]}, "hour must be a whole hour"),
        ({"frequency": "daily", "hour": True, "recipients": ["a@x.io"]}, "hour must be a whole hour"),
        ({"frequency": "daily", "enabled": "yes", "recipients": ["a@x.io"]}, "enabled must be true or false"),
        ({"frequency": "daily"}, "recipients is required"),
        ({"frequency": "daily", "recipients": []}, "recipients must hold 1 to 10"),
    ],
)
def test_a_bad_schedule_is_refused_and_nothing_is_stored(world: World, body: object, message: str) -> None:
    world.provision("acme")
    with pytest.raises(BadRequest, match=message):
        put_schedule(admin("acme"), "acme", body)
    assert world.schedules.get("acme") is None


def _schedule(world: World, account_id: str, frequency: str = "daily", **body: object) -> str:
    world.provision(account_id)
    view = put_schedule(admin(account_id), account_id, {"frequency": frequency, "recipients": ["a@x.io"], **body})
    return str(view["next_run_at"])


def test_enqueue_due_hands_each_due_run_to_the_sender_and_moves_the_schedule(world: World) -> None:
    first_run = _schedule(world, "acme")
    _schedule(world, "later", "monthly")
    tick = world.clock.advance(days=1)
    counts = enqueue_due(tick)
    assert counts == {"due": 1, "enqueued": 1, "advanced": 1, "held_back": 0}
    (message,) = world.queues.statements
    run = ScheduledRun.from_json(message)
    assert run.account_id == "acme" and format_instant(run.scheduled_at) == first_run
    assert run.to_json() == message and run.time_zone == "Europe/Berlin"
    moved = world.schedules.get("acme")
    assert moved is not None and moved.last_run_at == first_run
    assert moved.next_run_at is not None and parse_instant(moved.next_run_at) > tick
    # The next tick at the same time finds nothing due.
    assert enqueue_due(tick) == {"due": 0, "enqueued": 0, "advanced": 0, "held_back": 0}
    assert len(world.queues.statements) == 1


def test_missed_runs_send_only_the_latest_period(world: World) -> None:
    _schedule(world, "acme")
    tick = world.clock.advance(days=5)
    assert enqueue_due(tick)["enqueued"] == 1
    (message,) = world.queues.statements
    run = ScheduledRun.from_json(message)
    assert tick - run.scheduled_at < timedelta(days=1)
    assert run.period == ((tick - timedelta(days=1)).astimezone(BERLIN).date(),) * 2


def test_a_schedule_edited_while_the_tick_ran_is_not_moved(world: World) -> None:
    _schedule(world, "acme")
    tick = world.clock.advance(days=1)
    sent: list[dict[str, object]] = []

    def send_and_edit(messages: object) -> None:
        sent.extend(messages)  # type: ignore[arg-type]
        put_schedule(admin("acme"), "acme", {"frequency": "weekly", "weekday": "monday", "recipients": ["b@x.io"]})

    counts = enqueue_due(tick, send=send_and_edit)
    assert (counts["enqueued"], counts["advanced"]) == (1, 0)
    edited = world.schedules.get("acme")
    assert edited is not None and edited.cadence.frequency is Frequency.WEEKLY and edited.last_run_at is None
    assert len(sent) == 1 and world.queues.statements == []


def test_a_pretended_tick_holds_back_a_period_that_has_not_ended(world: World) -> None:
    _schedule(world, "acme", "monthly")
    pretend = world.clock.now + timedelta(days=40)
    counts = enqueue_due(pretend, now=world.clock.now)
    assert counts["due"] == 1 and counts["enqueued"] == 0 and counts["held_back"] == 1
    assert world.queues.statements == []


def test_scheduled_tick_reads_eventbridges_time(world: World) -> None:
    assert scheduled_tick("2026-04-01T06:15:00Z") == datetime(2026, 4, 1, 6, 15, tzinfo=UTC)
    assert scheduled_tick("not a time") == world.clock.now
    assert scheduled_tick(None) == world.clock.now
