"""A statement on request (POST /accounts/{id}/statements): checked, built now, sent from the queue."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ...domain.access import Action, Principal
from ...domain.accounts import Account, is_email_address
from ...domain.periods import PeriodError, local_range
from ...domain.statements import MAX_RECIPIENTS, MAX_STATEMENT_DAYS, StatementDoesNotReconcile
from ...observability import get_logger
from ..access import require
from ..errors import BadRequest, Unavailable
from ..ports import Clock
from ..stores import stores
from .build import StatementRefused, build_numbers, ensure_own_billing, new_statement_id, utc_now


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


def request_statement(principal: Principal, account_id: str, body: object, clock: Clock = utc_now) -> dict[str, Any]:
    """POST /accounts/{id}/statements: build it now (refused if it does not add up), send it from the queue."""
    from ...domain.rate_limit import SEND_STATEMENT
    from ..rate_limits import enforce as enforce_rate_limit

    account = require(principal, Action.ADMIN, account_id)
    ensure_own_billing(account)
    now = clock()
    first, last, recipients = parse_request(body, account, now)
    # Per-account abuse limit (429 + Retry-After), counted once the request is valid.
    enforce_rate_limit(SEND_STATEMENT, account.account_id)
    statement_id = new_statement_id()
    try:
        statement = build_numbers(account, first, last, statement_id=statement_id, now=now)
    except StatementDoesNotReconcile as exc:
        get_logger().error("statement refused", extra={"account_id": account_id, "reason": str(exc)})
        raise StatementRefused(f"the statement does not reconcile and was not sent: {exc}") from None
    stores().statements.create_built(
        statement_id=statement_id,
        account_id=account.account_id,
        statement=statement,
        recipients=recipients,
        requested_by=principal.subject,
        now=now,
    )
    try:
        stores().queues.send_statements([{"type": "send", "statement_id": statement_id}])
    except Exception as exc:
        raise Unavailable(f"the statement was built but could not be queued for sending: {exc}") from None
    return {"statement_id": statement_id, "status": "queued"}


# -- reading ------------------------------------------------------------------------------------
