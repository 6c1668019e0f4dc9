"""The ledger's fakes (tests/fakes/ledger.py, tests/fakes/accounts.py) against DynamoDB Local.

Every test runs twice, on the fakes and on the adapters over DynamoDB Local, with the same
assertions: what the services rely on (the conditions of the ledger transaction, what a refused
one leaves behind, ordering and cursors of the reads) cannot differ between the two.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pynamodb.exceptions import UpdateError

from chalicelib.adapters.alerts_repo import AlertWrite, CounterKey, FiringFacts, FiringWrite, GuardMove, firing_record
from chalicelib.adapters.ledger_repo import CommitConflict, entry_row_key
from chalicelib.adapters.notices_repo import Notice, _notice
from chalicelib.adapters.rollups_repo import ScopedAccount
from chalicelib.adapters.storage_errors import error_code
from chalicelib.adapters.tables.notices import NoticeRecord
from chalicelib.domain.accounts import Account, AccountKind, Billing
from chalicelib.domain.alerts import AlertPeriod, AlertScope, Firing, Measure, Watch, Window
from chalicelib.domain.balance_days import BalanceDay
from chalicelib.domain.categories import Category
from chalicelib.domain.events import UsageEvent
from chalicelib.domain.ledger import BalanceState, LedgerEntry, PricedEvent, plan_entries
from chalicelib.domain.payments import BillingSettings, CardOnFile, RechargeState
from chalicelib.domain.posting import Posting, posting_for
from chalicelib.domain.pricing import Rate
from chalicelib.domain.reports import BucketRange
from chalicelib.domain.rollups import DAY, MONTH, RollupKey, RollupTotals
from chalicelib.services.ports import AccountStore, AlertCounterStore, BillingStore, LedgerStore, RollupStore
from tests.fakes.accounts import FakeAccounts
from tests.fakes.ledger import FakeAlertCounters, FakeBilling, FakeLedger, FakeRollups, LedgerTables

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
ZONE = ZoneInfo("America/New_York")
KEY = b"contract-ledger-key"


class FiringNoticesInMemory:
    """The part of the notices table a ledger transaction writes (firings), for the fake side.

    Kept as the table keeps it (the record `firing_record` builds, serialized) and read back
    through the adapter's mapping."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def get(self, owner: str, notice_id: str) -> Notice | None:
        raw = self.items.get((owner, notice_id))
        return None if raw is None else _notice(NoticeRecord.from_raw_data(copy.deepcopy(raw)))

    def record_firing(self, firing: Firing, facts: FiringFacts, now: datetime) -> bool:
        record = firing_record(firing, facts, now)
        if (record.owner, record.notice_id) in self.items:
            return False
        self.items[(record.owner, record.notice_id)] = record.serialize(null_check=False)
        return True


@dataclass
class Side:
    accounts: AccountStore
    ledger: LedgerStore
    billing: BillingStore
    rollups: RollupStore
    counters: AlertCounterStore
    notices: Any  # get(owner, notice_id)


@pytest.fixture(params=["fake", "dynamodb"])
def side(request: pytest.FixtureRequest) -> Side:
    if request.param == "fake":
        tables = LedgerTables()
        notices = FiringNoticesInMemory()
        return Side(
            FakeAccounts(),
            FakeLedger(tables, notices=notices),
            FakeBilling(tables),
            FakeRollups(tables),
            FakeAlertCounters(tables),
            notices,
        )
    request.getfixturevalue("aws")
    from chalicelib.adapters.notices_repo import NoticeRepository
    from chalicelib.services.stores import DynamoStores

    stores = DynamoStores()
    return Side(
        stores.accounts, stores.ledger, stores.billing, stores.rollups, stores.alert_counters, NoticeRepository()
    )


def uid(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def account(account_id: str, agency_id: str | None = None, **changes: Any) -> Account:
    return replace(
        Account(
            account_id=account_id,
            name=account_id,
            kind=AccountKind.ACCOUNT,
            time_zone="America/New_York",
            currency="USD",
            agency_id=agency_id,
            billing=Billing.OWN,
            emails=("ops@example.com",),
            created_at=NOW,
            updated_at=NOW,
        ),
        **changes,
    )


def priced(event_id: str, account_id: str, amount: int = -1_000, agency_id: str | None = None) -> PricedEvent:
    event = UsageEvent(
        event_id=event_id,
        account_id=account_id,
        category=Category.CALL_MINUTES,
        quantity=Decimal("2.5"),
        occurred_at=NOW - timedelta(hours=2),
        description="calls",
        metadata={"line": "a", "n": 3},
    )
    return PricedEvent(event, account_id, agency_id, "minute", 400, amount)


def posting(
    state: BalanceState, events: Sequence[PricedEvent], at: datetime = NOW, scope: str | None = None
) -> Posting:
    plan = plan_entries(state, events, at, KEY)
    accounts = {p.account_id for p in events} | {state.billing_account_id}
    return posting_for(
        plan,
        currency="USD",
        zones={a: ZONE for a in accounts},
        billing_zone=ZONE,
        scopes={a: scope or a for a in accounts},
        event_digests={p.event.event_id: f"digest-{p.event.event_id}" for p in events},
    )


def charge(side: Side, billing_id: str, *events: PricedEvent, at: datetime = NOW, **kw: Any) -> Posting:
    made = posting(side.ledger.balance(billing_id), events, at, kw.pop("scope", None))
    side.ledger.commit(made, **kw)
    return made


# -- accounts -----------------------------------------------------------------------------------------


def test_an_account_reads_back_as_saved_with_its_rates(side: Side) -> None:
    acme = uid("acme")
    assert side.accounts.get(acme) is None
    saved = account(acme, rate_overrides={"USD": {Category.CALL_MINUTES: Rate(Category.CALL_MINUTES, "minute", 123)}})
    side.accounts.save(saved)
    assert side.accounts.get(acme) == replace(saved, rate_overrides={})  # save leaves the rates alone
    side.accounts.save_rates(saved)
    assert side.accounts.get(acme) == saved
    later = replace(saved, name="Acme 2", created_at=NOW + timedelta(days=1), rate_overrides={})
    side.accounts.save(later)
    assert side.accounts.get(acme) == replace(later, created_at=NOW, rate_overrides=saved.rate_overrides)


def test_rates_of_an_account_that_does_not_exist_are_refused(side: Side) -> None:
    with pytest.raises(UpdateError) as refused:
        side.accounts.save_rates(account(uid("ghost")))
    assert error_code(refused.value) == "ConditionalCheckFailedException"


def test_sub_accounts_by_id_and_many_at_once(side: Side) -> None:
    agency = uid("agency")
    side.accounts.save(account(agency, kind=AccountKind.AGENCY))
    assert not side.accounts.has_sub_accounts(agency)
    subs = [f"{agency}-{n}" for n in ("c", "a", "b")]
    for sub in subs:
        side.accounts.save(account(sub, agency))
    assert [a.account_id for a in side.accounts.sub_accounts(agency)] == sorted(subs)
    assert side.accounts.has_sub_accounts(agency)
    found = side.accounts.get_many([*subs, uid("missing"), subs[0]])
    assert sorted(found) == sorted(subs)
    assert {a.account_id for a in side.accounts.all_accounts()} >= {agency, *subs}


# -- the ledger transaction -------------------------------------------------------------------------------


def test_a_commit_writes_entries_head_pages_rollups_and_day(side: Side) -> None:
    acme = uid("acme")
    made = charge(side, acme, priced(uid("e"), acme), priced(uid("e"), acme, -500))
    head = side.ledger.balance(acme)
    assert (head.exists, head.seq, head.balance_micros, head.seal) == (True, 2, -1_500, made.plan.after.seal)
    assert head.last_posted_at == NOW
    ids = [e.event_id for e in made.plan.entries]
    charged = side.ledger.charged([*ids, uid("never")])
    assert {i: (e, d) for i, (e, d) in charged.items()} == {
        e.event_id: (e, f"digest-{e.event_id}") for e in made.plan.entries
    }
    assert side.ledger.entries(ids) == {e.event_id: e for e in made.plan.entries}
    assert list(side.ledger.chain(acme)) == list(made.plan.entries)
    assert side.ledger.has_entries(acme)
    assert side.ledger.page_keys("account", acme) == {(acme, acme, 1)}
    local_day = (NOW - timedelta(hours=2)).astimezone(ZONE).date()
    rollups = side.rollups.of_account(
        ScopedAccount(acme, acme),
        [BucketRange(DAY, local_day.isoformat(), local_day.isoformat()), BucketRange(MONTH, "2026-03", "2026-03")],
    )
    totals = RollupTotals(2, 5_000_000, -1_500)
    assert rollups == {
        RollupKey(acme, DAY, local_day.isoformat(), Category.CALL_MINUTES): totals,
        RollupKey(acme, MONTH, "2026-03", Category.CALL_MINUTES): totals,
    }
    [day] = side.rollups.balance_days_of(acme, acme, [NOW.astimezone(ZONE).date(), date(2026, 1, 1)])
    assert day == BalanceDay(acme, NOW.astimezone(ZONE).date(), 2, -1_500, 1, 0, 2, -1_500)


def test_a_second_posting_day_transaction_adds_to_the_day(side: Side) -> None:
    acme = uid("acme")
    charge(side, acme, priced(uid("e"), acme, -100))
    charge(side, acme, priced(uid("e"), acme, -200), at=NOW + timedelta(minutes=5))
    [day] = side.rollups.balance_days_of(acme, acme, [NOW.astimezone(ZONE).date()])
    assert (day.entries, day.net_micros, day.first_seq, day.opening_micros, day.last_seq, day.closing_micros) == (
        2,
        -300,
        1,
        0,
        2,
        -300,
    )


def _snapshot(side: Side, billing_id: str, event_ids: Sequence[str]) -> tuple[object, ...]:
    local_day = (NOW - timedelta(hours=2)).astimezone(ZONE).date().isoformat()
    return (
        side.ledger.balance(billing_id),
        side.ledger.charged(event_ids),
        list(side.ledger.chain(billing_id)),
        side.rollups.of_account(ScopedAccount(billing_id, billing_id), [BucketRange(DAY, local_day, local_day)]),
        side.rollups.balance_days_of(billing_id, billing_id, [NOW.astimezone(ZONE).date()]),
    )


def test_an_event_id_charged_before_refuses_the_whole_commit(side: Side) -> None:
    acme = uid("acme")
    known = uid("e")
    charge(side, acme, priced(known, acme))
    fresh = uid("e")
    before = _snapshot(side, acme, [known, fresh])
    stale = posting(side.ledger.balance(acme), [priced(fresh, acme), priced(known, acme)])
    with pytest.raises(CommitConflict) as refused:
        side.ledger.commit(stale)
    assert refused.value.duplicate_event_ids == {known}
    assert not refused.value.balance_moved and not refused.value.transient
    assert _snapshot(side, acme, [known, fresh]) == before


def test_a_stale_head_refuses_the_whole_commit(side: Side) -> None:
    acme = uid("acme")
    start = side.ledger.balance(acme)
    charge(side, acme, priced(uid("e"), acme))
    late = uid("e")
    before = _snapshot(side, acme, [late])
    # Planned from before the first transaction: a new head where one exists now.
    with pytest.raises(CommitConflict) as new_head:
        side.ledger.commit(posting(start, [priced(late, acme)], NOW + timedelta(seconds=1)))
    assert new_head.value.balance_moved and not new_head.value.duplicate_event_ids
    # Planned from a head whose seq has moved on.
    moved = replace(side.ledger.balance(acme), seq=0)
    with pytest.raises(CommitConflict) as stale:
        side.ledger.commit(posting(moved, [priced(late, acme)], NOW + timedelta(seconds=2)))
    assert stale.value.balance_moved and not stale.value.duplicate_event_ids
    assert _snapshot(side, acme, [late]) == before


def test_a_head_that_went_missing_refuses_an_update(side: Side) -> None:
    ghost = uid("ghost")
    planned = replace(side.ledger.balance(ghost), exists=True, seq=3)
    with pytest.raises(CommitConflict) as refused:
        side.ledger.commit(posting(planned, [priced(uid("e"), ghost)]))
    assert refused.value.balance_moved
    assert not side.ledger.balance(ghost).exists


def test_a_duplicate_and_a_stale_head_are_both_reported(side: Side) -> None:
    acme = uid("acme")
    known = uid("e")
    charge(side, acme, priced(known, acme))
    with pytest.raises(CommitConflict) as refused:
        side.ledger.commit(posting(replace(side.ledger.balance(acme), seq=7), [priced(known, acme)]))
    assert refused.value.duplicate_event_ids == {known} and refused.value.balance_moved


def test_an_empty_plan_writes_nothing(side: Side) -> None:
    acme = uid("acme")
    side.ledger.commit(posting(side.ledger.balance(acme), []))
    assert not side.ledger.balance(acme).exists


def test_the_recharge_state_rides_on_the_commit_and_finish_recharge_is_conditioned(side: Side) -> None:
    acme = uid("acme")
    assert side.billing.head(acme).recharge == RechargeState()
    requested = RechargeState(in_flight_id="rc_1", requested_at=NOW, low_alert_sent=True)
    charge(side, acme, priced(uid("e"), acme), recharge=requested)
    assert side.billing.head(acme).recharge == requested
    assert side.ledger.balance(acme).billing.recharge == requested
    done = RechargeState(consecutive_declines=1, cooldown_until=NOW + timedelta(hours=1))
    assert not side.billing.finish_recharge(acme, "rc_other", done, NOW)
    assert side.billing.head(acme).recharge == requested
    assert side.billing.finish_recharge(acme, "rc_1", done, NOW)
    assert side.billing.head(acme).recharge == done
    assert not side.billing.finish_recharge(acme, "rc_1", RechargeState(), NOW)  # nothing in flight now
    assert not side.billing.finish_recharge(uid("ghost"), "rc_1", RechargeState(), NOW)


def test_settings_create_an_empty_head_and_a_change_lifts_the_pause(side: Side) -> None:
    acme = uid("acme")
    card = CardOnFile("tok_1", "visa", "4242")
    settings = BillingSettings(True, 5_000_000, 20_000_000, card, None, 1_000_000, ("a@example.com",), False)
    side.billing.save_settings(acme, "USD", settings, NOW, changed=False)
    assert side.billing.head(acme).settings == settings
    head = side.ledger.balance(acme)
    assert (head.exists, head.seq, head.balance_micros) == (True, 0, 0)
    paused = RechargeState(consecutive_declines=3, cooldown_until=NOW, paused=True, in_flight_id="rc")
    charge(side, acme, priced(uid("e"), acme), recharge=paused)  # the empty head is the chain's start
    side.billing.save_settings(acme, "USD", replace(settings, amount_micros=30_000_000), NOW, changed=False)
    assert side.billing.head(acme).recharge == paused
    side.billing.save_settings(acme, "USD", settings, NOW, changed=True)
    after = side.billing.head(acme)
    assert after.settings == settings
    assert after.recharge == replace(paused, consecutive_declines=0, cooldown_until=None, paused=False)
    assert side.ledger.balance(acme).seq == 1


# -- reading orders -----------------------------------------------------------------------------------


class OddAmounts:
    expected_share = 0.5

    def matches(self, entry: LedgerEntry) -> bool:
        return entry.amount_micros % 2 != 0


def test_logs_newest_first_in_pages_with_a_cursor(side: Side) -> None:
    acme = uid("acme")
    for n in range(6):  # six transactions of two entries, a minute apart
        charge(
            side,
            acme,
            priced(uid("e"), acme, -(2 * n + 1)),
            priced(uid("e"), acme, -(2 * n + 2)),
            at=NOW + timedelta(minutes=n),
        )
    every = side.ledger.log("account", acme, None, None, None, 100, None)
    assert [e.seq for e in every.entries] == list(range(12, 0, -1)) and every.next_key is None
    first = side.ledger.log("account", acme, None, None, None, 5, None)
    assert [e.seq for e in first.entries] == [12, 11, 10, 9, 8]
    assert first.next_key == entry_row_key(first.entries[-1])
    second = side.ledger.log("account", acme, None, None, None, 5, first.next_key)
    assert [e.seq for e in second.entries] == [7, 6, 5, 4, 3]
    last = side.ledger.log("account", acme, None, None, None, 5, second.next_key)
    assert [e.seq for e in last.entries] == [2, 1] and last.next_key is None
    exact = side.ledger.log("account", acme, None, None, None, 12, None)
    assert len(exact.entries) == 12 and exact.next_key is None
    # [start, end): the transactions of minutes 1 and 2
    window = side.ledger.log("account", acme, NOW + timedelta(minutes=1), NOW + timedelta(minutes=3), None, 100, None)
    assert [e.seq for e in window.entries] == [6, 5, 4, 3]
    odd = side.ledger.log("account", acme, None, None, OddAmounts(), 3, None)
    assert [e.amount_micros for e in odd.entries] == [-11, -9, -7]
    assert odd.next_key == entry_row_key(odd.entries[-1])
    rest = side.ledger.log("account", acme, None, None, OddAmounts(), 3, odd.next_key)
    assert [e.amount_micros for e in rest.entries] == [-5, -3, -1] and rest.next_key is None
    assert side.ledger.log("account", uid("nobody"), None, None, None, 5, None).entries == []


def test_an_agency_logs_and_chains_over_its_sub_accounts(side: Side) -> None:
    agency = uid("agency")
    sub_a, sub_b = f"{agency}-a", f"{agency}-b"
    # The agency pays for both sub-accounts: one balance, pages per account, the agency's Logs.
    charge(
        side, agency, priced(uid("e"), sub_a, agency_id=agency), priced(uid("e"), sub_b, agency_id=agency), scope=agency
    )
    charge(side, agency, priced(uid("e"), sub_b, agency_id=agency), at=NOW + timedelta(minutes=1), scope=agency)
    logs = side.ledger.log("agency", agency, None, None, None, 10, None)
    assert [(e.account_id, e.seq) for e in logs.entries] == [(sub_b, 3), (sub_b, 2), (sub_a, 1)]
    assert [e.seq for e in side.ledger.chain(agency)] == [1, 2, 3]
    assert [e.seq for e in side.ledger.entries_of_agency(agency)] == [1, 2, 3]
    assert [e.seq for e in side.ledger.entries_of_account(sub_b)] == [2, 3]
    assert side.ledger.page_keys("agency", agency) == {(sub_a, agency, 1), (sub_b, agency, 2), (sub_b, agency, 3)}
    after = entry_row_key(logs.entries[0])
    assert [e.seq for e in side.ledger.chain_after(agency, after, agency=True)] == [3]
    assert side.ledger.chain_after(agency, None, agency=False) == []  # no page of the agency's own account
    assert not side.ledger.has_entries(agency) and side.ledger.has_entries(sub_a)
    scoped = side.rollups.of_scope(agency, [BucketRange(MONTH, "2026-03", "2026-03")])
    assert {k.account_id: t.count for k, t in scoped.items()} == {sub_a: 1, sub_b: 2}
    assert side.rollups.all_of_scope(agency, date(2026, 3, 1), date(2026, 3, 31)).keys() >= scoped.keys()
    days = side.rollups.balance_days_of_scope(agency, date(2026, 3, 1), date(2026, 3, 31))
    assert [(d.billing_account_id, d.entries) for d in days] == [(agency, 3)]


def test_rebuild_writes_pages_rollups_days_and_seals(side: Side) -> None:
    acme = uid("acme")
    made = charge(side, acme, priced(uid("e"), acme))
    assert side.ledger.any_entry() and side.ledger.any_page()
    assert {e.event_id: p for e, p in side.ledger.scan_entries() if e.billing_account_id == acme} == {
        made.plan.entries[0].event_id: 1
    }
    side.ledger.put_pages(made.pages)  # written again, unchanged
    assert side.ledger.page_keys("account", acme) == {(acme, acme, 1)}
    key = RollupKey(acme, MONTH, "2026-03", Category.TEXT_MESSAGES)
    assert side.rollups.put_rollups(acme, {key: RollupTotals(4, 4_000_000, -40)}) == 1
    found = side.rollups.of_account(ScopedAccount(acme, acme), [BucketRange(MONTH, "2026-03", "2026-03")])
    assert found == {key: RollupTotals(4, 4_000_000, -40)}  # the item replaced: call minutes gone
    day = BalanceDay(acme, date(2026, 3, 1), 9, -9, 1, 0, 9, -9)
    side.rollups.put_balance_days(acme, [day])
    assert side.rollups.balance_days_of(acme, acme, [date(2026, 3, 1)]) == [day]
    with pytest.raises(UpdateError):  # the entry has a seal already
        side.ledger.seal_entries(acme, {made.plan.entries[0].event_id: "x"}, "x")
    with pytest.raises(UpdateError):  # no head to seal
        side.ledger.seal_entries(uid("ghost"), {}, "x")


# -- usage alerts in the ledger transaction -----------------------------------------------------------------


def _firing(alert_id: str, subject: str) -> Firing:
    watch = Watch(alert_id, 1, AlertScope.ACCOUNT, None, Measure.COUNT, AlertPeriod.MONTH, 2)
    return Firing(subject, watch, subject, Window(AlertPeriod.MONTH, date(2026, 3, 1), date(2026, 3, 31)), 2)


def test_guards_move_on_from_the_version_read(side: Side) -> None:
    agency = uid("agency")
    assert side.counters.read_guards([agency, agency]) == {agency: 0}
    charge(side, agency, priced(uid("e"), agency), extra=[GuardMove(agency, 0)])
    assert side.counters.read_guards([agency]) == {agency: 1}
    before = _snapshot(side, agency, [])
    with pytest.raises(CommitConflict) as refused:
        charge(side, agency, priced(uid("e"), agency), extra=[GuardMove(agency, 0)])
    assert refused.value.extra_failed == frozenset({0}) and not refused.value.balance_moved
    assert _snapshot(side, agency, []) == before
    charge(side, agency, priced(uid("e"), agency), extra=[GuardMove(agency, 1)])
    assert side.counters.read_guards([agency]) == {agency: 2}


def test_a_firing_is_written_once_with_its_transaction(side: Side) -> None:
    acme, agency = uid("acme"), uid("agency")
    firing = _firing(uid("al"), acme)
    facts = FiringFacts("USD", "America/New_York")
    record = firing_record(firing, facts, NOW)
    writes: list[AlertWrite] = [GuardMove(agency, 0), FiringWrite(firing, facts, NOW)]
    charge(side, acme, priced(uid("e"), acme), extra=writes)
    notice = side.notices.get(record.owner, record.notice_id)
    assert notice is not None and notice.event_id == firing.event_id and notice.value == 2
    guards = side.counters.read_guards([agency])
    with pytest.raises(CommitConflict) as refused:
        charge(side, acme, priced(uid("e"), acme), extra=[GuardMove(agency, 1), FiringWrite(firing, facts, NOW)])
    assert refused.value.extra_failed == frozenset({1})
    assert side.counters.read_guards([agency]) == guards  # the guard of the refused transaction did not move


def test_counters_are_the_rollups_read_by_key(side: Side) -> None:
    acme = uid("acme")
    charge(side, acme, priced(uid("e"), acme, -7))
    counters = side.counters.read_counters(
        [CounterKey(acme, acme, MONTH, "2026-03"), CounterKey(acme, acme, MONTH, "2026-02")]
    )
    assert counters == {RollupKey(acme, MONTH, "2026-03", Category.CALL_MINUTES): RollupTotals(1, 2_500_000, -7)}
