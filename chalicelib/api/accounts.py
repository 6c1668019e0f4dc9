"""Routes: accounts, balances and rates."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Response

from ..services import accounts, balances, rates
from .auth import jwt_auth
from .http import CORS, api_errors, json_body, principal_of, query_params

accounts_bp = Blueprint(__name__)


@accounts_bp.route("/accounts/{account_id}", methods=["PUT"], authorizer=jwt_auth, cors=CORS)
@api_errors
def put_account(account_id: str) -> Response:
    request = accounts_bp.current_request
    account, created = accounts.put_account(principal_of(request), account_id, json_body(request))
    return Response(body=accounts.account_view(account), status_code=201 if created else 200)


@accounts_bp.route("/accounts/{account_id}", methods=["GET"], authorizer=jwt_auth, cors=CORS)
@api_errors
def get_account(account_id: str) -> dict[str, Any]:
    return accounts.get_account(principal_of(accounts_bp.current_request), account_id)


@accounts_bp.route("/accounts/{account_id}/balance", methods=["GET"], authorizer=jwt_auth, cors=CORS)
@api_errors
def get_balance(account_id: str) -> dict[str, Any]:
    return balances.get_balance(principal_of(accounts_bp.current_request), account_id)


@accounts_bp.route("/accounts/{account_id}/rates", methods=["GET"], authorizer=jwt_auth, cors=CORS)
@api_errors
def get_rates(account_id: str) -> dict[str, Any]:
    request = accounts_bp.current_request
    return rates.get_rates(principal_of(request), account_id, query_params(request))


@accounts_bp.route("/accounts/{account_id}/rates", methods=["PUT"], authorizer=jwt_auth, cors=CORS)
@api_errors
def put_rates(account_id: str) -> dict[str, Any]:
    request = accounts_bp.current_request
    return rates.put_rates(principal_of(request), account_id, json_body(request))
