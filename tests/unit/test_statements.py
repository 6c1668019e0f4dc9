"""Statement numbers: random ledgers reconcile, totals equal the ledger's, broken chains are refused."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.balance_days import Boundary, boundary_before
from chalicelib.domain.categories import USAGE_CATEGORIES, Category
from chalicelib.domain.ledger import LedgerEntry
from chalicelib.domain.ledger_check import expected_balance_days
from chalicelib.domain.periods import local_range
from chalicelib.domain.rollups import RollupTotals
from chalicelib.domain.statement import Statement
from chalicelib.domain.statements import (
    MICROS_PER_CENT,
    AccountActivity,
    CardCharge,
    Head,
    Owner,
    StatementDoesNotReconcile,
    StatementInputs,
    allocate_cents,
    build_statement,
    check_statement_arithmetic,
    round_cents,
)
from tests.conftest import budget

ZONES = ["America/New_York", "Europe/London", "Australia/Sydney", "Asia/Kolkata", "UTC"]
CATEGORIES = [*sorted(USAGE_CATEGORIES, key=lambda c: c.value), Category.RECHARGE, Category.ADJUSTMENT]
BASE = datetime(2026, 3, 1, tzinfo=UTC)


# -- an in-memory ledger -----------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    seq: int
    account: str
    category: Category
    amount: int
    balance: int
    occurred: datetime
    posted: datetime


class Ledger:
    """Entries of one billing account in posting order, as the writer appends them."""

    def __init__(self, zone_of: dict[str, str]) -> None:
        self.zone_of = zone_of
        self.entries: list[Entry] = []

    def post(self, account: str, category: Category, amount: int, occurred: datetime, posted: datetime) -> None:
        last = self.entries[-1] if self.entries else None
        posted = max(posted, last.posted) if last else posted
        balance = (last.balance if last else 0) + amount
        self.entries.append(Entry(len(self.entries) + 1, account, category, amount, balance, occurred, posted))

    def boundary(self, day: date, zone: str) -> Boundary:
        """The balance before local `day`, as statements find it: the head less the posting days since."""
        chain = [
            LedgerEntry(
                f"le_{e.seq}",
                f"ev_{e.seq}",
                "owner",
                e.account,
                None,
                e.seq,
                e.category,
                "",
                Decimal(1),
                "item",
                None,
                e.amount,
                e.balance,
                e.occurred,
                e.posted,
                {},
            )
            for e in self.entries
        ]
        days = [d for d in expected_balance_days("owner", ZoneInfo(zone), chain) if d.day >= day]
        head = self.head()
        return boundary_before(day, head.seq, head.balance_micros, days)

    def head(self) -> Head:
        return Head(len(self.entries), self.entries[-1].balance if self.entries else 0)

    def local_day(self, e: Entry) -> date:
        return e.occurred.astimezone(ZoneInfo(self.zone_of[e.account])).date()

    def activity(self, account: str, role: str, first: date, last: date) -> AccountActivity:
        """What the daily rollups of [first, last] hold for `account` (its own local dates)."""
        totals: dict[Category, RollupTotals] = {}
        daily: dict[date, int] = defaultdict(int)
        for e in self.entries:
            if e.account != account or not first <= self.local_day(e) <= last:
                continue
            totals.setdefault(e.category, RollupTotals()).add(RollupTotals(1, 1_000_000, e.amount))
            if e.category in USAGE_CATEGORIES:
                daily[self.local_day(e)] -= e.amount
        return AccountActivity(account, account.upper(), role, self.zone_of[account], totals, dict(daily))


amounts = st.integers(min_value=1, max_value=50_000_000)
moments = st.integers(min_value=0, max_value=60 * 24 * 60)  # minutes after BASE: two months


@st.composite
def ledgers(draw: st.DrawFn) -> tuple[Ledger, str, list[str], date, date, list[CardCharge]]:
    zone = draw(st.sampled_from(ZONES))
    shared = draw(st.lists(st.sampled_from(ZONES), max_size=2))
    zone_of = {"owner": zone, **{f"sub{i}": z for i, z in enumerate(shared)}}
    ledger = Ledger(zone_of)
    rows = draw(
        st.lists(
            st.tuples(
                st.sampled_from(sorted(zone_of)),
                st.sampled_from(CATEGORIES),
                amounts,
                moments,
                # Posting delay: usually seconds, sometimes days late, sometimes early.
                st.one_of(st.integers(0, 3), st.integers(-120, 4 * 24 * 60)),
                st.booleans(),
            ),
            max_size=40,
        )
    )
    events = []
    for account, category, amount, minute, delay, negative in rows:
        occurred = BASE + timedelta(minutes=minute, seconds=minute % 59)
        if category in USAGE_CATEGORIES:
            signed = -amount
        elif category is Category.RECHARGE:
            signed = amount
        else:
            signed = -amount if negative else amount
        events.append((occurred + timedelta(minutes=delay), account, category, signed, occurred))
    for posted, account, category, signed, occurred in sorted(events, key=lambda e: e[0]):
        ledger.post(account, category, signed, occurred, posted)
    first = BASE.date() + timedelta(days=draw(st.integers(0, 40)))
    last = first + timedelta(days=draw(st.integers(0, 30)))
    charges = [
        CardCharge(
            f"pay_{i}",
            BASE + timedelta(minutes=draw(moments)),
            "auto_recharge",
            draw(st.sampled_from(["succeeded", "failed", "refunded"])),
            draw(st.integers(1, 5000)) * MICROS_PER_CENT,
            "visa",
            "4242",
        )
        for i in range(draw(st.integers(0, 4)))
    ]
    return ledger, zone, sorted(zone_of)[1:] if len(zone_of) > 1 else [], first, last, charges


def inputs_for(
    ledger: Ledger, zone: str, shared: list[str], first: date, last: date, charges: list[CardCharge]
) -> StatementInputs:
    period = local_range(first.isoformat(), last.isoformat(), zone)
    assert period.start is not None and period.end is not None
    built = period.end + timedelta(days=30)
    kind = "agency" if shared else "account"
    return StatementInputs(
        statement_id="st_" + "0" * 24,
        owner=Owner("owner", "Owner <b>", kind, "own", "owner", zone, "USD"),
        first=first,
        last=last,
        start=period.start,
        end=period.end,
        closing_at=period.end,
        built_at=built,
        opening=ledger.boundary(first, zone),
        closing=ledger.boundary(last + timedelta(days=1), zone),
        head=ledger.head(),
        activity=[
            ledger.activity("owner", kind, first, last),
            *(ledger.activity(s, "shared", first, last) for s in shared),
        ],
        card_charges=[c for c in charges if period.start <= c.created_at < period.end],
    )


@settings(max_examples=budget(quick=100, long=300), deadline=None)
@given(ledgers())
def test_every_statement_reconciles_and_its_totals_are_the_ledgers(case) -> None:
    ledger, zone, shared, first, last, charges = case
    inputs = inputs_for(ledger, zone, shared, first, last, charges)
    doc = build_statement(inputs)
    check_statement_arithmetic(doc)
    # Stored and read back (as JSON text), it is the same value.
    assert Statement.from_json(json.loads(json.dumps(doc.to_json()))) == doc

    start, end = inputs.start, inputs.end
    posted_in = [e for e in ledger.entries if start <= e.posted < end]
    occurred_in = [e for e in ledger.entries if first <= ledger.local_day(e) <= last]

    # Balances: the ledger's balance after the last entry posted before each boundary.
    before_start = [e for e in ledger.entries if e.posted < start]
    before_end = [e for e in ledger.entries if e.posted < end]
    assert doc.opening_balance_micros == (before_start[-1].balance if before_start else 0)
    assert doc.closing_balance_micros == (before_end[-1].balance if before_end else 0)

    # opening + credits - debits = closing, exactly and in printed cents.
    assert doc.opening_balance_micros + doc.total_credits_micros - doc.total_debits_micros == doc.closing_balance_micros
    assert doc.opening_balance_cents + doc.total_credits_cents - doc.total_debits_cents == doc.closing_balance_cents
    # ... and credits - debits is the ledger's movement over the period (posted basis).
    assert doc.total_credits_micros - doc.total_debits_micros == sum(e.amount for e in posted_in)

    # Usage by category: the ledger's entries that occurred in the period.
    expected: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e in occurred_in:
        if e.category in USAGE_CATEGORIES:
            expected[e.category.value][0] += 1
            expected[e.category.value][1] -= e.amount
    assert {r.category: [r.count, r.amount_micros] for r in doc.usage} == expected
    assert doc.usage_total_micros == sum(v[1] for v in expected.values())
    lines = {line.key: line.amount_micros for line in doc.credits + doc.debits}
    assert lines["recharges"] == sum(e.amount for e in occurred_in if e.category is Category.RECHARGE)
    adjustments = sum(e.amount for e in occurred_in if e.category is Category.ADJUSTMENT)
    assert lines.get("adjustments", 0) == abs(adjustments)
    # The posting-date difference is exactly what posting moved beyond what occurred.
    occurred_net = sum(e.amount for e in occurred_in)
    assert doc.posting_difference_micros == sum(e.amount for e in posted_in) - occurred_net
    assert ("posting_difference" in lines) == (doc.posting_difference_micros != 0)

    # Every printed amount is within a cent of the exact one.
    printed = [(line.amount_cents, line.amount_micros) for line in doc.credits + doc.debits]
    printed += [(row.amount_cents, row.amount_micros) for row in doc.usage]
    for cents, micros in printed:
        assert abs(cents * MICROS_PER_CENT - micros) < 2 * MICROS_PER_CENT
    # Card charges: the payments of the period; the total counts the succeeded ones.
    assert doc.card_charges_total_micros == sum(c.amount_micros for c in inputs.card_charges if c.status == "succeeded")
    # The agency's breakdown adds up to the usage line.
    assert sum(a.usage_total_micros for a in doc.accounts) == doc.usage_total_micros
    # The chart has a bar for every day of the period.
    assert len(doc.daily) == (last - first).days + 1


def _simple_ledger() -> tuple[Ledger, StatementInputs]:
    ledger = Ledger({"owner": "UTC"})
    t = datetime(2026, 3, 5, 12, tzinfo=UTC)
    ledger.post("owner", Category.RECHARGE, 20_000_000, t, t)
    ledger.post("owner", Category.CALL_MINUTES, -37_500, t + timedelta(days=1), t + timedelta(days=1))
    ledger.post("owner", Category.TEXT_MESSAGES, -7_900, t + timedelta(days=10), t + timedelta(days=10))
    ledger.post("owner", Category.CALL_MINUTES, -12_500, t + timedelta(days=40), t + timedelta(days=40))
    return ledger, inputs_for(ledger, "UTC", [], date(2026, 3, 10), date(2026, 3, 31), [])


def test_a_balance_that_moved_without_entries_or_a_head_that_disagrees_is_refused() -> None:
    _, inputs = _simple_ledger()
    with pytest.raises(StatementDoesNotReconcile, match="comes before"):
        build_statement(replace(inputs, opening=inputs.closing, closing=inputs.opening))
    head = Head(inputs.closing.seq, inputs.closing.balance_micros + 5)
    with pytest.raises(StatementDoesNotReconcile, match="disagrees"):
        build_statement(replace(inputs, head=head))
    with pytest.raises(StatementDoesNotReconcile, match="behind"):
        build_statement(replace(inputs, head=Head(inputs.closing.seq - 1, 0)))


def test_stored_numbers_that_do_not_add_up_are_refused() -> None:
    _, inputs = _simple_ledger()
    statement = build_statement(inputs)
    check_statement_arithmetic(statement)
    moved = replace(statement, closing_balance_micros=statement.closing_balance_micros + 1)
    with pytest.raises(StatementDoesNotReconcile, match=r"!= closing .* \(micros\)"):
        check_statement_arithmetic(moved)
    printed = replace(statement, closing_balance_cents=statement.closing_balance_cents - 1)
    with pytest.raises(StatementDoesNotReconcile, match=r"!= closing .* \(cents\)"):
        check_statement_arithmetic(printed)
    row = replace(statement.usage[0], amount_cents=statement.usage[0].amount_cents + 1)
    with pytest.raises(StatementDoesNotReconcile, match="usage by category"):
        check_statement_arithmetic(replace(statement, usage=(row, *statement.usage[1:])))
    with pytest.raises(StatementDoesNotReconcile, match="credit or debit total"):
        check_statement_arithmetic(replace(statement, total_debits_micros=statement.total_debits_micros + 1))
    with pytest.raises(StatementDoesNotReconcile, match="usage total"):
        check_statement_arithmetic(replace(statement, usage_total_cents=statement.usage_total_cents + 1))
    [account] = statement.accounts
    with pytest.raises(StatementDoesNotReconcile, match="accounts' usage"):
        check_statement_arithmetic(
            replace(statement, accounts=(replace(account, usage_total_micros=account.usage_total_micros + 1),))
        )
    with pytest.raises(StatementDoesNotReconcile, match="owner: usage rows"):
        check_statement_arithmetic(replace(statement, accounts=(replace(account, usage=account.usage[1:]),)))
    with pytest.raises(StatementDoesNotReconcile, match="no usage line"):
        check_statement_arithmetic(replace(statement, debits=()))
    with pytest.raises(StatementDoesNotReconcile, match="incomplete"):
        Statement.from_json({"credits": []})


def test_late_posting_shows_as_a_labelled_difference() -> None:
    ledger = Ledger({"owner": "UTC"})
    t = datetime(2026, 3, 31, 23, 59, 58, tzinfo=UTC)
    ledger.post("owner", Category.RECHARGE, 10_000_000, t - timedelta(days=1), t - timedelta(days=1))
    # Occurred on Mar 31, posted on Apr 1: April's balance moved, March's usage has it.
    ledger.post("owner", Category.CALL_MINUTES, -250_000, t, t + timedelta(seconds=3))
    april = build_statement(inputs_for(ledger, "UTC", [], date(2026, 4, 1), date(2026, 4, 30), []))
    assert april.usage == ()
    assert april.posting_difference_micros == -250_000
    assert [line.key for line in april.debits] == ["usage", "posting_difference"]
    march = build_statement(inputs_for(ledger, "UTC", [], date(2026, 3, 1), date(2026, 3, 31), []))
    assert march.usage_total_micros == 250_000
    assert march.posting_difference_micros == 250_000
    assert march.closing_balance_micros == april.opening_balance_micros == 10_000_000


@settings(max_examples=budget(quick=150, long=500), deadline=None)
@given(st.lists(st.integers(-(10**12), 10**12), max_size=12), st.integers(-3, 3))
def test_cents_are_allocated_to_add_up_exactly(values: list[int], shift: int) -> None:
    exact = sum(values)
    target = round_cents(exact) + (shift if values else 0)
    cents = allocate_cents(values, target)
    assert sum(cents) == target
    if shift == 0:
        for v, c in zip(values, cents, strict=True):
            assert abs(c * MICROS_PER_CENT - v) < MICROS_PER_CENT + 1


def test_round_cents_is_half_up_away_from_zero() -> None:
    assert [round_cents(v) for v in (5_000, 4_999, -5_000, -4_999, 0, 12_345_678)] == [1, 0, -1, 0, 0, 1235]
