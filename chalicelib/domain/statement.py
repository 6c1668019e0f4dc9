"""The statement as a typed value: frozen, money as integer micro-units (and the cents printed).

`build_statement` (domain/statements.py) makes one; `check_statement_arithmetic` proves it
adds up; the renderers print it. `to_json`/`from_json` are its stored document (version 1),
read and written only where it is stored (adapters/statements_repo.py) and where reconcile
checks the stored bytes: `Statement.from_json(doc).to_json() == doc` for every document
ever stored, so the document's seal and the API's JSON stay what they were.

Two parts may be absent from a document stored before they were kept: the company block
(`issuer`) and an own-billing row's `currency`; None stands for "absent" and is written back
as absent. A document that is not a statement raises StatementDoesNotReconcile ("incomplete").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from .periods import format_instant, parse_instant

T = TypeVar("T")
Json = dict[str, Any]


class StatementDoesNotReconcile(Exception):
    """The numbers (or the ledger chain they come from) do not add up: never sent."""


# -- reading a stored document: strict about types, so a bad one is refused, not half-read ------


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"not an integer: {value!r}")
    return value


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"not a string: {value!r}")
    return value


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"not a boolean: {value!r}")
    return value


def _opt_str(value: object) -> str | None:
    return None if value is None else _str(value)


def _list(value: object, item: Callable[[Mapping[str, Any]], T]) -> tuple[T, ...]:
    if not isinstance(value, list):
        raise TypeError(f"not a list: {value!r}")
    return tuple(item(v) for v in value)


def _date(value: object) -> date:
    return date.fromisoformat(_str(value))


def _instant(value: object) -> datetime:
    return parse_instant(_str(value))


# -- the parts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatementAccount:
    """Whose balance the statement is of (the owner), as it was when built."""

    account_id: str
    name: str
    kind: str  # "account" | "agency"
    billing: str  # "own"
    billing_account_id: str
    agency_id: str | None
    time_zone: str
    currency: str

    def to_json(self) -> Json:
        return {
            "account_id": self.account_id,
            "name": self.name,
            "kind": self.kind,
            "billing": self.billing,
            "billing_account_id": self.billing_account_id,
            "agency_id": self.agency_id,
            "time_zone": self.time_zone,
            "currency": self.currency,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> StatementAccount:
        return cls(
            _str(d["account_id"]),
            _str(d["name"]),
            _str(d["kind"]),
            _str(d["billing"]),
            _str(d["billing_account_id"]),
            _opt_str(d["agency_id"]),
            _str(d["time_zone"]),
            _str(d["currency"]),
        )


@dataclass(frozen=True)
class StatementPeriod:
    """Local dates first..last (inclusive) of the owner's zone, and the instants they span."""

    first: date
    last: date
    time_zone: str
    start: datetime
    end: datetime
    closing_at: datetime  # = end, or the build time for a period still running
    in_progress: bool

    def to_json(self) -> Json:
        return {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "time_zone": self.time_zone,
            "start": format_instant(self.start),
            "end": format_instant(self.end),
            "closing_at": format_instant(self.closing_at),
            "in_progress": self.in_progress,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> StatementPeriod:
        return cls(
            _date(d["from"]),
            _date(d["to"]),
            _str(d["time_zone"]),
            _instant(d["start"]),
            _instant(d["end"]),
            _instant(d["closing_at"]),
            _bool(d["in_progress"]),
        )


@dataclass(frozen=True)
class BalanceLine:
    """A credit or a debit between the opening and the closing balance (amounts positive)."""

    key: str  # "recharges" | "usage" | "adjustments" | "posting_difference"
    label: str
    amount_micros: int
    amount_cents: int
    note: str | None = None  # absent from the document when None

    def to_json(self) -> Json:
        line: Json = {"key": self.key, "label": self.label, "amount_micros": self.amount_micros}
        if self.note is not None:
            line["note"] = self.note
        line["amount_cents"] = self.amount_cents
        return line

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> BalanceLine:
        return cls(
            _str(d["key"]), _str(d["label"]), _int(d["amount_micros"]), _int(d["amount_cents"]), _opt_str(d.get("note"))
        )


@dataclass(frozen=True)
class UsageRow:
    """Usage of one category over the period (cost positive)."""

    category: str
    label: str
    unit: str
    count: int
    quantity_micros: int
    amount_micros: int
    amount_cents: int

    def to_json(self) -> Json:
        return {
            "category": self.category,
            "label": self.label,
            "unit": self.unit,
            "count": self.count,
            "quantity_micros": self.quantity_micros,
            "amount_micros": self.amount_micros,
            "amount_cents": self.amount_cents,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> UsageRow:
        return cls(
            _str(d["category"]),
            _str(d["label"]),
            _str(d["unit"]),
            _int(d["count"]),
            _int(d["quantity_micros"]),
            _int(d["amount_micros"]),
            _int(d["amount_cents"]),
        )


@dataclass(frozen=True)
class AccountUsage:
    """One account that draws from the statement's balance: its usage and what it was credited."""

    account_id: str
    name: str
    role: str  # "account" | "agency" (the owner) | "shared" (a sub-account)
    time_zone: str
    usage: tuple[UsageRow, ...]
    usage_total_micros: int
    usage_total_cents: int
    credits_micros: int

    def to_json(self) -> Json:
        return {
            "account_id": self.account_id,
            "name": self.name,
            "role": self.role,
            "time_zone": self.time_zone,
            "usage": [row.to_json() for row in self.usage],
            "usage_total_micros": self.usage_total_micros,
            "usage_total_cents": self.usage_total_cents,
            "credits_micros": self.credits_micros,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> AccountUsage:
        return cls(
            _str(d["account_id"]),
            _str(d["name"]),
            _str(d["role"]),
            _str(d["time_zone"]),
            _list(d["usage"], UsageRow.from_json),
            _int(d["usage_total_micros"]),
            _int(d["usage_total_cents"]),
            _int(d["credits_micros"]),
        )


@dataclass(frozen=True)
class OwnBillingLine:
    """A sub-account with a balance of its own, in its own currency: listed, never added up."""

    account_id: str
    name: str
    time_zone: str
    currency: str | None  # None: a document stored before rows named it (the owner's currency)
    usage_total_micros: int
    usage_total_cents: int
    card_charges_micros: int
    card_charges_cents: int
    closing_balance_micros: int
    closing_balance_cents: int

    def to_json(self) -> Json:
        row: Json = {"account_id": self.account_id, "name": self.name, "time_zone": self.time_zone}
        if self.currency is not None:
            row["currency"] = self.currency
        row |= {
            "usage_total_micros": self.usage_total_micros,
            "usage_total_cents": self.usage_total_cents,
            "card_charges_micros": self.card_charges_micros,
            "card_charges_cents": self.card_charges_cents,
            "closing_balance_micros": self.closing_balance_micros,
            "closing_balance_cents": self.closing_balance_cents,
        }
        return row

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> OwnBillingLine:
        return cls(
            _str(d["account_id"]),
            _str(d["name"]),
            _str(d["time_zone"]),
            _opt_str(d.get("currency")),
            _int(d["usage_total_micros"]),
            _int(d["usage_total_cents"]),
            _int(d["card_charges_micros"]),
            _int(d["card_charges_cents"]),
            _int(d["closing_balance_micros"]),
            _int(d["closing_balance_cents"]),
        )


@dataclass(frozen=True)
class CardChargeLine:
    payment_id: str
    created_at: datetime
    kind: str
    status: str
    amount_micros: int
    amount_cents: int
    card_brand: str
    card_last4: str
    description: str
    failure_reason: str | None

    def to_json(self) -> Json:
        return {
            "payment_id": self.payment_id,
            "created_at": format_instant(self.created_at),
            "kind": self.kind,
            "status": self.status,
            "amount_micros": self.amount_micros,
            "amount_cents": self.amount_cents,
            "card_brand": self.card_brand,
            "card_last4": self.card_last4,
            "description": self.description,
            "failure_reason": self.failure_reason,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CardChargeLine:
        return cls(
            _str(d["payment_id"]),
            _instant(d["created_at"]),
            _str(d["kind"]),
            _str(d["status"]),
            _int(d["amount_micros"]),
            _int(d["amount_cents"]),
            _str(d["card_brand"]),
            _str(d["card_last4"]),
            _str(d["description"]),
            _opt_str(d["failure_reason"]),
        )


@dataclass(frozen=True)
class DailyCost:
    day: date
    cost_micros: int

    def to_json(self) -> Json:
        return {"date": self.day.isoformat(), "cost_micros": self.cost_micros}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> DailyCost:
        return cls(_date(d["date"]), _int(d["cost_micros"]))


@dataclass(frozen=True)
class LedgerChain:
    """The ledger sequence numbers at the two boundaries."""

    opening_seq: int
    closing_seq: int
    entries_posted: int

    def to_json(self) -> Json:
        return {"opening_seq": self.opening_seq, "closing_seq": self.closing_seq, "entries_posted": self.entries_posted}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LedgerChain:
        return cls(_int(d["opening_seq"]), _int(d["closing_seq"]), _int(d["entries_posted"]))


@dataclass(frozen=True)
class Issuer:
    """The company block printed on the statement, frozen with its numbers."""

    name: str
    address: tuple[str, ...]
    tax_id: str | None

    def to_json(self) -> Json:
        return {"name": self.name, "address": list(self.address), "tax_id": self.tax_id}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Issuer:
        address = d["address"]
        if not isinstance(address, list):
            raise TypeError(f"not a list: {address!r}")
        return cls(_str(d["name"]), tuple(_str(line) for line in address), _opt_str(d["tax_id"]))


# -- the statement --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """A statement's numbers. Amounts: `*_micros` exact, `*_cents` as printed (allocated so that
    every printed group adds up to its printed total)."""

    version: int
    statement_id: str
    origin: str  # "on_demand" | "scheduled"
    frequency: str | None
    account: StatementAccount
    period: StatementPeriod
    built_at: datetime
    opening_balance_micros: int
    opening_balance_cents: int
    closing_balance_micros: int
    closing_balance_cents: int
    credits: tuple[BalanceLine, ...]
    debits: tuple[BalanceLine, ...]
    total_credits_micros: int
    total_credits_cents: int
    total_debits_micros: int
    total_debits_cents: int
    posting_difference_micros: int
    usage: tuple[UsageRow, ...]
    usage_total_micros: int
    usage_total_cents: int
    accounts: tuple[AccountUsage, ...]
    own_billing_accounts: tuple[OwnBillingLine, ...]
    card_charges: tuple[CardChargeLine, ...]
    card_charges_total_micros: int
    card_charges_total_cents: int
    daily: tuple[DailyCost, ...]
    chain: LedgerChain
    basis: str
    issuer: Issuer | None = None  # None: a document stored before the company block was printed

    @property
    def currency(self) -> str:
        return self.account.currency

    @property
    def time_zone(self) -> str:
        return self.account.time_zone

    def to_json(self) -> Json:
        doc: Json = {
            "version": self.version,
            "statement_id": self.statement_id,
            "origin": self.origin,
            "frequency": self.frequency,
            "account": self.account.to_json(),
            "period": self.period.to_json(),
            "built_at": format_instant(self.built_at),
            "opening_balance_micros": self.opening_balance_micros,
            "opening_balance_cents": self.opening_balance_cents,
            "closing_balance_micros": self.closing_balance_micros,
            "closing_balance_cents": self.closing_balance_cents,
            "credits": [line.to_json() for line in self.credits],
            "debits": [line.to_json() for line in self.debits],
            "total_credits_micros": self.total_credits_micros,
            "total_credits_cents": self.total_credits_cents,
            "total_debits_micros": self.total_debits_micros,
            "total_debits_cents": self.total_debits_cents,
            "posting_difference_micros": self.posting_difference_micros,
            "usage": [row.to_json() for row in self.usage],
            "usage_total_micros": self.usage_total_micros,
            "usage_total_cents": self.usage_total_cents,
            "accounts": [a.to_json() for a in self.accounts],
            "own_billing_accounts": [o.to_json() for o in self.own_billing_accounts],
            "card_charges": [c.to_json() for c in self.card_charges],
            "card_charges_total_micros": self.card_charges_total_micros,
            "card_charges_total_cents": self.card_charges_total_cents,
            "daily": [d.to_json() for d in self.daily],
            "chain": self.chain.to_json(),
            "basis": self.basis,
        }
        if self.issuer is not None:
            doc["issuer"] = self.issuer.to_json()
        return doc

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Statement:
        """The stored document as a Statement; StatementDoesNotReconcile if it is not one."""
        try:
            issuer = d.get("issuer")
            return cls(
                version=_int(d["version"]),
                statement_id=_str(d["statement_id"]),
                origin=_str(d["origin"]),
                frequency=_opt_str(d["frequency"]),
                account=StatementAccount.from_json(d["account"]),
                period=StatementPeriod.from_json(d["period"]),
                built_at=_instant(d["built_at"]),
                opening_balance_micros=_int(d["opening_balance_micros"]),
                opening_balance_cents=_int(d["opening_balance_cents"]),
                closing_balance_micros=_int(d["closing_balance_micros"]),
                closing_balance_cents=_int(d["closing_balance_cents"]),
                credits=_list(d["credits"], BalanceLine.from_json),
                debits=_list(d["debits"], BalanceLine.from_json),
                total_credits_micros=_int(d["total_credits_micros"]),
                total_credits_cents=_int(d["total_credits_cents"]),
                total_debits_micros=_int(d["total_debits_micros"]),
                total_debits_cents=_int(d["total_debits_cents"]),
                posting_difference_micros=_int(d["posting_difference_micros"]),
                usage=_list(d["usage"], UsageRow.from_json),
                usage_total_micros=_int(d["usage_total_micros"]),
                usage_total_cents=_int(d["usage_total_cents"]),
                accounts=_list(d["accounts"], AccountUsage.from_json),
                own_billing_accounts=_list(d["own_billing_accounts"], OwnBillingLine.from_json),
                card_charges=_list(d["card_charges"], CardChargeLine.from_json),
                card_charges_total_micros=_int(d["card_charges_total_micros"]),
                card_charges_total_cents=_int(d["card_charges_total_cents"]),
                daily=_list(d["daily"], DailyCost.from_json),
                chain=LedgerChain.from_json(d["chain"]),
                basis=_str(d["basis"]),
                issuer=None if issuer is None else Issuer.from_json(issuer),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StatementDoesNotReconcile(f"the statement is incomplete: {exc!r}") from None
