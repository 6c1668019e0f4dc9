"""Statements: the numbers of a period, and the proof that they add up.

A statement covers local dates `from`..`to` of the account (or agency) that owns a
balance. Its numbers come from three sources, none of which is "every ledger entry":

- **boundary balances**: the balance before the period's first local day and
  after its last (or, for a period still running, the balance head), from the
  balance's posting days (domain/balance_days.py): the head minus what was posted
  from the boundary on, checked to link up day by day;
- **rollups** (daily, per account and category): usage by category (count,
  quantity, amount), recharges and adjustments of the accounts that draw from the
  balance, bucketed by the local date the activity *occurred*;
- **payments**: the card charges created in the period.

The reconciliation basis (why there is a "posting-date difference" line)
------------------------------------------------------------------------
Balances move when an entry is *posted*; rollups bucket it by the date it
*occurred*. The two agree except for entries posted in the period that occurred
outside it (a call at 23:59:58 on the last day of the previous month, posted at
00:00:01; a late or replayed event; a sub-account whose own time zone puts the
activity on another local date), or the reverse. Reading the entries posted in the
period would settle that exactly, but costs one item per entry: a month of a busy
agency is hundreds of thousands of reads. Instead:

    opening + credits - debits = closing, exactly, in micro-units, where

    credits = recharges (card payments and other funding)       [rollups]
            + adjustments, when their net is positive             [rollups]
            + the posting-date difference, when positive
    debits  = usage by category                                   [rollups]
            + adjustments, when their net is negative             [rollups]
            + the posting-date difference, when negative

    posting-date difference = (closing - opening) - (rollup credits - rollup debits)

The difference is shown as its own labelled line, only when it is not zero, so the
usage lines stay equal to the Usage report for the same dates (occurred basis) and
the balances stay equal to the Logs page (posted basis). It is not a plug that hides
errors: the builder refuses (StatementDoesNotReconcile) when the ledger itself does
not add up where the statement reads it:

- the posting days from each boundary on must chain (each opens where the one
  before closed, sequence numbers without a gap) and end at the balance head;
- the closing boundary may not come before the opening one, and when no entry was
  posted in the period the two balances must be equal;
- the head may not be behind the closing boundary, nor disagree with it when no
  entry was posted since;
- and the stored numbers must satisfy the identity above both in micro-units and in
  the cents that are printed (`check_statement_arithmetic`, run again before every send).

Money is shown to the cent. Every printed group adds up to its printed total:
cents are allocated by the largest-remainder method (each printed amount is within
a cent of the exact one), and the exact amounts are in the JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .balance_days import Boundary as Boundary  # what StatementInputs carry
from .categories import USAGE_CATEGORIES, Category
from .rollups import RollupTotals
from .statement import (
    AccountUsage,
    BalanceLine,
    CardChargeLine,
    DailyCost,
    Issuer,
    LedgerChain,
    OwnBillingLine,
    Statement,
    StatementAccount,
    StatementPeriod,
    UsageRow,
)
from .statement import (
    StatementDoesNotReconcile as StatementDoesNotReconcile,  # raised here, caught by callers
)

MICROS_PER_CENT = 10_000
DOC_VERSION = 1
# A statement spans at most a year (a quarterly statement is ~92 days).
MAX_STATEMENT_DAYS = 366
MAX_RECIPIENTS = 10
BASIS = (
    "Balances are the ledger's balances after the last entry posted before each boundary. "
    "Usage, recharges and adjustments are summed from daily rollups by the local date the activity "
    "occurred. Activity posted in this period that occurred in another (or the reverse) is shown as "
    "a posting-date difference, so that opening + credits - debits = closing exactly."
)

CATEGORY_LABELS: Mapping[str, str] = {
    Category.CALL_MINUTES.value: "Call minutes",
    Category.TEXT_MESSAGES.value: "Text messages",
    Category.NUMBER_RENEWALS.value: "Number renewals",
    Category.SUBSCRIPTION_FEES.value: "Subscription fees",
    Category.RECHARGE.value: "Recharges",
    Category.ADJUSTMENT.value: "Adjustments",
}


# -- inputs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Head:
    """The billing account's balance head when the statement was built."""

    seq: int
    balance_micros: int


@dataclass(frozen=True)
class AccountActivity:
    """One account that draws from the statement's balance, over the period."""

    account_id: str
    name: str
    role: str  # "account" (the owner), "agency" (the owner, an agency) or "shared" (a sub-account)
    time_zone: str
    totals: Mapping[Category, RollupTotals]  # every category, summed over the period
    daily_cost: Mapping[date, int] = field(default_factory=dict)  # usage cost by local day
    units: Mapping[Category, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CardCharge:
    payment_id: str
    created_at: datetime
    kind: str
    status: str
    amount_micros: int
    card_brand: str
    card_last4: str
    description: str = ""
    failure_reason: str | None = None


@dataclass(frozen=True)
class OwnBillingAccount:
    """A sub-account with a balance of its own: listed with its totals, in its own currency,
    never added to the agency's figures (which may be in another currency)."""

    account_id: str
    name: str
    time_zone: str
    usage_cost_micros: int
    card_charges_micros: int
    closing_balance_micros: int
    currency: str


@dataclass(frozen=True)
class Owner:
    account_id: str
    name: str
    kind: str  # "account" | "agency"
    billing: str  # "own"
    billing_account_id: str
    time_zone: str
    currency: str
    agency_id: str | None = None


@dataclass(frozen=True)
class StatementInputs:
    statement_id: str
    owner: Owner
    first: date
    last: date
    start: datetime
    end: datetime
    closing_at: datetime  # = end, or the build time for a period still running
    built_at: datetime
    opening: Boundary
    closing: Boundary
    head: Head
    activity: Sequence[AccountActivity]
    card_charges: Sequence[CardCharge]
    own_billing: Sequence[OwnBillingAccount] = ()
    origin: str = "on_demand"  # or "scheduled"
    frequency: str | None = None
    issuer: Issuer | None = None  # the company block, frozen with the numbers


# -- cents ----------------------------------------------------------------------------------


def round_cents(micros: int) -> int:
    """Half-up (away from zero), like format_cents."""
    sign = -1 if micros < 0 else 1
    whole, rest = divmod(abs(micros), MICROS_PER_CENT)
    return sign * (whole + (1 if rest * 2 >= MICROS_PER_CENT else 0))


def allocate_cents(values: Sequence[int], target_cents: int) -> list[int]:
    """Cents for each value (micro-units) that add up to `target_cents` exactly.

    Largest remainder: every value starts at its floor in cents, and the cents still
    missing go to the values with the largest remainders (ties: the earlier value).
    When the target is within a cent of the exact sum (as the totals it is used
    with are), each result is within a cent of its value.
    """
    floors = [v // MICROS_PER_CENT for v in values]
    remainders = [v - f * MICROS_PER_CENT for v, f in zip(values, floors, strict=True)]
    missing = target_cents - sum(floors)
    if not values:
        if missing:
            raise ValueError("no values to allocate cents to")
        return []
    order = sorted(range(len(values)), key=lambda i: (-remainders[i], i))
    result = list(floors)
    n = len(order)
    for step in range(max(missing, 0)):  # cents still missing: largest remainders first
        result[order[step % n]] += 1
    for step in range(max(-missing, 0)):  # cents too many (a target off by more): smallest first
        result[order[n - 1 - step % n]] -= 1
    return result


# -- building: one step per part of the statement ------------------------------------------------


@dataclass(frozen=True)
class Movement:
    """What moved the balance over the period: the rollups' credits and debits, and the
    posting-date difference that makes them meet the boundary balances."""

    recharges: int
    adjustments: int  # net, either sign
    usage_cost: int  # positive
    posting_difference: int

    @classmethod
    def of(cls, combined: Mapping[Category, RollupTotals], opening: int, closing: int) -> Movement:
        recharges = combined.get(Category.RECHARGE, RollupTotals()).amount_micros
        adjustments = combined.get(Category.ADJUSTMENT, RollupTotals()).amount_micros
        usage_cost = _usage_cost(combined)
        return cls(recharges, adjustments, usage_cost, (closing - opening) - (recharges + adjustments - usage_cost))


POSTING_DIFFERENCE_NOTE = (
    "Activity posted in this period that occurred in another period (or the reverse): late or "
    "early posting, or a sub-account's own time zone."
)


_LineSpec = tuple[str, str, int, str | None]  # key, label, amount (micros, positive), note


def _balance_lines(movement: Movement, movement_cents: int) -> tuple[tuple[BalanceLine, ...], tuple[BalanceLine, ...]]:
    """Credits and debits (recharges and usage always; adjustments and the posting-date
    difference on the side of their sign, when not zero), sharing the printed movement in cents."""
    credits: list[_LineSpec] = [("recharges", "Payments and recharges", movement.recharges, None)]
    debits: list[_LineSpec] = [("usage", "Usage charges", movement.usage_cost, None)]
    if movement.adjustments > 0:
        credits.append(("adjustments", "Adjustments (net)", movement.adjustments, None))
    elif movement.adjustments < 0:
        debits.append(("adjustments", "Adjustments (net)", -movement.adjustments, None))
    timing = movement.posting_difference
    if timing > 0:
        credits.append(("posting_difference", "Posting-date difference", timing, POSTING_DIFFERENCE_NOTE))
    elif timing < 0:
        debits.append(("posting_difference", "Posting-date difference", -timing, POSTING_DIFFERENCE_NOTE))
    signed = [micros for _, _, micros, _ in credits] + [-micros for _, _, micros, _ in debits]
    cents = allocate_cents(signed, movement_cents)
    credit_lines = tuple(
        BalanceLine(key, label, micros, c, note)
        for (key, label, micros, note), c in zip(credits, cents[: len(credits)], strict=True)
    )
    debit_lines = tuple(
        BalanceLine(key, label, micros, -c, note)
        for (key, label, micros, note), c in zip(debits, cents[len(credits) :], strict=True)
    )
    return credit_lines, debit_lines


def _usage_rows(
    totals: Mapping[Category, RollupTotals], units: Mapping[Category, str], target_cents: int
) -> tuple[UsageRow, ...]:
    """Usage by category (cost positive), cents allocated to add up to `target_cents`."""
    used = [
        (category, t)
        for category in sorted(USAGE_CATEGORIES, key=lambda c: c.value)
        if (t := totals.get(category)) is not None and not (t.count == 0 and t.amount_micros == 0)
    ]
    cents = allocate_cents([-t.amount_micros for _, t in used], target_cents)
    return tuple(
        UsageRow(
            category=category.value,
            label=CATEGORY_LABELS[category.value],
            unit=units.get(category, "item"),
            count=t.count,
            quantity_micros=t.quantity_micros,
            amount_micros=-t.amount_micros,
            amount_cents=c,
        )
        for (category, t), c in zip(used, cents, strict=True)
    )


def _sum_totals(parts: Iterable[Mapping[Category, RollupTotals]]) -> dict[Category, RollupTotals]:
    result: dict[Category, RollupTotals] = {}
    for part in parts:
        for category, totals in part.items():
            result.setdefault(category, RollupTotals()).add(totals)
    return result


def _usage_cost(totals: Mapping[Category, RollupTotals]) -> int:
    return -sum(t.amount_micros for c, t in totals.items() if c in USAGE_CATEGORIES)


def _first_units(activity: Iterable[AccountActivity]) -> dict[Category, str]:
    """Each category's unit as the first account that names it prices it."""
    units: dict[Category, str] = {}
    for a in activity:
        for category, unit in a.units.items():
            units.setdefault(category, unit)
    return units


def _accounts_usage(
    activity: Sequence[AccountActivity], units: Mapping[Category, str], usage_cents: int
) -> tuple[AccountUsage, ...]:
    """Each account's usage, the usage line's cents shared between them."""
    costs = [_usage_cost(a.totals) for a in activity]
    return tuple(
        AccountUsage(
            account_id=a.account_id,
            name=a.name,
            role=a.role,
            time_zone=a.time_zone,
            usage=_usage_rows(a.totals, a.units or units, cost_cents),
            usage_total_micros=cost,
            usage_total_cents=cost_cents,
            credits_micros=sum(
                t.amount_micros for c, t in a.totals.items() if c in (Category.RECHARGE, Category.ADJUSTMENT)
            ),
        )
        for a, cost, cost_cents in zip(activity, costs, allocate_cents(costs, usage_cents), strict=True)
    )


def _own_billing_lines(own: Iterable[OwnBillingAccount]) -> tuple[OwnBillingLine, ...]:
    return tuple(
        OwnBillingLine(
            account_id=o.account_id,
            name=o.name,
            time_zone=o.time_zone,
            currency=o.currency,
            usage_total_micros=o.usage_cost_micros,
            usage_total_cents=round_cents(o.usage_cost_micros),
            card_charges_micros=o.card_charges_micros,
            card_charges_cents=round_cents(o.card_charges_micros),
            closing_balance_micros=o.closing_balance_micros,
            closing_balance_cents=round_cents(o.closing_balance_micros),
        )
        for o in sorted(own, key=lambda o: (o.name.lower(), o.account_id))
    )


def _card_charge_lines(charges: Iterable[CardCharge]) -> tuple[CardChargeLine, ...]:
    return tuple(
        CardChargeLine(
            payment_id=c.payment_id,
            created_at=c.created_at,
            kind=c.kind,
            status=c.status,
            amount_micros=c.amount_micros,
            amount_cents=round_cents(c.amount_micros),
            card_brand=c.card_brand,
            card_last4=c.card_last4,
            description=c.description,
            failure_reason=c.failure_reason,
        )
        for c in sorted(charges, key=lambda c: (c.created_at, c.payment_id))
    )


def _daily_costs(inputs: StatementInputs) -> tuple[DailyCost, ...]:
    """Usage cost of every local day of the period (up to the build time for a period still running)."""
    daily_cost: dict[date, int] = {}
    for a in inputs.activity:
        for day, cost in a.daily_cost.items():
            daily_cost[day] = daily_cost.get(day, 0) + cost
    return tuple(DailyCost(day, daily_cost.get(day, 0)) for day in _days(inputs))


def _days(inputs: StatementInputs) -> list[date]:
    last = inputs.last
    if inputs.closing_at < inputs.end:
        last = min(last, inputs.closing_at.astimezone(ZoneInfo(inputs.owner.time_zone)).date())
    return [inputs.first + timedelta(days=i) for i in range((last - inputs.first).days + 1)]


def _statement_account(owner: Owner) -> StatementAccount:
    return StatementAccount(
        account_id=owner.account_id,
        name=owner.name,
        kind=owner.kind,
        billing=owner.billing,
        billing_account_id=owner.billing_account_id,
        agency_id=owner.agency_id,
        time_zone=owner.time_zone,
        currency=owner.currency,
    )


def _statement_period(inputs: StatementInputs) -> StatementPeriod:
    return StatementPeriod(
        first=inputs.first,
        last=inputs.last,
        time_zone=inputs.owner.time_zone,
        start=inputs.start,
        end=inputs.end,
        closing_at=inputs.closing_at,
        in_progress=inputs.closing_at < inputs.end,
    )


def check_boundaries(inputs: StatementInputs) -> None:
    """Refuse boundaries that contradict each other or the balance head."""
    opening, closing, head = inputs.opening, inputs.closing, inputs.head
    if closing.seq < opening.seq:
        raise StatementDoesNotReconcile(
            f"the closing entry (seq {closing.seq}) comes before the opening entry (seq {opening.seq})"
        )
    if closing.seq == opening.seq and closing.balance_micros != opening.balance_micros:
        raise StatementDoesNotReconcile("no entry was posted in the period, yet the balance moved")
    if head.seq < closing.seq:
        raise StatementDoesNotReconcile(f"the balance head (seq {head.seq}) is behind the ledger (seq {closing.seq})")
    if head.seq == closing.seq and head.balance_micros != closing.balance_micros:
        raise StatementDoesNotReconcile(
            f"the balance ({head.balance_micros}) disagrees with its last entry ({closing.balance_micros})"
        )


def build_statement(inputs: StatementInputs) -> Statement:
    """The statement of `inputs`, proven to add up; or refuse (StatementDoesNotReconcile)."""
    check_boundaries(inputs)
    opening, closing = inputs.opening.balance_micros, inputs.closing.balance_micros
    # Cents: the balances round half-up; the lines share the printed movement.
    opening_cents, closing_cents = round_cents(opening), round_cents(closing)
    combined = _sum_totals(a.totals for a in inputs.activity)
    movement = Movement.of(combined, opening, closing)
    credits, debits = _balance_lines(movement, closing_cents - opening_cents)
    usage_cents = debits[0].amount_cents
    units = _first_units(inputs.activity)
    charges = _card_charge_lines(inputs.card_charges)
    succeeded = [c for c in charges if c.status == "succeeded"]
    statement = Statement(
        version=DOC_VERSION,
        statement_id=inputs.statement_id,
        origin=inputs.origin,
        frequency=inputs.frequency,
        account=_statement_account(inputs.owner),
        period=_statement_period(inputs),
        built_at=inputs.built_at,
        opening_balance_micros=opening,
        opening_balance_cents=opening_cents,
        closing_balance_micros=closing,
        closing_balance_cents=closing_cents,
        credits=credits,
        debits=debits,
        total_credits_micros=sum(line.amount_micros for line in credits),
        total_credits_cents=sum(line.amount_cents for line in credits),
        total_debits_micros=sum(line.amount_micros for line in debits),
        total_debits_cents=sum(line.amount_cents for line in debits),
        posting_difference_micros=movement.posting_difference,
        usage=_usage_rows(combined, units, usage_cents),
        usage_total_micros=movement.usage_cost,
        usage_total_cents=usage_cents,
        accounts=_accounts_usage(inputs.activity, units, usage_cents),
        own_billing_accounts=_own_billing_lines(inputs.own_billing),
        card_charges=charges,
        card_charges_total_micros=sum(c.amount_micros for c in succeeded),
        card_charges_total_cents=sum(c.amount_cents for c in succeeded),
        daily=_daily_costs(inputs),
        chain=LedgerChain(inputs.opening.seq, inputs.closing.seq, inputs.closing.seq - inputs.opening.seq),
        basis=BASIS,
        issuer=inputs.issuer,
    )
    check_statement_arithmetic(statement)
    return statement


# -- the arithmetic check: on every build, before every send and every showing ------------------------


@dataclass(frozen=True)
class _Figures:
    """A statement's figures in one unit: exact micro-units, or the cents that are printed."""

    unit: str
    opening: int
    closing: int
    credits: Sequence[int]
    debits: Sequence[int]
    total_credits: int
    total_debits: int
    usage_line: int
    usage_rows: Sequence[int]
    usage_total: int
    accounts: Sequence[tuple[str, int, Sequence[int]]]  # (account id, usage total, usage rows)


def _usage_line(statement: Statement) -> BalanceLine:
    line = next((line for line in statement.debits if line.key == "usage"), None)
    if line is None:
        raise StatementDoesNotReconcile("the statement is incomplete: it has no usage line")
    return line


def _figures(s: Statement, unit: str) -> _Figures:
    """The figures in `unit`: each amount is the `<name>_micros` or `<name>_cents` field."""

    def of(item: object, name: str) -> int:
        value = getattr(item, f"{name}_{unit}")
        assert isinstance(value, int)
        return value

    return _Figures(
        unit=unit,
        opening=of(s, "opening_balance"),
        closing=of(s, "closing_balance"),
        credits=[of(line, "amount") for line in s.credits],
        debits=[of(line, "amount") for line in s.debits],
        total_credits=of(s, "total_credits"),
        total_debits=of(s, "total_debits"),
        usage_line=of(_usage_line(s), "amount"),
        usage_rows=[of(row, "amount") for row in s.usage],
        usage_total=of(s, "usage_total"),
        accounts=[(a.account_id, of(a, "usage_total"), [of(row, "amount") for row in a.usage]) for a in s.accounts],
    )


def _check_figures(f: _Figures) -> None:
    total_credits, total_debits = sum(f.credits), sum(f.debits)
    if (total_credits, total_debits) != (f.total_credits, f.total_debits):
        raise StatementDoesNotReconcile(f"the credit or debit total ({f.unit}) is not the sum of its lines")
    if f.opening + total_credits - total_debits != f.closing:
        raise StatementDoesNotReconcile(
            f"opening {f.opening} + credits {total_credits} - debits {total_debits} != closing {f.closing} ({f.unit})"
        )
    if sum(f.usage_rows) != f.usage_line:
        raise StatementDoesNotReconcile(f"usage by category does not add up to the usage line ({f.unit})")
    if f.usage_total != f.usage_line:
        raise StatementDoesNotReconcile(f"the usage total is not the usage line ({f.unit})")
    if f.accounts and sum(total for _, total, _ in f.accounts) != f.usage_line:
        raise StatementDoesNotReconcile(f"the accounts' usage does not add up to the usage line ({f.unit})")
    for account_id, total, rows in f.accounts:
        if sum(rows) != total:
            raise StatementDoesNotReconcile(f"{account_id}: usage rows do not add up ({f.unit})")


def check_statement_arithmetic(statement: Statement) -> None:
    """opening + credits - debits = closing, in micro-units and in printed cents; and every
    printed group adds up to its total. Raises StatementDoesNotReconcile."""
    _check_figures(_figures(statement, "micros"))
    _check_figures(_figures(statement, "cents"))


def summary(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The few numbers a list of statements shows."""
    return {
        "currency": doc["account"]["currency"],
        "opening_balance_micros": doc["opening_balance_micros"],
        "closing_balance_micros": doc["closing_balance_micros"],
        "total_credits_micros": doc["total_credits_micros"],
        "total_debits_micros": doc["total_debits_micros"],
    }


def document_seal(key: bytes, doc: Mapping[str, Any]) -> str:
    """HMAC of a statement's stored numbers with the ledger key: a changed stored number is found."""
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()[:32]
