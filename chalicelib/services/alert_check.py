"""Usage alerts decided where the value is known: in the ledger transaction that changes it.

The ledger writer charges one billing account's events at a time (services/usage.py);
`GroupAlerts` is what it asks, before each transaction, which alerts that transaction
makes fire. The value of a period is read from the usage rollups the ledger keeps, and
the firing is written in the very transaction that moves the value across the
threshold, on the condition that it was never written:

- An account's value (alerts with scope `account`, and `each_account` for each
  sub-account) is written only by transactions of the account's billing account, which
  follow one another on the balance head's sequence number: rollups read after the
  head are exact when the transaction commits, and stay exact as the writer adds what
  it commits itself. A head that moved sends the writer back to read both again.
- An agency's total (scope `agency`) is also written by the balances of its sub-accounts
  on their own billing: those transactions move the agency's guard (tables/alert_guards.py)
  from the version read before the rollups, so two cannot both act on the same total.

Reads cost a bounded number of requests per batch, however big the agency: an
account's counters are point reads (100 a request); an agency's (its total, or many
sub-accounts at once) one query per rollup partition and shard of the periods touched
(rollups_repo.of_scope). Nothing is read unless the transaction changes a watched value.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from ..domain.accounts import Account
from ..domain.alerts import (
    AlertScope,
    Firing,
    Measure,
    PeriodCounters,
    Watch,
    Window,
    crossed,
    window_of,
    windows_of_key,
)
from ..domain.ledger import MAX_TRANSACTION_ITEMS, PricedEvent
from ..domain.reports import BucketRange
from ..domain.rollups import DAY, MONTH, RollupKey, RollupTotals
from ..observability import get_logger
from .stores import stores

if TYPE_CHECKING:
    from ..adapters.alerts_repo import AlertWrite, CounterKey, FiringFacts
    from ..adapters.ledger_repo import CommitConflict
    from ..domain.posting import Posting

# Items a transaction keeps free for firings (more than fit split the chunk).
FIRING_ROOM = 3
# Above this many point reads for one agency's accounts, one scoped read is cheaper.
MAX_POINT_KEYS_PER_SCOPE = 100


@dataclass(frozen=True)
class Watched:
    """A watch, whose it is, and the subject its value is of."""

    owner: Account
    watch: Watch
    subject_id: str  # the account, or the agency for its total
    scope: str  # where the subject's rollups are kept (an agency, or the account itself)

    @property
    def key(self) -> tuple[str, str]:
        return (self.watch.alert_id, self.subject_id)


@dataclass
class Prepared:
    """What one transaction adds for the alerts: items, and the firings among them."""

    writes: list[AlertWrite] = field(default_factory=list)  # guards moved first, then firings
    firings: list[Firing] = field(default_factory=list)
    guards: list[str] = field(default_factory=list)  # agencies whose guard moves on
    overflow: list[Firing] = field(default_factory=list)  # firings beyond a one-event transaction's room
    too_big: bool = False

    def __len__(self) -> int:
        return len(self.writes)


class GroupAlerts:
    """The alerts one billing account's events can set off, for the writer of that group."""

    def __init__(self, watched_by_account: Mapping[str, list[Watched]], accounts: Mapping[str, Account]) -> None:
        self._watched = watched_by_account  # event account -> what its usage moves
        self._accounts = accounts
        self._kinds = sorted({w.watch.period for ws in watched_by_account.values() for w in ws})
        self._counters: PeriodCounters | None = None  # None: to be read
        self._members: dict[str, set[str]] = defaultdict(set)  # agency -> accounts whose rollups it keeps
        self._guards: dict[str, int] = {}
        self._fired: set[tuple[str, str]] = set()  # (alert id, firing id) known to be written
        self._currency_of: dict[str, str] = {a.account_id: a.currency for a in accounts.values()}
        self._plan: ReadPlan | None = None

    @property
    def reserved_items(self) -> int:
        """Items each transaction keeps free: the guards it may move, and a few firings."""
        agencies = {w.subject_id for ws in self._watched.values() for w in ws if w.watch.scope is AlertScope.AGENCY}
        return len(agencies) + FIRING_ROOM

    def plan_reads(self, events: Sequence[PricedEvent]) -> None:
        """What to read before the first transaction: every period any of the group's events touches."""
        self._plan = read_plan(self._watched, self._accounts, events)

    # -- before a transaction ------------------------------------------------------------------
    def prepare(self, posting: Posting, now: datetime) -> Prepared:
        from ..adapters.alerts_repo import FiringWrite, GuardMove

        touched = self._touched(posting.rollups)
        prepared = Prepared()
        if not touched:
            return prepared
        if self._counters is None:
            self._read()
        assert self._counters is not None
        delta = PeriodCounters()
        delta.add_all(posting.rollups, self._kinds)
        for account_id in {k.account_id for k in posting.rollups}:
            account = self._accounts.get(account_id)
            if account is not None:
                self._members[account.agency_scope or account_id].add(account_id)
        guards: set[str] = set()
        for (_, _, window), watched in sorted(touched.items(), key=lambda kv: kv[0]):
            accounts = self._subject_accounts(watched)
            watch = watched.watch
            before = self._counters.value(accounts, window, watch.category, watch.measure)
            after = before + delta.value(accounts, window, watch.category, watch.measure)
            if watch.scope is AlertScope.AGENCY and after != before:
                guards.add(watched.subject_id)
            if not crossed(before, after, watch.threshold):
                continue
            firing = Firing(watched.owner.account_id, watch, watched.subject_id, window, after)
            if (watch.alert_id, firing.firing_id) in self._fired:
                continue
            prepared.firings.append(firing)
        prepared.guards = sorted(guards)
        prepared.writes = [GuardMove(g, self._guards.get(g, 0)) for g in prepared.guards]
        room = MAX_TRANSACTION_ITEMS - items_of(posting) - len(prepared.writes)
        if len(prepared.firings) > room:
            if len(posting.plan.entries) > 1:
                prepared.too_big = True
                return prepared
            prepared.overflow = prepared.firings[room:]
            prepared.firings = prepared.firings[:room]
        prepared.writes += [FiringWrite(f, self._facts(f), now) for f in prepared.firings]
        return prepared

    # -- after it ------------------------------------------------------------------------------
    def committed(self, posting: Posting, prepared: Prepared, now: datetime) -> None:
        """The transaction is written: count what it added, and hand its firings to the deliveries."""
        if self._counters is not None and self._touched(posting.rollups):
            self._counters.add_all(posting.rollups, self._kinds)
        for guard in prepared.guards:
            self._guards[guard] = self._guards.get(guard, 0) + 1
        for firing in prepared.firings:
            self._fired.add((firing.watch.alert_id, firing.firing_id))
        if prepared.overflow:
            self._write_overflow(prepared.overflow, now)
        fired = prepared.firings + prepared.overflow
        if fired:
            from .notice_dispatch import dispatch_firings

            dispatch_firings(fired)

    def conflict(self, conflict: CommitConflict, prepared: Prepared | None) -> None:
        """The transaction was refused: learn which firings exist already; read again if anything moved."""
        guard_count = len(prepared.guards) if prepared else 0
        for position in conflict.extra_failed:
            if prepared is not None and position >= guard_count:
                firing = prepared.firings[position - guard_count]
                self._fired.add((firing.watch.alert_id, firing.firing_id))
        guard_moved = any(p < guard_count for p in conflict.extra_failed)
        if conflict.balance_moved or conflict.transient or guard_moved:
            self._counters = None

    # -- reading --------------------------------------------------------------------------------
    def _read(self) -> None:
        from ..adapters.concurrency import run_all

        plan = self._plan or ReadPlan()
        # The guards first: a total read after its guard cannot miss a transaction that moved it.
        self._guards = stores().alert_counters.read_guards(plan.guards) if plan.guards else {}
        repository = stores().rollups
        scopes = sorted(plan.scoped)
        calls: list[Callable[[], Any]] = [partial(repository.of_scope, scope, plan.scoped[scope]) for scope in scopes]
        if plan.points:
            calls.append(partial(stores().alert_counters.read_counters, plan.points))
        # An agency's cost is summed in its own currency: its clients' currencies, read beside the totals
        # (kept for a while: a client's currency is fixed once it has entries).
        costed = [agency for agency in sorted(plan.costed) if not _fresh_currencies(agency)]
        calls += [partial(stores().accounts.sub_accounts, agency) for agency in costed]
        results = run_all(calls)
        found: dict[RollupKey, RollupTotals] = {}
        for i, part in enumerate(results[: len(results) - len(costed)]):
            found.update(part)
            if i < len(scopes):  # everything a scoped read returns is kept by that agency
                self._members[scopes[i]].update(k.account_id for k in part)
        for agency, subs in zip(costed, results[len(results) - len(costed) :], strict=True):
            _remember_currencies(agency, subs)
        for agency in plan.costed:
            known = _agency_currencies[agency][1]
            if self._members[agency] - set(known) - set(self._currency_of):  # a client newer than what was read
                _remember_currencies(agency, stores().accounts.sub_accounts(agency))
            self._currency_of.update(_agency_currencies[agency][1])
        counters = PeriodCounters()
        counters.add_all(found, self._kinds)
        self._counters = counters

    def _subject_accounts(self, watched: Watched) -> Iterable[str]:
        if watched.watch.scope is not AlertScope.AGENCY:
            return (watched.subject_id,)
        members = self._members[watched.subject_id]
        if watched.watch.measure is not Measure.COST:
            return members
        # Money of other currencies is never added to the agency's: only accounts billed in its currency.
        currency = watched.owner.currency
        return [a for a in members if self._currency_of.get(a, currency) == currency]

    def _touched(self, rollups: Mapping[RollupKey, RollupTotals]) -> dict[tuple[str, str, Window], Watched]:
        """Every (watch, subject, window) whose value these counters change."""
        touched: dict[tuple[str, str, Window], Watched] = {}
        for key in rollups:
            if not key.category.is_usage:
                continue
            for watched in self._watched.get(key.account_id, ()):
                window = windows_of_key(watched.watch.period, key)
                if window is not None:
                    touched[(*watched.key, window)] = watched
        return touched

    def _facts(self, firing: Firing) -> FiringFacts:
        from ..adapters.alerts_repo import FiringFacts

        who = self._accounts.get(firing.subject_id) or self._accounts.get(firing.owner_id)
        return FiringFacts(currency=who.currency if who else "USD", time_zone=who.time_zone if who else "UTC")

    def _write_overflow(self, firings: Sequence[Firing], now: datetime) -> None:
        repo = stores().notices
        for firing in firings:
            get_logger().warning(
                "usage alert firing written after its transaction (no room in it)",
                extra={"alert_id": firing.watch.alert_id, "firing_id": firing.firing_id},
            )
            repo.record_firing(firing, self._facts(firing), now)
            self._fired.add((firing.watch.alert_id, firing.firing_id))


# Agency -> (when read, account -> currency): an agency's clients' currencies, for its cost totals.
_agency_currencies: dict[str, tuple[float, dict[str, str]]] = {}
CURRENCIES_KEPT_SECONDS = 600.0


def _fresh_currencies(agency: str) -> bool:
    cached = _agency_currencies.get(agency)
    return cached is not None and time.monotonic() - cached[0] < CURRENCIES_KEPT_SECONDS


def _remember_currencies(agency: str, accounts: Iterable[Account]) -> None:
    _agency_currencies[agency] = (time.monotonic(), {a.account_id: a.currency for a in accounts})


def items_of(posting: Posting) -> int:
    """Items the posting itself writes: entries, pages, the head, its posting day, the rollup items."""
    rollup_items = {k.item for k in posting.rollups}
    return len(posting.plan.entries) + len(posting.pages) + 1 + (1 if posting.balance_day else 0) + len(rollup_items)


# -- what to read ------------------------------------------------------------------------------------


@dataclass
class ReadPlan:
    points: set[CounterKey] = field(default_factory=set)
    scoped: dict[str, list[BucketRange]] = field(default_factory=dict)
    guards: set[str] = field(default_factory=set)
    costed: set[str] = field(default_factory=set)  # agencies with a cost total watched: their clients' currencies


def read_plan(
    watched_by_account: Mapping[str, list[Watched]], accounts: Mapping[str, Account], events: Sequence[PricedEvent]
) -> ReadPlan:
    """The reads that give the value, before the group's first transaction, of every watched
    period its events touch: point reads for a few accounts, one scoped read per agency otherwise."""
    from ..adapters.alerts_repo import CounterKey

    points_by_scope: dict[str, set[CounterKey]] = defaultdict(set)
    buckets_by_scope: dict[str, set[tuple[str, str]]] = defaultdict(set)
    guards: set[str] = set()
    costed: set[str] = set()
    for priced in events:
        account = accounts.get(priced.account_id)
        watched = watched_by_account.get(priced.account_id, ())
        if account is None or not watched or not priced.event.category.is_usage:
            continue
        local_day = priced.event.occurred_at.astimezone(account.zone).date()
        for w in watched:
            window = window_of(w.watch.period, local_day)
            buckets = window.buckets()
            if w.watch.scope is AlertScope.AGENCY:
                guards.add(w.subject_id)
                buckets_by_scope[w.scope].update(buckets)
                if w.watch.measure is Measure.COST:
                    costed.add(w.subject_id)
            else:
                points_by_scope[w.scope].update(CounterKey(w.scope, w.subject_id, p, b) for p, b in buckets)
    plan = ReadPlan(guards=guards, costed=costed)
    for scope, keys in points_by_scope.items():
        if scope in buckets_by_scope or len(keys) > MAX_POINT_KEYS_PER_SCOPE:
            buckets_by_scope[scope].update((k.period, k.bucket) for k in keys)
        else:
            plan.points |= keys
    for scope, needed in buckets_by_scope.items():
        plan.scoped[scope] = bucket_runs(needed)
    return plan


def bucket_runs(buckets: Iterable[tuple[str, str]]) -> list[BucketRange]:
    """Ranges covering the buckets, one per run of consecutive buckets (a late event's far-off
    period is a range of its own, not a stretch of every partition in between)."""
    from datetime import timedelta

    ranges: list[BucketRange] = []
    days = sorted(date.fromisoformat(b) for p, b in buckets if p == DAY)
    months = sorted({b for p, b in buckets if p == MONTH})
    start = previous = None
    for day in days:
        if previous is not None and day - previous > timedelta(days=1):
            assert start is not None
            ranges.append(BucketRange(DAY, start.isoformat(), previous.isoformat()))
            start = None
        start = start or day
        previous = day
    if start is not None and previous is not None:
        ranges.append(BucketRange(DAY, start.isoformat(), previous.isoformat()))
    run: list[str] = []
    for month in months:
        if run and _month_index(month) - _month_index(run[-1]) > 1:
            ranges.append(BucketRange(MONTH, run[0], run[-1]))
            run = []
        run.append(month)
    if run:
        ranges.append(BucketRange(MONTH, run[0], run[-1]))
    return ranges


def _month_index(bucket: str) -> int:
    return int(bucket[:4]) * 12 + int(bucket[5:7])


# -- who watches what --------------------------------------------------------------------------------


def group_alerts(accounts: Iterable[Account], known: Mapping[str, Account]) -> GroupAlerts | None:
    """The alerts the usage of `accounts` (one billing account's group) can set off; None when none."""
    watched: dict[str, list[Watched]] = {}
    involved: dict[str, Account] = {}
    for account in accounts:
        found: list[Watched] = []
        scope = account.agency_scope or account.account_id
        for watch in account.alert_watch:
            if watch.enabled and watch.scope is AlertScope.ACCOUNT:
                found.append(Watched(account, watch, account.account_id, scope))
        agency = known.get(account.agency_scope) if account.agency_scope else None
        if agency is not None:
            for watch in agency.alert_watch:
                if not watch.enabled:
                    continue
                if watch.scope is AlertScope.EACH_ACCOUNT and account.agency_id == agency.account_id:
                    found.append(Watched(agency, watch, account.account_id, scope))
                elif watch.scope is AlertScope.AGENCY:
                    found.append(Watched(agency, watch, agency.account_id, agency.account_id))
            involved[agency.account_id] = agency
        if found:
            watched[account.account_id] = found
            involved[account.account_id] = account
    if not watched:
        return None
    return GroupAlerts(watched, involved)


# -- outside the writer: an alert's value now ------------------------------------------------------


def current_values(owner: Account, watch: Watch, now: datetime) -> list[tuple[Account, Window, int]]:
    """Each subject of the alert, the period it is in now (its local calendar), and that period's value."""
    from ..adapters.alerts_repo import CounterKey

    def window_for(account: Account) -> Window:
        return window_of(watch.period, now.astimezone(account.zone).date())

    if watch.scope is AlertScope.ACCOUNT:
        window = window_for(owner)
        scope = owner.agency_scope or owner.account_id
        found = stores().alert_counters.read_counters(
            CounterKey(scope, owner.account_id, p, b) for p, b in window.buckets()
        )
        counters = PeriodCounters()
        counters.add_all(found, (watch.period,))
        return [(owner, window, counters.value((owner.account_id,), window, watch.category, watch.measure))]
    subs = [a for a in stores().accounts.sub_accounts(owner.account_id) if a.account_id != owner.account_id]
    currency_of = {a.account_id: a.currency for a in (owner, *subs)}
    if watch.scope is AlertScope.EACH_ACCOUNT:
        windows = {a.account_id: window_for(a) for a in subs}
    else:
        windows = {owner.account_id: window_for(owner)}
    buckets = {bucket for w in windows.values() for bucket in w.buckets()}
    found = stores().rollups.of_scope(owner.account_id, bucket_runs(buckets)) if buckets else {}
    counters = PeriodCounters()
    counters.add_all(found, (watch.period,))
    if watch.scope is AlertScope.EACH_ACCOUNT:
        return [
            (
                a,
                windows[a.account_id],
                counters.value((a.account_id,), windows[a.account_id], watch.category, watch.measure),
            )
            for a in subs
        ]
    members = {k.account_id for k in found} | {owner.account_id}
    if watch.measure is Measure.COST:
        members = {a for a in members if currency_of.get(a, owner.currency) == owner.currency}
    window = windows[owner.account_id]
    return [(owner, window, counters.value(members, window, watch.category, watch.measure))]
