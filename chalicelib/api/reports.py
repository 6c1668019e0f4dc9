"""Routes: Account Usage, Agency Usage and the Agency Dashboard."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Response

from ..services import reports
from .auth import jwt_auth
from .http import CORS, api_errors, principal_of, query_params, wants_csv

reports_bp = Blueprint(__name__)


def _csv(report: dict[str, Any], name: str) -> Response:
    return Response(
        body=reports.usage_csv(report),
        headers={"Content-Type": "text/csv; charset=utf-8", "Content-Disposition": f'attachment; filename="{name}"'},
    )


@reports_bp.route("/accounts/{account_id}/usage", methods=["GET"], authorizer=jwt_auth, cors=CORS)
@api_errors
def account_usage(account_id: str) -> Response | dict[str, Any]:
    request = reports_bp.current_request
    params = query_params(request)
    report = reports.account_usage(principal_of(request), account_id, params)
    return _csv(report, f"usage-{account_id}.csv") if wants_csv(params) else report


@reports_bp.route("/agencies/{agency_id}/usage", methods=["GET"], authorizer=jwt_auth, cors=CORS)
@api_errors
def agency_usage(agency_id: str) -> Response | dict[str, Any]:
    request = reports_bp.current_request
    params = query_params(request)
    csv = wants_csv(params)
    report = reports.agency_usage(principal_of(request), agency_id, params, every_account=csv)
    return _csv(report, f"usage-{agency_id}.csv") if csv else report


@reports_bp.route("/agencies/{agency_id}/dashboard", methods=["GET"], authorizer=jwt_auth, cors=CORS)
@api_errors
def agency_dashboard(agency_id: str) -> dict[str, Any]:
    request = reports_bp.current_request
    return reports.agency_dashboard(principal_of(request), agency_id, query_params(request))


@reports_bp.route("/agencies/{agency_id}/accounts", methods=["GET"], authorizer=jwt_auth, cors=CORS)
@api_errors
def agency_accounts(agency_id: str) -> dict[str, Any]:
    request = reports_bp.current_request
    return reports.agency_account_list(principal_of(request), agency_id, query_params(request))
