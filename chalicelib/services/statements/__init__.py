"""Printable statements, one module per job: build (the numbers), request (on demand),
read (the stored copies, HTML, PDF) and send (the statements queue).

The public names are re-exported here: routes, handlers and tools import them from
`chalicelib.services.statements`.
"""

from __future__ import annotations

from .build import (
    SharedBillingStatement,
    StatementRefused,
    build_numbers,
    ensure_own_billing,
    new_statement_id,
    scheduled_statement_id,
)
from .read import NotReady, get_statement, list_statements, statement_html, statement_pdf
from .request import parse_recipients, parse_request, request_statement
from .send import LEASE, Busy, InvalidMessage, ScheduledRun, SendOutcome, process_message

__all__ = [
    "LEASE",
    "Busy",
    "InvalidMessage",
    "NotReady",
    "ScheduledRun",
    "SendOutcome",
    "SharedBillingStatement",
    "StatementRefused",
    "build_numbers",
    "ensure_own_billing",
    "get_statement",
    "list_statements",
    "new_statement_id",
    "parse_recipients",
    "parse_request",
    "process_message",
    "request_statement",
    "scheduled_statement_id",
    "statement_html",
    "statement_pdf",
]
