"""One contract for the statements and schedules stores: the fakes (tests/fakes/statements.py)
and the DynamoDB repositories (adapters/statements_repo.py) must answer alike.

Every test runs twice: against the fake (no AWS) and against DynamoDB Local. Ids are unique per
test, so the module's shared tables hold nothing a test does not expect.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pynamodb.exceptions import PutError, UpdateError

from chalicelib.adapters.statements_repo import DUE_SHARDS, Schedule, due_shard
from chalicelib.adapters.storage_errors import error_code
from chalicelib.domain.periods import format_instant
from chalicelib.domain.statement_schedule import LAST_DAY, Cadence, Frequency
from chalicelib.domain.statements import document_seal
from chalicelib.services.ports import ScheduleStore, StatementStore
from tests.fakes.statements import FakeSchedules, FakeStatements

T0 = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
LEASE = timedelta(minutes=5)


@dataclass
class Backend:
    statements: StatementStore
    schedules: ScheduleStore
    key: bytes  # what the statement numbers are sealed with


@pytest.fixture(params=["fake", "dynamodb"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "fake":
        fake = FakeStatements()
        return Backend(fake, FakeSchedules(), fake.key)
    request.getfixturevalue("aws")
    from chalicelib.adapters.secrets import ledger_key
    from chalicelib.adapters.statements_repo import ScheduleRepository, StatementRepository

    return Backend(StatementRepository(), ScheduleRepository(), ledger_key())


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def statement_id() -> str:
    return "st_" + uuid.uuid4().hex[:24]


def document(opening: int = 5_000_000, closing: int = 3_250_000, note: str = "x") -> dict[str, Any]:
    """As much of a statement's numbers as the store reads: period, currency, the boundary balances."""
    return {
        "period": {"from": "2026-02-01", "to": "2026-02-28"},
        "account": {"currency": "EUR", "name": "Ünïcode GmbH"},
        "opening_balance_micros": opening,
        "closing_balance_micros": closing,
        "lines": [{"category": "sms", "amount_micros": closing - opening, "note": note}],
    }


def new_run(account_id: str, recipients: list[str] | None = None) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "origin": "scheduled",
        "frequency": "monthly",
        "period_first": "2026-02-01",
        "period_last": "2026-02-28",
        "recipients": recipients or ["ops@example.org"],
    }


def conditional(exc: BaseException) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"


# -- statements ------------------------------------------------------------------------------


def test_a_missing_statement_is_none(backend: Backend) -> None:
    assert backend.statements.get(statement_id()) is None


def test_create_built_stores_a_queued_statement_once(backend: Backend) -> None:
    store, sid, account = backend.statements, statement_id(), new_id("acct")
    doc = document()
    store.create_built(
        statement_id=sid, account_id=account, doc=doc, recipients=["a@example.org", "b@example.org"],
        requested_by="user-1", now=T0,
    )  # fmt: skip
    got = store.get(sid)
    assert got is not None
    assert (got.statement_id, got.account_id, got.origin, got.frequency, got.status) == (
        sid, account, "on_demand", None, "queued",
    )  # fmt: skip
    assert (got.period_first, got.period_last) == ("2026-02-01", "2026-02-28")
    assert got.recipients == ("a@example.org", "b@example.org")
    assert got.created_at == T0 and got.built_at == T0 and got.created_at.tzinfo is not None
    assert got.sent_at is None and got.ses_message_id is None and got.last_error is None and got.pdf_sha256 is None
    assert (got.currency, got.opening_balance_micros, got.closing_balance_micros) == ("EUR", 5_000_000, 3_250_000)
    assert got.numbers == doc and got.requested_by == "user-1"

    with pytest.raises(PutError) as refused:
        store.create_built(
            statement_id=sid, account_id=new_id("acct"), doc=document(1, 2), recipients=["c@example.org"],
            requested_by=None, now=T0 + timedelta(hours=1),
        )  # fmt: skip
    assert conditional(refused.value)
    assert store.get(sid) == got


def test_claim_of_a_built_statement_takes_the_lease(backend: Backend) -> None:
    store, sid = backend.statements, statement_id()
    store.create_built(
        statement_id=sid, account_id=new_id("acct"), doc=document(), recipients=["a@example.org"],
        requested_by=None, now=T0,
    )  # fmt: skip
    claim = store.claim(sid, token="t1", now=T0 + timedelta(seconds=1), lease=LEASE)
    assert claim is not None
    assert claim.token == "t1" and claim.until == T0 + timedelta(seconds=1) + LEASE
    assert claim.statement.status == "sending" and claim.statement.numbers == document()
    assert claim.statement.recipients == ("a@example.org",)

    # Leased: nobody else may take it until the lease has run out (strictly).
    assert store.claim(sid, token="t2", now=T0 + timedelta(minutes=2), lease=LEASE) is None
    assert store.claim(sid, token="t2", now=claim.until, lease=LEASE) is None
    later = claim.until + timedelta(microseconds=1)
    second = store.claim(sid, token="t2", now=later, lease=LEASE)
    assert second is not None and second.until == later + LEASE

    # The first holder lost the lease: none of its writes land.
    assert store.finish(claim, "sent", later, ses_message_id="ses-1") is False
    store.release(claim, later, "stale")
    got = store.get(sid)
    assert got is not None and got.status == "sending" and got.last_error is None and got.ses_message_id is None
    assert store.claim(sid, token="t3", now=later + timedelta(seconds=1), lease=LEASE) is None


def test_claim_without_new_needs_the_statement(backend: Backend) -> None:
    sid = statement_id()
    assert backend.statements.claim(sid, token="t1", now=T0, lease=LEASE) is None
    assert backend.statements.get(sid) is None


def test_claim_with_new_creates_the_scheduled_statement(backend: Backend) -> None:
    store, sid, account = backend.statements, statement_id(), new_id("acct")
    claim = store.claim(sid, token="t1", now=T0, lease=LEASE, new=new_run(account, ["x@example.org"]))
    assert claim is not None
    s = claim.statement
    assert (s.statement_id, s.account_id, s.origin, s.frequency, s.status) == (
        sid, account, "scheduled", "monthly", "sending",
    )  # fmt: skip
    assert (s.period_first, s.period_last, s.recipients) == ("2026-02-01", "2026-02-28", ("x@example.org",))
    assert s.created_at == T0 and s.numbers is None and s.built_at is None and s.currency is None
    assert s.opening_balance_micros is None and s.requested_by is None
    assert store.get(sid) == s

    # Another run of the same period while the lease holds: not ours.
    assert store.claim(sid, token="t2", now=T0 + timedelta(minutes=1), lease=LEASE, new=new_run(account)) is None

    # After the lease ran out, a retry takes it over: what was there stays, the recipients are the run's.
    later = T0 + LEASE + timedelta(seconds=1)
    retry = store.claim(sid, token="t2", now=later, lease=LEASE, new={**new_run(new_id("other"), ["y@example.org"])})
    assert retry is not None
    assert retry.statement.account_id == account and retry.statement.created_at == T0
    assert retry.statement.recipients == ("y@example.org",)


def test_a_finished_statement_is_never_claimed_again(backend: Backend) -> None:
    store, sid, account = backend.statements, statement_id(), new_id("acct")
    claim = store.claim(sid, token="t1", now=T0, lease=LEASE, new=new_run(account))
    assert claim is not None
    sent_at = T0 + timedelta(seconds=3)
    assert store.finish(claim, "sent", sent_at, ses_message_id="ses-123", pdf_sha256="ab" * 32) is True
    got = store.get(sid)
    assert got is not None
    assert (got.status, got.ses_message_id, got.sent_at, got.pdf_sha256) == ("sent", "ses-123", sent_at, "ab" * 32)
    # The lease and token are gone: the same claim cannot write again either.
    assert store.finish(claim, "failed", sent_at, error="late") is False
    far = T0 + timedelta(days=1)
    assert store.claim(sid, token="t2", now=far, lease=LEASE) is None
    assert store.claim(sid, token="t2", now=far, lease=LEASE, new=new_run(account)) is None
    assert store.get(sid) == got


def test_finish_failed_keeps_the_error_and_not_a_send(backend: Backend) -> None:
    store, sid = backend.statements, statement_id()
    claim = store.claim(sid, token="t1", now=T0, lease=LEASE, new=new_run(new_id("acct")))
    assert claim is not None
    assert store.finish(claim, "failed", T0, error="E" * 1500) is True
    got = store.get(sid)
    assert got is not None
    assert got.status == "failed" and got.last_error == "E" * 1000
    assert got.sent_at is None and got.ses_message_id is None and got.pdf_sha256 is None
    assert store.claim(sid, token="t9", now=T0 + timedelta(hours=1), lease=LEASE) is None


def test_release_lets_a_retry_take_the_lease_at_once(backend: Backend) -> None:
    store, sid = backend.statements, statement_id()
    store.create_built(
        statement_id=sid, account_id=new_id("acct"), doc=document(), recipients=["a@example.org"],
        requested_by=None, now=T0,
    )  # fmt: skip
    claim = store.claim(sid, token="t1", now=T0, lease=LEASE)
    assert claim is not None
    failed_at = T0 + timedelta(seconds=10)
    store.release(claim, failed_at, "Throttling: " + "z" * 2000)
    got = store.get(sid)
    assert got is not None
    assert got.status == "sending" and got.last_error == ("Throttling: " + "z" * 2000)[:1000]
    assert store.claim(sid, token="t2", now=failed_at, lease=LEASE) is None  # strictly after the release
    retry = store.claim(sid, token="t2", now=failed_at + timedelta(microseconds=1), lease=LEASE)
    assert retry is not None and retry.statement.last_error == got.last_error


def test_save_numbers_freezes_them_once_and_only_under_the_lease(backend: Backend) -> None:
    store, sid, account = backend.statements, statement_id(), new_id("acct")
    first = store.claim(sid, token="t1", now=T0, lease=LEASE, new=new_run(account))
    assert first is not None
    built_at = T0 + timedelta(seconds=2)
    later = T0 + LEASE + timedelta(seconds=1)
    second = store.claim(sid, token="t2", now=later, lease=LEASE, new=new_run(account))
    assert second is not None
    assert store.save_numbers(first, document(), built_at) is False  # lost its lease
    assert store.save_numbers(second, document(7, 8), built_at) is True
    assert store.save_numbers(second, document(9, 10), built_at) is False  # frozen once, even for the holder
    got = store.get(sid)
    assert got is not None
    assert got.numbers == document(7, 8) and got.built_at == built_at and got.status == "sending"
    assert (got.currency, got.opening_balance_micros, got.closing_balance_micros) == ("EUR", 7, 8)
    # A later claim (after a crash) finds the frozen numbers.
    third = store.claim(sid, token="t3", now=later + LEASE + timedelta(seconds=1), lease=LEASE, new=new_run(account))
    assert third is not None and third.statement.numbers == document(7, 8)
    (facts,) = [f for f in store.built_of(account)]
    assert facts.seal == document_seal(backend.key, document(7, 8))


def test_built_of_and_all_built_read_the_statements_with_numbers(backend: Backend) -> None:
    store, account, other = backend.statements, new_id("acct"), new_id("acct")
    on_demand, scheduled, unbuilt, elsewhere = statement_id(), statement_id(), statement_id(), statement_id()
    store.create_built(
        statement_id=on_demand, account_id=account, doc=document(1, 2), recipients=["a@example.org"],
        requested_by=None, now=T0,
    )  # fmt: skip
    claim = store.claim(scheduled, token="t", now=T0, lease=LEASE, new=new_run(account))
    assert claim is not None and store.save_numbers(claim, document(3, 4), T0)
    assert store.claim(unbuilt, token="t", now=T0, lease=LEASE, new=new_run(account)) is not None
    store.create_built(
        statement_id=elsewhere, account_id=other, doc=document(5, 6), recipients=["a@example.org"],
        requested_by=None, now=T0,
    )  # fmt: skip

    mine = sorted(store.built_of(account), key=lambda f: f.statement_id)
    expected = sorted([(on_demand, document(1, 2)), (scheduled, document(3, 4))])
    assert [(f.statement_id, f.doc) for f in mine] == expected
    for facts in mine:
        assert facts.doc is not None and facts.account_id == account
        assert facts.seal == document_seal(backend.key, facts.doc)
        assert (facts.opening_column, facts.closing_column) == (
            facts.doc["opening_balance_micros"], facts.doc["closing_balance_micros"],
        )  # fmt: skip
    assert store.built_of(new_id("nobody")) == []

    ours = {on_demand, scheduled, unbuilt, elsewhere}
    every = {f.statement_id: f for f in store.all_built() if f.statement_id in ours}
    assert set(every) == {on_demand, scheduled, elsewhere}
    assert every[elsewhere].account_id == other and every[elsewhere].doc == document(5, 6)
    assert every[on_demand] == next(f for f in mine if f.statement_id == on_demand)


def test_seal_numbers_seals_only_what_has_no_seal(backend: Backend) -> None:
    store, sid, account = backend.statements, statement_id(), new_id("acct")
    built = statement_id()
    store.create_built(
        statement_id=built, account_id=account, doc=document(), recipients=["a@example.org"],
        requested_by=None, now=T0,
    )  # fmt: skip
    with pytest.raises(UpdateError) as refused:
        store.seal_numbers(built, document(1, 1))
    assert conditional(refused.value)
    (facts,) = store.built_of(account)
    assert facts.seal == document_seal(backend.key, document())

    claim = store.claim(sid, token="t", now=T0, lease=LEASE, new=new_run(account))
    assert claim is not None
    store.seal_numbers(sid, document(2, 2))  # no seal yet: taken
    with pytest.raises(UpdateError) as again:
        store.seal_numbers(sid, document(3, 3))
    assert conditional(again.value)


def test_page_lists_an_account_newest_first_and_resumes(backend: Backend) -> None:
    store, account = backend.statements, new_id("acct")
    made: list[tuple[datetime, str]] = []
    for i, minutes in enumerate([0, 5, 5, 10, 3]):  # two created in the same instant
        at, sid = T0 + timedelta(minutes=minutes), statement_id()
        if i % 2:
            assert store.claim(sid, token="t", now=at, lease=LEASE, new=new_run(account)) is not None
        else:
            store.create_built(
                statement_id=sid, account_id=account, doc=document(), recipients=["a@example.org"],
                requested_by="u", now=at,
            )  # fmt: skip
        made.append((at, sid))
    store.create_built(
        statement_id=statement_id(), account_id=new_id("other"), doc=document(), recipients=["a@example.org"],
        requested_by=None, now=T0 + timedelta(minutes=7),
    )  # fmt: skip
    expected = [sid for _, sid in sorted(made, key=lambda m: (format_instant(m[0]), m[1]), reverse=True)]

    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = store.page(account, 2, after)
        pages += 1
        assert len(page.items) <= 2
        for row in page.items:
            assert row.account_id == account
            assert row.numbers is None and row.pdf_sha256 is None and row.requested_by is None  # list rows
        seen += [row.statement_id for row in page.items]
        if page.last_key is None:
            break
        after = page.last_key
    assert seen == expected and pages == 3

    # A last page that is exactly full says so: no key.
    four = store.page(account, 5, None)
    assert [r.statement_id for r in four.items] == expected and four.last_key is None
    first = store.page(account, 4, None)
    assert len(first.items) == 4 and first.last_key is not None
    rest = store.page(account, 4, first.last_key)
    assert [r.statement_id for r in rest.items] == expected[4:] and rest.last_key is None
    assert store.page(new_id("nobody"), 3, None).items == []


def test_list_rows_carry_the_summary_columns(backend: Backend) -> None:
    store, sid, account = backend.statements, statement_id(), new_id("acct")
    store.create_built(
        statement_id=sid, account_id=account, doc=document(), recipients=["a@example.org"],
        requested_by="u", now=T0,
    )  # fmt: skip
    claim = store.claim(sid, token="t", now=T0, lease=LEASE)
    assert claim is not None and store.finish(claim, "sent", T0, ses_message_id="m-1", pdf_sha256="cd" * 32)
    (row,) = store.page(account, 10, None).items
    full = store.get(sid)
    assert full is not None
    assert row == replace(full, numbers=None, pdf_sha256=None, requested_by=None)


# -- schedules -------------------------------------------------------------------------------


def put(
    store: ScheduleStore,
    account_id: str,
    cadence: Cadence,
    *,
    enabled: bool = True,
    next_run_at: datetime | None = T0,
    now: datetime = T0 - timedelta(days=1),
    recipients: tuple[str, ...] = ("ops@example.org",),
    updated_by: str | None = "admin-1",
) -> Schedule:
    return store.put(
        account_id=account_id,
        cadence=cadence,
        recipients=list(recipients),
        enabled=enabled,
        time_zone="Europe/Berlin",
        next_run_at=next_run_at,
        now=now,
        updated_by=updated_by,
    )


MONTHLY = Cadence(Frequency.MONTHLY, None, 1, 6)


def test_a_missing_schedule_is_none(backend: Backend) -> None:
    assert backend.schedules.get(new_id("acct")) is None


@pytest.mark.parametrize(
    "cadence",
    [
        Cadence(Frequency.DAILY, hour=0),
        Cadence(Frequency.WEEKLY, 6, None, 23),
        Cadence(Frequency.MONTHLY, None, LAST_DAY, 7),
        Cadence(Frequency.MONTHLY, None, 28),
        Cadence(Frequency.QUARTERLY),
        Cadence(Frequency.YEARLY, hour=12),
    ],
)
def test_put_stores_the_schedule_as_read_back(backend: Backend, cadence: Cadence) -> None:
    account = new_id("acct")
    saved = put(backend.schedules, account, cadence, recipients=("a@example.org", "b@example.org"))
    assert saved.cadence == cadence and saved.account_id == account
    assert saved.recipients == ("a@example.org", "b@example.org") and saved.enabled is True
    assert (saved.time_zone, saved.revision, saved.next_run_at, saved.last_run_at) == (
        "Europe/Berlin", 1, format_instant(T0), None,
    )  # fmt: skip
    assert saved.created_at == saved.updated_at == T0 - timedelta(days=1) and saved.updated_by == "admin-1"
    assert backend.schedules.get(account) == saved


def test_put_again_replaces_it_and_counts_the_revision(backend: Backend) -> None:
    store, account = backend.schedules, new_id("acct")
    first = put(store, account, Cadence(Frequency.WEEKLY, 2))
    assert store.advance(first, ran=T0, next_run_at=T0 + timedelta(days=7))
    edited_at = T0 + timedelta(hours=1)
    off = put(store, account, MONTHLY, enabled=False, next_run_at=None, now=edited_at, updated_by=None)
    assert off.revision == 2 and off.enabled is False and off.next_run_at is None
    assert off.cadence == MONTHLY and off.created_at == first.created_at and off.updated_at == edited_at
    assert off.updated_by is None and off.last_run_at == format_instant(T0)  # a put leaves the last run
    assert store.get(account) == off
    # Enabled but without a next run: not in the due index either.
    no_run = put(store, account, MONTHLY, enabled=True, next_run_at=None, now=edited_at)
    assert no_run.revision == 3 and no_run.next_run_at is None
    assert account not in {s.account_id for s in store.due(T0 + timedelta(days=400))}


def test_due_holds_enabled_schedules_whose_run_has_come(backend: Backend) -> None:
    store = backend.schedules
    at = {new_id("due"): T0 - timedelta(minutes=m) for m in (0, 1, 30, 60 * 24, 3, 90)}
    for account, run in at.items():
        put(store, account, MONTHLY, next_run_at=run)
    future, disabled = new_id("later"), new_id("off")
    put(store, future, MONTHLY, next_run_at=T0 + timedelta(microseconds=1))
    put(store, disabled, MONTHLY, enabled=False, next_run_at=T0 - timedelta(days=1))
    ours = set(at) | {future, disabled}
    due = [s for s in store.due(T0) if s.account_id in ours]
    assert {s.account_id for s in due} == set(at)  # the run at exactly T0 included
    # Shard by shard, earliest first within a shard.
    assert [s.account_id for s in due] == sorted(at, key=lambda a: (int(due_shard(a)), format_instant(at[a])))
    assert all(0 <= int(due_shard(a)) < DUE_SHARDS for a in at)
    assert all(s == store.get(s.account_id) for s in due)


def test_advance_moves_the_run_on_only_from_what_was_read(backend: Backend) -> None:
    store, account = backend.schedules, new_id("acct")
    read = put(store, account, MONTHLY)
    nxt = T0 + timedelta(days=31)
    assert store.advance(read, ran=T0, next_run_at=nxt) is True
    moved = store.get(account)
    assert moved is not None
    assert (moved.next_run_at, moved.last_run_at, moved.revision) == (format_instant(nxt), format_instant(T0), 1)
    assert account not in {s.account_id for s in store.due(T0 + timedelta(days=1))}
    assert account in {s.account_id for s in store.due(nxt)}
    # The same read again (another scheduler got there first): refused, nothing moves.
    assert store.advance(read, ran=T0, next_run_at=nxt + timedelta(days=1)) is False
    assert store.get(account) == moved

    # Moved on without a run (held back): last_run_at stays.
    further = nxt + timedelta(days=30)
    assert store.advance(moved, ran=None, next_run_at=further) is True
    after = store.get(account)
    assert after is not None and after.next_run_at == format_instant(further)
    assert after.last_run_at == format_instant(T0)


def test_advance_after_an_edit_is_refused(backend: Backend) -> None:
    store, account = backend.schedules, new_id("acct")
    read = put(store, account, MONTHLY, next_run_at=T0)
    edited = put(store, account, MONTHLY, next_run_at=T0, now=T0)  # same next run, new revision
    assert edited.revision == 2
    assert store.advance(read, ran=T0, next_run_at=T0 + timedelta(days=31)) is False
    assert store.get(account) == edited
    put(store, account, MONTHLY, enabled=False, next_run_at=None, now=T0)
    assert store.advance(edited, ran=T0, next_run_at=T0 + timedelta(days=31)) is False
    ghost = Schedule(
        new_id("gone"), MONTHLY, (), True, "UTC", 1, format_instant(T0), None, T0, T0, None
    )  # never stored
    assert store.advance(ghost, ran=None, next_run_at=T0 + timedelta(days=1)) is False
    assert store.get(ghost.account_id) is None
