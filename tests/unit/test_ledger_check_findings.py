"""The ledger's invariant checks (domain/ledger_check.py): each finding kind is reported for the
corruption it names, and a ledger as the writer keeps it gives none."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.balance_days import boundary_before
from chalicelib.domain.categories import Category
from chalicelib.domain.events import UsageEvent
from chalicelib.domain.ledger import BalanceState, LedgerEntry, PricedEvent, plan_entries
from chalicelib.domain.ledger_check import (
    ChainPoint,
    Finding,
    PaymentFacts,
    StatementFacts,
    balance_before_day,
    check_chain,
    check_listed_entries,
    check_payment_credits,
    check_prices,
    check_rollups,
    check_statement,
    expected_balance_days,
)
from chalicelib.domain.periods import local_range
from chalicelib.domain.rollups import rollup_deltas
from chalicelib.domain.statements import (
    AccountActivity,
    Head,
    Owner,
    StatementInputs,
    build_statement,
    document_seal,
)

Doc = dict[str, Any]  # a statement's stored numbers (Statement.to_json)
KEY = b"test-ledger-key-0123456789abcdef"
UTC_ZONE = ZoneInfo("UTC")
T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)


def priced(event_id: str, amount: int, category: Category = Category.CALL_MINUTES, account: str = "b1") -> PricedEvent:
    event = UsageEvent(event_id, account, category, Decimal(1), T0, "")
    unit_price = -amount if category.is_usage else None
    return PricedEvent(event, account, None, "minute", unit_price, amount)


def chain_of(*days: list[tuple[str, int, Category]], key: bytes | None = KEY) -> tuple[BalanceState, list[LedgerEntry]]:
    """A sealed chain of billing account b1: one transaction a day from T0, each of the given events."""
    state = BalanceState("b1", 0, 0, None, exists=False)
    chain: list[LedgerEntry] = []
    for i, events in enumerate(days):
        plan = plan_entries(state, [priced(e, a, c) for e, a, c in events], T0 + timedelta(days=i), key)
        chain.extend(plan.entries)
        state = plan.after
    return state, chain


def kinds(findings: list[Finding]) -> list[str]:
    return [f.kind for f in findings]


RC, CALL, SMS = Category.RECHARGE, Category.CALL_MINUTES, Category.TEXT_MESSAGES


@pytest.fixture
def ledger() -> tuple[BalanceState, list[LedgerEntry]]:
    return chain_of([("rc", 10_000_000, RC), ("c1", -12_500, CALL)], [("c2", -25_000, CALL)], [("s1", -7_900, SMS)])


# -- the chain -----------------------------------------------------------------------------------
def test_a_chain_as_written_has_no_finding(ledger: tuple[BalanceState, list[LedgerEntry]]) -> None:
    head, chain = ledger
    report = check_chain(head, chain, KEY)
    assert report.ok and (report.entries, report.recomputed_micros) == (4, head.balance_micros)
    # From a point checked before: only what follows it.
    point = ChainPoint(chain[1].seq, chain[1].balance_after_micros, chain[1].seal)
    assert check_chain(head, chain[2:], KEY, after=point).ok
    assert str(Finding("head_seq", "head b1", "says 3")) == "head_seq: head b1: says 3"


def test_an_entry_posted_before_the_one_preceding_it_is_found(ledger: tuple[BalanceState, list[LedgerEntry]]) -> None:
    head, chain = ledger
    moved = [*chain[:2], replace(chain[2], posted_at=chain[1].posted_at - timedelta(seconds=1)), chain[3]]
    findings = check_chain(head, moved).problems
    assert kinds(findings) == ["chain_posted"]
    assert findings[0].item == f"entry {chain[2].entry_id} (seq 3, event c2) of b1"


def test_an_entry_of_another_balance_in_the_chain_is_found(ledger: tuple[BalanceState, list[LedgerEntry]]) -> None:
    head, chain = ledger
    stray = [*chain[:3], replace(chain[3], billing_account_id="b2")]
    assert kinds(check_chain(head, stray).problems) == ["chain_owner"]


def test_balances_after_that_do_not_follow_the_amounts_are_found(
    ledger: tuple[BalanceState, list[LedgerEntry]],
) -> None:
    head, chain = ledger
    edited = [*chain[:2], replace(chain[2], balance_after_micros=chain[2].balance_after_micros + 1), chain[3]]
    # The entry that drifted is reported; the one after it follows the drifted value; the head
    # no longer agrees with the amounts summed.
    assert kinds(check_chain(head, edited).problems) == ["chain_balance", "chain_balance"]


def test_seals_missing_or_not_the_heads(ledger: tuple[BalanceState, list[LedgerEntry]]) -> None:
    head, chain = ledger
    unsealed = [*chain[:3], replace(chain[3], seal="")]
    assert kinds(check_chain(head, unsealed, KEY).problems) == ["entry_unsealed", "head_seal"]
    assert kinds(check_chain(replace(head, seal="forged"), chain, KEY).problems) == ["head_seal"]
    # Without the key, the seals are not judged.
    assert check_chain(head, unsealed).ok


def test_entries_without_a_head_and_heads_that_disagree(ledger: tuple[BalanceState, list[LedgerEntry]]) -> None:
    head, chain = ledger
    missing = BalanceState("b1", 0, 0, None, exists=False)
    report = check_chain(missing, chain, KEY)
    assert kinds(report.problems) == ["head_missing"]  # nothing else is judged against a head that is not there
    assert kinds(check_chain(replace(head, seq=head.seq + 1), chain, KEY).problems) == ["head_seq"]
    assert kinds(check_chain(replace(head, balance_micros=0), chain, KEY).problems) == ["head_balance"]
    assert check_chain(missing, [], KEY).ok  # no entries, no head: nothing to say


# -- prices, rollups, listings -------------------------------------------------------------------
def test_a_charge_that_is_not_quantity_times_price_is_found(ledger: tuple[BalanceState, list[LedgerEntry]]) -> None:
    _, chain = ledger
    assert check_prices(chain) == []  # recharges have no unit price and are not judged
    overcharged = replace(chain[1], amount_micros=chain[1].amount_micros - 1)
    assert kinds(check_prices([overcharged])) == ["entry_price"]


def test_a_rollup_that_is_not_the_sum_of_its_entries_is_found(ledger: tuple[BalanceState, list[LedgerEntry]]) -> None:
    _, chain = ledger
    stored = dict(rollup_deltas(chain, {"b1": UTC_ZONE}))
    assert check_rollups("b1", UTC_ZONE, chain, stored) == []
    key = next(iter(stored))
    drifted = {**stored, key: replace(stored[key], count=stored[key].count + 1)}
    assert kinds(check_rollups("b1", UTC_ZONE, chain, drifted)) == ["rollup"]
    missing = {k: v for k, v in stored.items() if k != key}
    assert kinds(check_rollups("b1", UTC_ZONE, chain, missing)) == ["rollup"]


def test_logs_listings_must_be_the_stored_entries(ledger: tuple[BalanceState, list[LedgerEntry]]) -> None:
    _, chain = ledger
    stored = {e.event_id: e for e in chain}
    assert check_listed_entries(chain, stored) == []
    edited = replace(chain[1], description="edited", amount_micros=0)
    findings = check_listed_entries([chain[0], edited, *chain[2:]], stored)
    assert kinds(findings) == ["listing_differs"]
    assert "description" in findings[0].detail and "amount_micros" in findings[0].detail
    stray = replace(chain[0], event_id="forged")
    assert kinds(check_listed_entries([*chain, stray], stored)) == ["listing_stray"]
    assert kinds(check_listed_entries(chain[1:], stored)) == ["listing_missing"]


# -- payments ------------------------------------------------------------------------------------
def test_a_payment_credited_to_another_balance_is_found() -> None:
    _, chain = chain_of([("payment:p1", 25_000_000, RC)])
    assert check_payment_credits([PaymentFacts("p1", "b1", True, 25_000_000)], chain) == []
    findings = check_payment_credits([PaymentFacts("p1", "b2", True, 25_000_000)], chain)
    assert kinds(findings) == ["payment_credit_balance"] and findings[0].detail == "credited to b1"
    # A credit that is no recharge is reported even when the amount is right.
    _, adjusted = chain_of([("payment:p1", 25_000_000, Category.ADJUSTMENT)])
    assert kinds(check_payment_credits([PaymentFacts("p1", "b1", True, 25_000_000)], adjusted)) == [
        "payment_credit_amount"
    ]


def test_a_failed_payment_without_a_credit_is_as_it_should_be() -> None:
    _, chain = chain_of([("payment:p1", 25_000_000, RC)])
    payments = [PaymentFacts("p1", "b1", True, 25_000_000), PaymentFacts("p2", "b1", False, 9_000_000)]
    assert check_payment_credits(payments, chain) == []


# -- statements ----------------------------------------------------------------------------------
def statement_of(chain: list[LedgerEntry], head: BalanceState, first: date, last: date, built_at: datetime) -> Doc:
    """The stored numbers of a statement of b1 over [first, last], built as the service builds it."""
    period = local_range(first.isoformat(), last.isoformat(), "UTC")
    assert period.start is not None and period.end is not None
    days = expected_balance_days("b1", UTC_ZONE, chain)

    def boundary(day: date):
        return boundary_before(day, head.seq, head.balance_micros, [d for d in days if d.day >= day])

    in_period = [e for e in chain if first <= e.occurred_at.astimezone(UTC_ZONE).date() <= last]
    totals = {k.category: t for k, t in rollup_deltas(in_period, {"b1": UTC_ZONE}).items() if k.period == "D"}
    inputs = StatementInputs(
        statement_id="st_" + "0" * 24,
        owner=Owner("b1", "Owner", "account", "own", "b1", "UTC", "USD"),
        first=first,
        last=last,
        start=period.start,
        end=period.end,
        closing_at=min(period.end, built_at),
        built_at=built_at,
        opening=boundary(first),
        closing=boundary(last + timedelta(days=1)),
        head=Head(head.seq, head.balance_micros),
        activity=[AccountActivity("b1", "Owner", "account", "UTC", totals)],
        card_charges=[],
    )
    return build_statement(inputs).to_json()


def facts(doc: Doc | None, seal: str | None = None, columns: tuple[int, int] | None = None) -> StatementFacts:
    if doc is not None and columns is None:
        columns = (doc["opening_balance_micros"], doc["closing_balance_micros"])
    opening, closing = columns if columns else (None, None)
    return StatementFacts(
        "st_1", "b1", doc, document_seal(KEY, doc) if seal is None and doc else seal, opening, closing
    )


@pytest.fixture
def stated(ledger: tuple[BalanceState, list[LedgerEntry]]) -> tuple[list[LedgerEntry], Doc]:
    head, chain = ledger  # posted 2, 3 and 4 March
    return chain, statement_of(chain, head, date(2026, 3, 3), date(2026, 3, 3), T0 + timedelta(days=10))


def test_a_statement_as_built_has_no_finding(stated: tuple[list[LedgerEntry], Doc]) -> None:
    chain, doc = stated
    assert (doc["opening_balance_micros"], doc["closing_balance_micros"]) == (9_987_500, 9_962_500)
    assert check_statement(facts(doc), KEY, chain, UTC_ZONE) == []
    assert check_statement(facts(None), KEY, chain, UTC_ZONE) == []  # not built yet: nothing to check


def test_statement_seals_missing_or_broken(stated: tuple[list[LedgerEntry], Doc]) -> None:
    chain, doc = stated
    assert kinds(check_statement(facts(doc, seal=""), KEY, chain, UTC_ZONE)) == ["statement_unsealed"]
    assert kinds(check_statement(facts(doc, seal="0" * 32), KEY, chain, UTC_ZONE)) == ["statement_seal"]
    assert kinds(check_statement(facts(doc), b"another key", chain, UTC_ZONE)) == ["statement_seal"]


def test_list_columns_that_say_other_numbers(stated: tuple[list[LedgerEntry], Doc]) -> None:
    chain, doc = stated
    findings = check_statement(facts(doc, columns=(0, 9_962_500)), KEY, chain, UTC_ZONE)
    assert kinds(findings) == ["statement_columns"]


def test_stored_numbers_edited_to_match_are_still_found(stated: tuple[list[LedgerEntry], Doc]) -> None:
    """Someone who changes the closing balance and the list column, but cannot seal."""
    chain, doc = stated
    edited = {**doc, "closing_balance_micros": doc["closing_balance_micros"] + 1_000_000}
    findings = kinds(check_statement(facts(edited, seal=document_seal(KEY, doc)), KEY, chain, UTC_ZONE))
    assert findings == ["statement_seal", "statement_arithmetic", "statement_closing"]


def test_boundaries_that_are_no_longer_the_ledgers(ledger: tuple[BalanceState, list[LedgerEntry]]) -> None:
    head, chain = ledger
    doc = statement_of(chain, head, date(2026, 3, 3), date(2026, 3, 3), T0 + timedelta(days=10))
    # An entry before the last one of an earlier day is no boundary: changing it moves neither.
    rewritten = [replace(chain[0], balance_after_micros=chain[0].balance_after_micros + 5), *chain[1:]]
    assert kinds(check_statement(facts(doc), KEY, rewritten, UTC_ZONE)) == []
    # Every balance after moved (the ledger rewritten since): both boundaries are no longer the statement's.
    earlier = [replace(e, balance_after_micros=e.balance_after_micros + 5) for e in chain]
    assert kinds(check_statement(facts(doc), KEY, earlier, UTC_ZONE)) == ["statement_opening", "statement_closing"]


def test_a_period_in_progress_has_no_closing_to_check(ledger: tuple[BalanceState, list[LedgerEntry]]) -> None:
    head, chain = ledger
    built = T0 + timedelta(days=1, hours=1)  # 3 March, 13:00: the period 3..5 March is still running
    doc = statement_of(
        chain[:3],
        replace(head, seq=3, balance_micros=chain[2].balance_after_micros),
        date(2026, 3, 3),
        date(2026, 3, 5),
        built,
    )
    assert doc["period"]["in_progress"] is True
    # The ledger has moved on since (4 March): the closing then is not the ledger's closing now, and is not judged.
    assert check_statement(facts(doc), KEY, chain, UTC_ZONE) == []


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(-50_000, 50_000), min_size=0, max_size=8), st.integers(0, 9))
def test_the_balance_before_a_day_is_after_the_last_entry_posted_earlier(amounts: list[int], day: int) -> None:
    _, chain = chain_of(*[[(f"e{i}", a, CALL if a < 0 else RC)] for i, a in enumerate(amounts)])
    boundary = date(2026, 3, 2) + timedelta(days=day)
    earlier = [e for e in chain if e.posted_at.date() < boundary]
    assert balance_before_day(chain, UTC_ZONE, boundary) == (earlier[-1].balance_after_micros if earlier else 0)
