"""Routes: Printable Statements (on request and on a schedule)."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Response

from ..services import statement_schedules, statements
from .auth import jwt_auth
from .http import CORS, api_errors, json_body, parse_limit, principal_of, query_params

statements_bp = Blueprint(__name__)


@statements_bp.route("/accounts/{account_id}/statements", methods=["POST"], authorizer=jwt_auth, cors=CORS)
@api_errors
def send_statement(account_id: str) -> Response:
    request = statements_bp.current_request
    principal = principal_of(request)
    body = statements.request_statement(principal, account_id, json_body(request))
    return Response(body=body, status_code=202)


@statements_bp.route("/accounts/{account_id}/statements", methods=["GET"], authorizer=jwt_auth, cors=CORS)
@api_errors
def list_statements(account_id: str) -> dict[str, Any]:
    request = statements_bp.current_request
    params = query_params(request)
    return statements.list_statements(principal_of(request), account_id, params, parse_limit(params))


@statements_bp.route(
    "/accounts/{account_id}/statements/{statement_id}", methods=["GET"], authorizer=jwt_auth, cors=CORS
)
@api_errors
def get_statement(account_id: str, statement_id: str) -> dict[str, Any]:
    return statements.get_statement(principal_of(statements_bp.current_request), account_id, statement_id)


@statements_bp.route(
    "/accounts/{account_id}/statements/{statement_id}/html", methods=["GET"], authorizer=jwt_auth, cors=CORS
)
@api_errors
def statement_html(account_id: str, statement_id: str) -> Response:
    html = statements.statement_html(principal_of(statements_bp.current_request), account_id, statement_id)
    return Response(body=html, headers={"Content-Type": "text/html; charset=utf-8"})


@statements_bp.route(
    "/accounts/{account_id}/statements/{statement_id}/pdf", methods=["GET"], authorizer=jwt_auth, cors=CORS
)
@api_errors
def statement_pdf(account_id: str, statement_id: str) -> Response:
    """application/pdf: the request must accept it (Accept: application/pdf), as API Gateway requires."""
    pdf, filename = statements.statement_pdf(principal_of(statements_bp.current_request), account_id, statement_id)
    return Response(
        body=pdf,
        headers={"Content-Type": "application/pdf", "Content-Disposition": f'inline; filename="{filename}"'},
    )


@statements_bp.route("/accounts/{account_id}/statement-schedule", methods=["GET"], authorizer=jwt_auth, cors=CORS)
@api_errors
def get_statement_schedule(account_id: str) -> dict[str, Any]:
    return statement_schedules.get_schedule(principal_of(statements_bp.current_request), account_id)


@statements_bp.route("/accounts/{account_id}/statement-schedule", methods=["PUT"], authorizer=jwt_auth, cors=CORS)
@api_errors
def put_statement_schedule(account_id: str) -> dict[str, Any]:
    request = statements_bp.current_request
    return statement_schedules.put_schedule(principal_of(request), account_id, json_body(request))
