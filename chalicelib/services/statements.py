"""Printable statements: build (from rollups, payments and boundary balances), store, send, read.

`build_numbers` gathers what a statement needs without reading the entries of the
period (see domain/statements.py for the reconciliation basis): the daily rollups
of the period (point reads for an account; for an agency, one query per partition
and shard for all its accounts at once, beside the read of its accounts); the card
charges of the period (one Query per 500); the balance head with the posting days
since the period began (the boundary balances); and for an agency's own-billing
sub-accounts, their heads and posting days in one read for all, and their payments.

Sending is at least once from the queue and exactly once per statement: the
sender takes a lease on the statement item (a conditional update) before it builds
or sends, and marks it sent with SES's message id under the same lease. A sender
that dies between the claim and the send leaves a lease that expires; the queue's
retry then takes it over. (A crash after SES accepted the message but before it
was marked sent is the one case that sends twice: SES has no idempotency key.)
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from ..adapters.accounts_repo import AccountRepository
from ..adapters.concurrency import run_all, run_both
from ..adapters.ledger_repo import LedgerRepository
from ..adapters.payments_repo import PaymentRepository
from ..adapters.rollups_repo import RollupRepository
from ..adapters.statements_repo import Claim, ScheduleRepository, StatementRepository, StoredStatement
from ..config import get_settings
from ..domain.access import Action, Principal
from ..domain.accounts import Account, AccountKind, Billing, is_email_address
from ..domain.balance_days import BalanceDay, Boundary, ChainDoesNotLink, boundary_before
from ..domain.categories import USAGE_CATEGORIES, Category
from ..domain.money import format_cents, format_micros, format_quantity_micros
from ..domain.payments import PaymentStatus
from ..domain.periods import PeriodError, format_instant, local_range, parse_instant
from ..domain.reports import BucketRange
from ..domain.rollups import DAY, RollupKey, RollupTotals, day_bucket
from ..domain.statement_schedule import DEFAULT_HOUR, Cadence, Frequency, period_end, period_for_run
from ..domain.statements import (
    MAX_RECIPIENTS,
    MAX_STATEMENT_DAYS,
    AccountActivity,
    CardCharge,
    Head,
    OwnBillingAccount,
    Owner,
    StatementDoesNotReconcile,
    StatementInputs,
    build_statement,
    check_reconciles,
)
from ..observability import get_logger, record_statement_sent
from .accounts import require
from .cursors import next_cursor, resume_after
from .errors import BadRequest, Conflict, NotFound, ServiceError, Unavailable
from .reports import AgencyReads, read_agency, scoped

LEASE = timedelta(minutes=5)
PAYMENT_PAGE = 500
_STATEMENT_ID = re.compile(r"^st_[0-9a-f]{24}$")
Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


class SharedBillingStatement(ServiceError):
    """A shared-billing sub-account has no balance of its own: its agency's statement covers it."""

    status = 422
    code = "shared_billing"


class StatementRefused(Conflict):
    code = "statement_does_not_reconcile"


class NotReady(Conflict):
    code = "statement_not_ready"


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


# -- building -----------------------------------------------------------------------------------


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
    payments = PaymentRepository()
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
    ledger, rollups = LedgerRepository(), RollupRepository()
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
            lambda: LedgerRepository().balances(ids, consistent=True),
            lambda: RollupRepository().balance_days_of_scope(agency.account_id, last, until),
            lambda: PaymentRepository().of_agency(agency.account_id, start, closing_at),
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
) -> dict[str, Any]:
    """The statement's numbers for local dates first..last; raises StatementDoesNotReconcile."""
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
                else AgencyReads([account], [RollupRepository().of_account(scoped(account), days)])
            ),
            lambda: _boundaries(account, first, last, running, now),
            lambda: _card_charges(billing_id, start, closing_at),
        ]
    )
    assert isinstance(read, AgencyReads) and isinstance(bounds, tuple) and isinstance(charges, list)
    members, rollups = read.accounts, read.rollups[0]
    opening, closing, head = bounds
    by_account: dict[str, list[tuple[RollupKey, RollupTotals]]] = {}
    for key, totals in rollups.items():
        by_account.setdefault(key.account_id, []).append((key, totals))
    subs = members[1:]
    shared = [a for a in subs if a.billing_account_id == account.account_id]
    own = [a for a in subs if a.billing_account_id != account.account_id]

    role = "agency" if account.kind is AccountKind.AGENCY else "account"
    activity = [_activity(account, role, by_account.get(account.account_id, ()))]
    activity += [_activity(a, "shared", by_account.get(a.account_id, ())) for a in shared]
    inputs = StatementInputs(
        statement_id=statement_id,
        owner=Owner(
            account_id=account.account_id,
            name=account.name,
            kind=account.kind.value,
            billing=account.billing.value,
            billing_account_id=billing_id,
            time_zone=account.time_zone,
            currency=account.currency,
            agency_id=account.agency_id,
        ),
        first=first,
        last=last,
        start=period.start,
        end=period.end,
        closing_at=closing_at,
        built_at=now,
        opening=opening,
        closing=closing,
        head=head,
        activity=activity,
        card_charges=charges,
        own_billing=_own_billing(own, by_account, account, first, last, period.start, closing_at, running, now),
        origin=origin,
        frequency=frequency,
    )
    from ..rendering import company_block

    # The company block is frozen with the numbers, so a copy fetched later prints what was sent.
    return {**build_statement(inputs), "issuer": company_block()}


# -- on request ------------------------------------------------------------------------------


def parse_recipients(value: object, *, allow_empty: bool = False) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest("recipients must be a list of email addresses")
    unique: list[str] = []
    seen: set[str] = set()
    for address in value:
        address = address.strip()
        if not is_email_address(address):
            raise BadRequest(f"recipients: not a valid email address: {address!r}")
        if address.lower() not in seen:
            seen.add(address.lower())
            unique.append(address)
    low = 0 if allow_empty else 1
    if not low <= len(unique) <= MAX_RECIPIENTS:
        raise BadRequest(f"recipients must hold {low} to {MAX_RECIPIENTS} addresses")
    return unique


def parse_request(body: object, account: Account, now: datetime) -> tuple[date, date, list[str]]:
    """{from, to, recipients}: local dates of the account (`to` inclusive, not after today)."""
    if not isinstance(body, dict):
        raise BadRequest('body must be {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD", "recipients": ["..."]}')
    unknown = set(body) - {"from", "to", "recipients"}
    if unknown:
        raise BadRequest(f"unknown fields: {', '.join(sorted(map(str, unknown)))}")
    for name in ("from", "to", "recipients"):
        if name not in body:
            raise BadRequest(f"{name} is required")
    if not isinstance(body["from"], str) or not isinstance(body["to"], str):
        raise BadRequest("from and to must be dates YYYY-MM-DD")
    try:
        period = local_range(body["from"], body["to"], account.time_zone)
    except PeriodError as exc:
        raise BadRequest(str(exc)) from None
    assert period.first is not None and period.last is not None
    if (period.last - period.first).days + 1 > MAX_STATEMENT_DAYS:
        raise BadRequest(f"a statement covers at most {MAX_STATEMENT_DAYS} days")
    today = now.astimezone(ZoneInfo(account.time_zone)).date()
    if period.last > today:
        raise BadRequest(f"to must not be after today ({today.isoformat()} in {account.time_zone})")
    return period.first, period.last, parse_recipients(body["recipients"])


def request_statement(principal: Principal, account_id: str, body: object, clock: Clock = _now) -> dict[str, Any]:
    """POST /accounts/{id}/statements: build it now (refused if it does not add up), send it from the queue."""
    from ..adapters.statement_queue import send_statement_messages
    from ..domain.rate_limit import SEND_STATEMENT
    from .rate_limits import enforce as enforce_rate_limit

    account = require(principal, Action.ADMIN, account_id)
    ensure_own_billing(account)
    now = clock()
    first, last, recipients = parse_request(body, account, now)
    # Per-account abuse limit (429 + Retry-After), counted once the request is valid.
    enforce_rate_limit(SEND_STATEMENT, account.account_id)
    statement_id = new_statement_id()
    try:
        doc = build_numbers(account, first, last, statement_id=statement_id, now=now)
    except StatementDoesNotReconcile as exc:
        get_logger().error("statement refused", extra={"account_id": account_id, "reason": str(exc)})
        raise StatementRefused(f"the statement does not reconcile and was not sent: {exc}") from None
    StatementRepository().create_built(
        statement_id=statement_id,
        account_id=account.account_id,
        doc=doc,
        recipients=recipients,
        requested_by=principal.subject,
        now=now,
    )
    try:
        send_statement_messages([{"type": "send", "statement_id": statement_id}])
    except Exception as exc:
        raise Unavailable(f"the statement was built but could not be queued for sending: {exc}") from None
    return {"statement_id": statement_id, "status": "queued"}


# -- reading ------------------------------------------------------------------------------------


def _api_amounts(value: Any) -> Any:
    """Stored numbers as the API speaks: `x_micros` -> "x": exact decimal string, `x_cents` -> "x_display"."""
    if isinstance(value, list):
        return [_api_amounts(v) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, v in value.items():
        if key == "quantity_micros" and isinstance(v, int):
            out["quantity"] = format_quantity_micros(v)
        elif key.endswith("_micros") and isinstance(v, int):
            out[key.removesuffix("_micros")] = format_micros(v)
        elif key.endswith("_cents") and isinstance(v, int):
            out[key.removesuffix("_cents") + "_display"] = format_cents(v * 10_000)
        else:
            out[key] = _api_amounts(v)
    return out


def _list_view(s: StoredStatement) -> dict[str, Any]:
    return {
        "id": s.statement_id,
        "account_id": s.account_id,
        "from": s.period_first,
        "to": s.period_last,
        "origin": s.origin,
        "frequency": s.frequency,
        "status": s.status,
        "recipients": list(s.recipients),
        "created_at": format_instant(s.created_at),
        "built_at": format_instant(s.built_at) if s.built_at else None,
        "sent_at": format_instant(s.sent_at) if s.sent_at else None,
        "ses_message_id": s.ses_message_id,
        "currency": s.currency,
        "opening_balance": None if s.opening_balance_micros is None else format_micros(s.opening_balance_micros),
        "closing_balance": None if s.closing_balance_micros is None else format_micros(s.closing_balance_micros),
        # As the statement prints them: to the cent, half-up (the exact amounts are above).
        "opening_balance_display": None if s.opening_balance_micros is None else format_cents(s.opening_balance_micros),
        "closing_balance_display": None if s.closing_balance_micros is None else format_cents(s.closing_balance_micros),
        "error": s.last_error if s.status in ("failed", "refused") else None,
    }


def list_statements(principal: Principal, account_id: str, params: Mapping[str, str], limit: int) -> dict[str, Any]:
    account = require(principal, Action.READ, account_id)
    header: dict[str, Any] = {
        "account_id": account.account_id,
        "billing": account.billing.value,
        "billing_account_id": account.billing_account_id,
        "time_zone": account.time_zone,
    }
    if account.billing is Billing.AGENCY and account.agency_id:
        payer = AccountRepository().get(account.billing_account_id)
        return {
            **header,
            "paid_by": {"account_id": account.billing_account_id, "name": payer.name if payer else None},
            "items": [],
            "next_cursor": None,
        }
    scope, query = f"statements:{account.account_id}", {"list": "newest"}
    page = StatementRepository().page(account.account_id, limit, resume_after(scope, query, params.get("cursor")))
    return {
        **header,
        "items": [_list_view(s) for s in page.items],
        "next_cursor": next_cursor(scope, query, page.last_key),
    }


def _stored(principal: Principal, account_id: str, statement_id: str) -> StoredStatement:
    account = require(principal, Action.READ, account_id)
    stored = StatementRepository().get(statement_id) if _STATEMENT_ID.match(statement_id) else None
    if stored is None or stored.account_id != account.account_id:
        raise NotFound(f"statement {statement_id!r} not found")
    return stored


def _numbers(stored: StoredStatement) -> dict[str, Any]:
    """The stored numbers, checked again: a copy that does not add up is never shown either."""
    if stored.numbers is None:
        raise NotReady(f"statement {stored.statement_id!r} has no numbers yet (status {stored.status})")
    try:
        check_reconciles(stored.numbers)
    except StatementDoesNotReconcile as exc:
        raise StatementRefused(f"the stored statement does not reconcile: {exc}") from None
    return stored.numbers


def get_statement(principal: Principal, account_id: str, statement_id: str) -> dict[str, Any]:
    stored = _stored(principal, account_id, statement_id)
    view = _list_view(stored)
    view["pdf_sha256"] = stored.pdf_sha256
    view["statement"] = _api_amounts(stored.numbers) if stored.numbers is not None else None
    return view


def statement_html(principal: Principal, account_id: str, statement_id: str) -> str:
    from ..statement_render import render_html

    return render_html(_numbers(_stored(principal, account_id, statement_id)))


def statement_pdf(principal: Principal, account_id: str, statement_id: str) -> tuple[bytes, str]:
    from ..statement_render import pdf_filename, render_pdf

    doc = _numbers(_stored(principal, account_id, statement_id))
    return render_pdf(doc), pdf_filename(doc)


# -- sending (the statements queue) ---------------------------------------------------------------


class SendOutcome(StrEnum):
    SENT = "sent"
    ALREADY_DONE = "already_done"  # sent (or finally failed/refused) by an earlier delivery
    REFUSED = "refused"  # did not reconcile: recorded, never sent
    FAILED = "failed"  # SES or the address refused it for good: recorded
    SKIPPED = "skipped"  # the schedule was switched off or changed, or the account cannot have one


class Busy(Exception):
    """Another sender holds the lease: let the queue retry later."""


class InvalidMessage(ValueError):
    pass


@dataclass(frozen=True)
class ScheduledRun:
    account_id: str
    cadence: Cadence
    time_zone: str
    scheduled_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "scheduled",
            "account_id": self.account_id,
            "frequency": self.cadence.frequency.value,
            "weekday": self.cadence.weekday,
            "day_of_month": self.cadence.day_of_month,
            "hour": self.cadence.hour,
            "time_zone": self.time_zone,
            "scheduled_at": format_instant(self.scheduled_at),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScheduledRun:
        try:
            weekday, day_of_month = data.get("weekday"), data.get("day_of_month")
            cadence = Cadence(
                Frequency(str(data["frequency"])),
                None if weekday is None else int(weekday),
                None if day_of_month is None else int(day_of_month),
                int(data.get("hour", DEFAULT_HOUR)),  # a message queued before runs had an hour: 06:00
            )
            ZoneInfo(str(data["time_zone"]))
            return cls(
                str(data["account_id"]), cadence, str(data["time_zone"]), parse_instant(str(data["scheduled_at"]))
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidMessage(f"not a scheduled run: {exc}") from None

    @property
    def period(self) -> tuple[date, date]:
        return period_for_run(self.cadence, ZoneInfo(self.time_zone), self.scheduled_at)

    @property
    def period_end(self) -> datetime:
        return period_end(self.cadence, ZoneInfo(self.time_zone), self.scheduled_at)


Sender = Callable[..., str]


def process_message(body: str, clock: Clock = _now, send: Sender | None = None) -> SendOutcome:
    """One queue message: build (if needed) and send the statement it names, once."""
    try:
        data = json.loads(body)
    except ValueError:
        raise InvalidMessage("not JSON") from None
    if not isinstance(data, dict):
        raise InvalidMessage("not a JSON object")
    if data.get("type") == "send":
        statement_id = str(data.get("statement_id", ""))
        if not _STATEMENT_ID.match(statement_id):
            raise InvalidMessage("statement_id is not a statement id")
        return _send_built(statement_id, clock, send)
    if data.get("type") == "scheduled":
        return _send_scheduled(ScheduledRun.from_json(data), clock, send)
    raise InvalidMessage(f"unknown message type {data.get('type')!r}")


def _not_claimed(statements: StatementRepository, statement_id: str) -> SendOutcome:
    stored = statements.get(statement_id)
    if stored is None:
        raise InvalidMessage(f"statement {statement_id} does not exist")
    if stored.status in ("sent", "failed", "refused"):
        return SendOutcome.ALREADY_DONE
    raise Busy(f"statement {statement_id} is being sent by another worker")


def _send_built(statement_id: str, clock: Clock, send: Sender | None) -> SendOutcome:
    statements = StatementRepository()
    claim = statements.claim(statement_id, token=uuid.uuid4().hex, now=clock(), lease=LEASE)
    if claim is None:
        return _not_claimed(statements, statement_id)
    assert claim.statement.numbers is not None
    return _deliver(statements, claim, claim.statement.numbers, clock, send)


def _send_scheduled(run: ScheduledRun, clock: Clock, send: Sender | None) -> SendOutcome:
    log = get_logger()
    schedule = ScheduleRepository().get(run.account_id)
    if schedule is None or not schedule.enabled or schedule.cadence != run.cadence:
        log.info("scheduled statement skipped: schedule off or changed", extra=run.to_json())
        return SendOutcome.SKIPPED
    account = AccountRepository().get(run.account_id)
    if account is None or (account.billing is Billing.AGENCY and account.agency_id):
        log.info("scheduled statement skipped: no account or shared billing", extra=run.to_json())
        return SendOutcome.SKIPPED
    first, last = run.period
    frequency = run.cadence.frequency.value
    statement_id = scheduled_statement_id(run.account_id, frequency, first, last)
    statements = StatementRepository()
    now = clock()
    if run.period_end > now:  # a run named ahead of time (a pretended tick): never a period still running
        log.info("scheduled statement skipped: its period has not ended", extra=run.to_json())
        return SendOutcome.SKIPPED
    claim = statements.claim(
        statement_id,
        token=uuid.uuid4().hex,
        now=now,
        lease=LEASE,
        new={
            "account_id": run.account_id,
            "origin": "scheduled",
            "frequency": frequency,
            "period_first": first.isoformat(),
            "period_last": last.isoformat(),
            "recipients": list(schedule.recipients),
        },
    )
    if claim is None:
        return _not_claimed(statements, statement_id)
    doc = claim.statement.numbers
    if doc is None:  # the first attempt builds; a retry after a crash reuses what it froze
        try:
            doc = build_numbers(
                account, first, last, statement_id=statement_id, now=now, origin="scheduled", frequency=frequency
            )
        except StatementDoesNotReconcile as exc:
            log.error("scheduled statement refused", extra={**run.to_json(), "reason": str(exc)})
            statements.finish(claim, "refused", clock(), error=str(exc))
            return SendOutcome.REFUSED
        if not statements.save_numbers(claim, doc, now):
            raise Busy(f"statement {statement_id}: the lease was lost while building")
    return _deliver(statements, claim, doc, clock, send)


def _deliver(
    statements: StatementRepository, claim: Claim, doc: Mapping[str, Any], clock: Clock, send: Sender | None
) -> SendOutcome:
    """Render and send under the lease; record the outcome."""
    from botocore.exceptions import ClientError

    from ..adapters.email import Attachment, send_email
    from ..statement_render import render_email

    try:
        check_reconciles(doc)
    except StatementDoesNotReconcile as exc:
        statements.finish(claim, "refused", clock(), error=str(exc))
        return SendOutcome.REFUSED
    rendered = render_email(doc)
    sender = send or send_email
    try:
        message_id = sender(
            to=list(claim.statement.recipients),
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            attachments=[Attachment(rendered.filename, "application/pdf", rendered.pdf)],
        )
    except ValueError as exc:  # an address or the message itself can never be sent
        statements.finish(claim, "failed", clock(), error=str(exc))
        return SendOutcome.FAILED
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("MessageRejected", "MailFromDomainNotVerifiedException", "BadRequestException"):
            statements.finish(claim, "failed", clock(), error=f"{code}: {exc}")
            return SendOutcome.FAILED
        statements.release(claim, clock(), f"{code}: {exc}")
        raise
    except Exception as exc:
        statements.release(claim, clock(), repr(exc))
        raise
    record_statement_sent()
    from .notifications import notify_statement_sent

    notify_statement_sent(claim.statement)
    if not statements.finish(claim, "sent", clock(), ses_message_id=message_id, pdf_sha256=rendered.pdf_sha256):
        get_logger().warning(
            "statement sent after its lease expired", extra={"statement_id": claim.statement.statement_id}
        )
    return SendOutcome.SENT
