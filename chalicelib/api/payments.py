"""Routes: billing settings, Payment History, adding funds, receipts."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Response

from ..services import billing_settings, payments, receipts
from .auth import jwt_auth
from .http import CORS, api_errors, json_body, parse_limit, principal_of, query_params

payments_bp = Blueprint(__name__)


@payments_bp.route("/accounts/{account_id}/billing-settings", methods=["GET"], authorizer=jwt_auth, cors=CORS)
@api_errors
def get_billing_settings(account_id: str) -> dict[str, Any]:
    return billing_settings.get_billing_settings(principal_of(payments_bp.current_request), account_id)


@payments_bp.route("/accounts/{account_id}/billing-settings", methods=["PUT"], authorizer=jwt_auth, cors=CORS)
@api_errors
def put_billing_settings(account_id: str) -> dict[str, Any]:
    request = payments_bp.current_request
    return billing_settings.put_billing_settings(principal_of(request), account_id, json_body(request))


@payments_bp.route("/accounts/{account_id}/payments", methods=["GET"], authorizer=jwt_auth, cors=CORS)
@api_errors
def list_payments(account_id: str) -> dict[str, Any]:
    request = payments_bp.current_request
    params = query_params(request)
    return payments.list_payments(principal_of(request), account_id, params, parse_limit(params))


@payments_bp.route("/accounts/{account_id}/payments", methods=["POST"], authorizer=jwt_auth, cors=CORS)
@api_errors
def add_funds(account_id: str) -> Response:
    request = payments_bp.current_request
    principal = principal_of(request)
    answer = payments.add_funds(principal, account_id, json_body(request), request.headers.get("idempotency-key"))
    return Response(body=answer.body, status_code=answer.status)


@payments_bp.route(
    "/accounts/{account_id}/payments/{payment_id}/receipt", methods=["GET"], authorizer=jwt_auth, cors=CORS
)
@api_errors
def payment_receipt(account_id: str, payment_id: str) -> Response:
    """The printable receipt (HTML), or its PDF for a request that asks for PDF first (Accept: application/pdf)."""
    request = payments_bp.current_request
    if wants_pdf(request.headers.get("accept")):
        return _pdf(*receipts.receipt_pdf(principal_of(request), account_id, payment_id))
    html = receipts.receipt_html(principal_of(request), account_id, payment_id)
    return Response(body=html, headers={"Content-Type": "text/html; charset=utf-8"})


@payments_bp.route(
    "/accounts/{account_id}/payments/{payment_id}/receipt/pdf", methods=["GET"], authorizer=jwt_auth, cors=CORS
)
@api_errors
def payment_receipt_pdf(account_id: str, payment_id: str) -> Response:
    """application/pdf: the request must accept it (Accept: application/pdf), as API Gateway requires."""
    return _pdf(*receipts.receipt_pdf(principal_of(payments_bp.current_request), account_id, payment_id))


def wants_pdf(accept: str | None) -> bool:
    """Accept names application/pdf, and not HTML before it (a browser's Accept lists text/html first)."""
    types = [part.split(";")[0].strip().lower() for part in (accept or "").split(",")]
    if "application/pdf" not in types:
        return False
    return "text/html" not in types or types.index("application/pdf") < types.index("text/html")


def _pdf(pdf: bytes, filename: str) -> Response:
    return Response(
        body=pdf,
        headers={"Content-Type": "application/pdf", "Content-Disposition": f'inline; filename="{filename}"'},
    )
