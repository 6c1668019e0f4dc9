"""Building a statement's numbers: from rollups, payments and boundary balances.

`build_numbers` gathers what a statement needs without reading the entries of the
period (see domain/statements.py for the reconciliation basis): the daily rollups
of the period (point reads for an account; for an agency, one query per partition
and shard for all its accounts at once, beside the read of its accounts); the card
charges of the period (one Query per 500); the balance head with the posting days
since the period began (the boundary balances); and for an agency's own-billing
sub-accounts, their heads and posting days in one read for all, and their payments.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ...adapters.concurrency import run_all, run_both
from ...config import get_settings
from ...domain.accounts import Account, AccountKind, Billing
from ...domain.balance_days import BalanceDay, Boundary, ChainDoesNotLink, boundary_before
from ...domain.categories import USAGE_CATEGORIES, Category
from ...domain.payments import PaymentStatus
from ...domain.periods import local_range
from ...domain.reports import BucketRange
from ...domain.rollups import DAY, RollupKey, RollupTotals, day_bucket
from ...domain.statement import Issuer, Statement
from ...domain.statements import (
    AccountActivity,
    CardCharge,
    Head,
    OwnBillingAccount,
    Owner,
    StatementDoesNotReconcile,
    StatementInputs,
    build_statement,
)
from ..errors import Conflict, ServiceError
from ..reports import AgencyReads, read_agency, scoped
from ..stores import stores

PAYMENT_PAGE = 500
STATEMENT_ID = re.compile(r"^st_[0-9a-f]{24}$")


def utc_now() -> datetime:
    return stores().clock()


class SharedBillingStatement(ServiceError):
    """A shared-billing sub-account has no balance of its own: its agency's statement covers it."""

    status = 422
    code = "shared_billing"


class StatementRefused(Conflict):
    code = "statement_does_not_reconcile"


def new_statement_id() -> str:
    return "st_" + uuid.uuid4().hex[:24]


def scheduled_statement_id(account_id: str, frequency: str, first: date, last: date) -> str:
    """One id per (account, frequency, period): the item is the claim that sends it once."""
    key = f"{account_id}\x00{frequency}\x00{first.isoformat()}\x00{last.isoformat()}"
    return "st_" + hashlib.sha256(key.encode()).hexdigest()[:24]


def ensure_own_billing(account: Account) -> None:
    if account.billing is Billing.AGENCY and account.agency_id:
        raise SharedBillingStatement(
            f"account {account.account_id!r} draws from agency {account.billing_account_id!r}'s balance: "
            "its usage is on the agency's statement"
        )


def _units(account: Account) -> dict[Category, str]:
    rates = {**get_settings().default_cards.get(account.currency, {}), **account.rates}
    return {category: rate.unit for category, rate in rates.items()}


def _activity(account: Account, role: str, rollups: Iterable[tuple[RollupKey, RollupTotals]]) -> AccountActivity:
    """The account's daily rollups over the period: totals by category and usage cost by day."""
    totals: dict[Category, RollupTotals] = {}
    daily: dict[date, int] = {}
    for key, t in rollups:
        totals.setdefault(key.category, RollupTotals()).add(t)
        if key.category in USAGE_CATEGORIES:
            day = date.fromisoformat(key.bucket)
            daily[day] = daily.get(day, 0) - t.amount_micros
    return AccountActivity(
        account_id=account.account_id,
        name=account.name,
        role=role,
        time_zone=account.time_zone,
        totals=totals,
        daily_cost=daily,
        units=_units(account),
    )


def _card_charges(billing_account_id: str, start: datetime, end: datetime) -> list[CardCharge]:
    payments = stores().payments
    charges: list[CardCharge] = []
    after: dict[str, Any] | None = None
    while True:
        page = payments.page(billing_account_id, start, end, PAYMENT_PAGE, after)
        for p in page.payments:
            if p.status is PaymentStatus.PENDING:
                continue
            charges.append(
                CardCharge(
                    payment_id=p.payment_id,
                    created_at=p.created_at,
                    kind=p.kind.value,
                    status=p.status.value,
                    amount_micros=p.amount_micros,
                    card_brand=p.card_brand,
                    card_last4=p.card_last4,
                    description=p.description,
                    failure_reason=p.failure_reason,
                )
            )
        if page.last_key is None:
            return charges
        after = page.last_key


BOUNDARY_READS = 3  # a transaction committed between the head's read and the days' is read again


def _boundaries(
    billing: Account, first: date, last: date, running: bool, now: datetime
) -> tuple[Boundary, Boundary, Head]:
    """The balance before local day `first`, after day `last` (the head while the period is
    still running) and the head: one consistent read of the head and of every posting day since."""
    ledger, rollups = stores().ledger, stores().rollups
    scope = billing.agency_scope or billing.account_id
    # A posting day may run a day ahead of this clock (another writer's): read one more.
    until = max(now.astimezone(billing.zone).date() + timedelta(days=1), last + timedelta(days=1))
    days_since = [first + timedelta(days=i) for i in range((until - first).days + 1)]
    problem: ChainDoesNotLink | None = None
    for _ in range(BOUNDARY_READS):
        state, days = run_both(
            lambda: ledger.balance(billing.account_id),
            lambda: rollups.balance_days_of(scope, billing.account_id, days_since),
        )
        head = Head(state.seq, state.balance_micros)
        try:
            opening = boundary_before(first, head.seq, head.balance_micros, days)
            after = last + timedelta(days=1)
            closing = (
                Boundary(after, head.balance_micros, head.seq)
                if running
                else boundary_before(after, head.seq, head.balance_micros, [d for d in days if d.day >= after])
            )
            return opening, closing, head
        except ChainDoesNotLink as exc:
            problem = exc
    raise StatementDoesNotReconcile(f"the balance's posting days do not link up: {problem}")


def _own_billing(
    subs: Sequence[Account],
    rollups: Mapping[str, list[tuple[RollupKey, RollupTotals]]],
    agency: Account,
    first: date,
    last: date,
    start: datetime,
    closing_at: datetime,
    running: bool,
    now: datetime,
) -> list[OwnBillingAccount]:
    """Sub-accounts with a balance of their own: usage cost, card charges and closing balance
    (at the end of `last` in each one's own zone, as its usage is), read for all at once."""
    if not subs:
        return []
    ids = [a.account_id for a in subs]
    until = now.astimezone(UTC).date() + timedelta(days=2)
    heads, days, payments = run_all(
        [
            lambda: stores().ledger.balances(ids, consistent=True),
            lambda: stores().rollups.balance_days_of_scope(agency.account_id, last, until),
            lambda: stores().payments.of_agency(agency.account_id, start, closing_at),
        ]
    )
    assert isinstance(heads, dict) and isinstance(days, list) and isinstance(payments, list)
    days_of: dict[str, list[BalanceDay]] = {}
    for d in days:
        days_of.setdefault(d.billing_account_id, []).append(d)
    paid_by: dict[str, int] = {}
    for p in payments:
        if p.status is PaymentStatus.SUCCEEDED:
            paid_by[p.billing_account_id] = paid_by.get(p.billing_account_id, 0) + p.amount_micros
    result = []
    for account in subs:
        cost = -sum(t.amount_micros for k, t in rollups.get(account.account_id, ()) if k.category in USAGE_CATEGORIES)
        paid = paid_by.get(account.account_id, 0)
        head = heads[account.account_id]
        if running:
            closing = head.balance_micros
        else:
            after = last + timedelta(days=1)
            mine = [d for d in days_of.get(account.account_id, []) if d.day >= after]
            try:
                closing = boundary_before(after, head.seq, head.balance_micros, mine).balance_micros
            except ChainDoesNotLink:  # moved while read: this one alone, consistently
                _, closing_boundary, _ = _boundaries(account, first, last, running, now)
                closing = closing_boundary.balance_micros
        result.append(
            OwnBillingAccount(
                account.account_id, account.name, account.time_zone, cost, paid, closing, currency=account.currency
            )
        )
    return result


def build_numbers(
    account: Account,
    first: date,
    last: date,
    *,
    statement_id: str,
    now: datetime,
    origin: str = "on_demand",
    frequency: str | None = None,
) -> Statement:
    """The statement's numbers for local dates first..last; raises StatementDoesNotReconcile.

    Steps: the period's instants; its facts read side by side (rollups and accounts, boundary
    balances, card charges); the accounts' activity; then the numbers (domain/statements.py)."""
    ensure_own_billing(account)
    period = local_range(first.isoformat(), last.isoformat(), account.time_zone)
    assert period.start is not None and period.end is not None
    closing_at = min(period.end, now)
    running = closing_at < period.end
    days = [BucketRange(DAY, day_bucket(first), day_bucket(last))]
    start = period.start
    billing_id = account.billing_account_id
    # Independent reads side by side: the rollups (and the agency's accounts), the boundary
    # balances, and the card charges of the period.
    read, bounds, charges = run_all(
        [
            lambda: (
                read_agency(account, [days])
                if account.kind is AccountKind.AGENCY
                else AgencyReads([account], [stores().rollups.of_account(scoped(account), days)])
            ),
            lambda: _boundaries(account, first, last, running, now),
            lambda: _card_charges(billing_id, start, closing_at),
        ]
    )
    assert isinstance(read, AgencyReads) and isinstance(bounds, tuple) and isinstance(charges, list)
    members, rollups = read.accounts, read.rollups[0]
    opening, closing, head = bounds
    by_account = _by_account(rollups)
    shared, own = _shared_and_own(account, members[1:])
    inputs = StatementInputs(
        statement_id=statement_id,
        owner=_owner(account),
        first=first,
        last=last,
        start=period.start,
        end=period.end,
        closing_at=closing_at,
        built_at=now,
        opening=opening,
        closing=closing,
        head=head,
        activity=_activities(account, shared, by_account),
        card_charges=charges,
        own_billing=_own_billing(own, by_account, account, first, last, period.start, closing_at, running, now),
        origin=origin,
        frequency=frequency,
        issuer=_issuer(),
    )
    return build_statement(inputs)


def _by_account(
    rollups: Mapping[RollupKey, RollupTotals],
) -> dict[str, list[tuple[RollupKey, RollupTotals]]]:
    """The period's rollups, grouped by the account they are of."""
    by_account: dict[str, list[tuple[RollupKey, RollupTotals]]] = {}
    for key, totals in rollups.items():
        by_account.setdefault(key.account_id, []).append((key, totals))
    return by_account


def _shared_and_own(owner: Account, subs: Sequence[Account]) -> tuple[list[Account], list[Account]]:
    """The sub-accounts that draw from the owner's balance, and those with a balance of their own."""
    shared = [a for a in subs if a.billing_account_id == owner.account_id]
    own = [a for a in subs if a.billing_account_id != owner.account_id]
    return shared, own


def _activities(
    owner: Account, shared: Sequence[Account], by_account: Mapping[str, list[tuple[RollupKey, RollupTotals]]]
) -> list[AccountActivity]:
    """The owner's activity first, then each shared-billing sub-account's."""
    role = "agency" if owner.kind is AccountKind.AGENCY else "account"
    activity = [_activity(owner, role, by_account.get(owner.account_id, ()))]
    activity += [_activity(a, "shared", by_account.get(a.account_id, ())) for a in shared]
    return activity


def _owner(account: Account) -> Owner:
    return Owner(
        account_id=account.account_id,
        name=account.name,
        kind=account.kind.value,
        billing=account.billing.value,
        billing_account_id=account.billing_account_id,
        time_zone=account.time_zone,
        currency=account.currency,
        agency_id=account.agency_id,
    )


def _issuer() -> Issuer:
    """The company block, frozen with the numbers, so a copy fetched later prints what was sent."""
    from ...rendering import company_block

    block = company_block()
    return Issuer(block["name"], tuple(block["address"]), block["tax_id"])


# -- on request ------------------------------------------------------------------------------
