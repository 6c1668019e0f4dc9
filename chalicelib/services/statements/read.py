"""Reading stored statements: the list, one statement's numbers (as the API speaks), its HTML and PDF.

The stored numbers are checked again before they are shown: a copy that does not add
up is never shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...adapters.statements_repo import StoredStatement
from ...domain.access import Action, Principal
from ...domain.accounts import Billing
from ...domain.money import format_cents, format_micros, format_quantity_micros
from ...domain.periods import format_instant
from ...domain.statement import Statement
from ...domain.statements import StatementDoesNotReconcile, check_statement_arithmetic
from ..access import require
from ..cursors import next_cursor, resume_after
from ..errors import Conflict, NotFound
from ..stores import stores
from .build import STATEMENT_ID, StatementRefused


class NotReady(Conflict):
    code = "statement_not_ready"


def _api_view(statement: Statement) -> dict[str, Any]:
    """A statement as the API speaks it: its stored document, amounts as strings (below)."""
    view = _api_amounts(statement.to_json())
    assert isinstance(view, dict)
    return view


def _api_amounts(value: Any) -> Any:
    """Stored numbers as the API speaks: `x_micros` -> "x": exact decimal string, `x_cents` -> "x_display".

    Keys in sorted order, as the stored document (encoded with sorted keys) reads back."""
    if isinstance(value, list):
        return [_api_amounts(v) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, v in sorted(value.items()):
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
        payer = stores().accounts.get(account.billing_account_id)
        return {
            **header,
            "paid_by": {"account_id": account.billing_account_id, "name": payer.name if payer else None},
            "items": [],
            "next_cursor": None,
        }
    scope, query = f"statements:{account.account_id}", {"list": "newest"}
    page = stores().statements.page(account.account_id, limit, resume_after(scope, query, params.get("cursor")))
    return {
        **header,
        "items": [_list_view(s) for s in page.items],
        "next_cursor": next_cursor(scope, query, page.last_key),
    }


def _stored(principal: Principal, account_id: str, statement_id: str) -> StoredStatement:
    account = require(principal, Action.READ, account_id)
    stored = stores().statements.get(statement_id) if STATEMENT_ID.match(statement_id) else None
    if stored is None or stored.account_id != account.account_id:
        raise NotFound(f"statement {statement_id!r} not found")
    return stored


def _readable(stored: StoredStatement) -> Statement | None:
    """The stored numbers, or None before they are built; a stored document that is not a
    statement is refused."""
    try:
        return stored.numbers
    except StatementDoesNotReconcile as exc:
        raise StatementRefused(f"the stored statement does not reconcile: {exc}") from None


def _numbers(stored: StoredStatement) -> Statement:
    """The stored numbers, checked again: a copy that does not add up is never shown either."""
    statement = _readable(stored)
    if statement is None:
        raise NotReady(f"statement {stored.statement_id!r} has no numbers yet (status {stored.status})")
    try:
        check_statement_arithmetic(statement)
    except StatementDoesNotReconcile as exc:
        raise StatementRefused(f"the stored statement does not reconcile: {exc}") from None
    return statement


def get_statement(principal: Principal, account_id: str, statement_id: str) -> dict[str, Any]:
    stored = _stored(principal, account_id, statement_id)
    view = _list_view(stored)
    view["pdf_sha256"] = stored.pdf_sha256
    statement = _readable(stored)
    view["statement"] = _api_view(statement) if statement is not None else None
    return view


def statement_html(principal: Principal, account_id: str, statement_id: str) -> str:
    from ...statement_render import render_html

    return render_html(_numbers(_stored(principal, account_id, statement_id)))


def statement_pdf(principal: Principal, account_id: str, statement_id: str) -> tuple[bytes, str]:
    from ...statement_render import pdf_filename, render_pdf

    statement = _numbers(_stored(principal, account_id, statement_id))
    return render_pdf(statement), pdf_filename(statement)


# -- sending (the statements queue) ---------------------------------------------------------------
