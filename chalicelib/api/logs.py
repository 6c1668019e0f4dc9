"""Routes: the Logs pages (account and agency), JSON pages or CSV."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Response

from ..services import logs
from .auth import jwt_auth
from .http import CORS, api_errors, parse_limit, principal_of, query_params, wants_csv

logs_bp = Blueprint(__name__)


def _respond(page_or_csv: logs.LogPage | str, filename: str) -> Response | dict[str, Any]:
    if isinstance(page_or_csv, str):
        return Response(
            body=page_or_csv,
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": f'attachment; filename="{filename}"',
            },
        )
    return {"items": page_or_csv.rows, "next_cursor": page_or_csv.next_cursor, "time_zone": page_or_csv.time_zone}


@logs_bp.route("/accounts/{account_id}/logs", methods=["GET"], authorizer=jwt_auth, cors=CORS)
@api_errors
def account_logs(account_id: str) -> Response | dict[str, Any]:
    request = logs_bp.current_request
    principal, params = principal_of(request), query_params(request)
    if wants_csv(params):
        return _respond(logs.account_logs_csv(principal, account_id, params), f"logs-{account_id}.csv")
    return _respond(logs.account_logs(principal, account_id, params, parse_limit(params)), "")


@logs_bp.route("/agencies/{agency_id}/logs", methods=["GET"], authorizer=jwt_auth, cors=CORS)
@api_errors
def agency_logs(agency_id: str) -> Response | dict[str, Any]:
    request = logs_bp.current_request
    principal, params = principal_of(request), query_params(request)
    if wants_csv(params):
        return _respond(logs.agency_logs_csv(principal, agency_id, params), f"logs-{agency_id}.csv")
    return _respond(logs.agency_logs(principal, agency_id, params, parse_limit(params)), "")
