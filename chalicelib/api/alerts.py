"""Routes: usage alerts of an account and of an agency, their firings, and what needs attention."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Response

from ..services import attention, usage_alerts
from .auth import jwt_auth
from .http import CORS, api_errors, json_body, parse_limit, principal_of, query_params

alerts_bp = Blueprint(__name__)

ACCOUNT = "/accounts/{account_id}/usage-alerts"
AGENCY = "/agencies/{agency_id}/usage-alerts"


# -- an account's own usage ------------------------------------------------------------------------
@alerts_bp.route(ACCOUNT, methods=["POST"], authorizer=jwt_auth, cors=CORS)
@api_errors
def create_usage_alert(account_id: str) -> Response:
    request = alerts_bp.current_request
    body = usage_alerts.create_alert(principal_of(request), account_id, json_body(request), agency=False)
    return Response(body=body, status_code=201)


@alerts_bp.route(ACCOUNT, methods=["GET"], authorizer=jwt_auth, cors=CORS)
@api_errors
def list_usage_alerts(account_id: str) -> dict[str, Any]:
    request = alerts_bp.current_request
    params = query_params(request)
    return usage_alerts.list_alerts(principal_of(request), account_id, params, parse_limit(params), agency=False)


@alerts_bp.route(ACCOUNT + "/{alert_id}", methods=["GET"], authorizer=jwt_auth, cors=CORS)
@api_errors
def get_usage_alert(account_id: str, alert_id: str) -> dict[str, Any]:
    return usage_alerts.get_alert(principal_of(alerts_bp.current_request), account_id, alert_id, agency=False)


@alerts_bp.route(ACCOUNT + "/{alert_id}", methods=["PUT"], authorizer=jwt_auth, cors=CORS)
@api_errors
def update_usage_alert(account_id: str, alert_id: str) -> dict[str, Any]:
    request = alerts_bp.current_request
    return usage_alerts.update_alert(principal_of(request), account_id, alert_id, json_body(request), agency=False)


@alerts_bp.route(ACCOUNT + "/{alert_id}", methods=["DELETE"], authorizer=jwt_auth, cors=CORS)
@api_errors
def delete_usage_alert(account_id: str, alert_id: str) -> Response:
    usage_alerts.delete_alert(principal_of(alerts_bp.current_request), account_id, alert_id, agency=False)
    return Response(body="", status_code=204)


@alerts_bp.route(ACCOUNT + "/{alert_id}/firings", methods=["GET"], authorizer=jwt_auth, cors=CORS)
@api_errors
def list_usage_alert_firings(account_id: str, alert_id: str) -> dict[str, Any]:
    request = alerts_bp.current_request
    params = query_params(request)
    return usage_alerts.list_firings(
        principal_of(request), account_id, alert_id, params, parse_limit(params), agency=False
    )


# -- an agency's total, or each of its sub-accounts -------------------------------------------------
@alerts_bp.route(AGENCY, methods=["POST"], authorizer=jwt_auth, cors=CORS)
@api_errors
def create_agency_usage_alert(agency_id: str) -> Response:
    request = alerts_bp.current_request
    body = usage_alerts.create_alert(principal_of(request), agency_id, json_body(request), agency=True)
    return Response(body=body, status_code=201)


@alerts_bp.route(AGENCY, methods=["GET"], authorizer=jwt_auth, cors=CORS)
@api_errors
def list_agency_usage_alerts(agency_id: str) -> dict[str, Any]:
    request = alerts_bp.current_request
    params = query_params(request)
    return usage_alerts.list_alerts(principal_of(request), agency_id, params, parse_limit(params), agency=True)


@alerts_bp.route(AGENCY + "/{alert_id}", methods=["GET"], authorizer=jwt_auth, cors=CORS)
@api_errors
def get_agency_usage_alert(agency_id: str, alert_id: str) -> dict[str, Any]:
    return usage_alerts.get_alert(principal_of(alerts_bp.current_request), agency_id, alert_id, agency=True)


@alerts_bp.route(AGENCY + "/{alert_id}", methods=["PUT"], authorizer=jwt_auth, cors=CORS)
@api_errors
def update_agency_usage_alert(agency_id: str, alert_id: str) -> dict[str, Any]:
    request = alerts_bp.current_request
    return usage_alerts.update_alert(principal_of(request), agency_id, alert_id, json_body(request), agency=True)


@alerts_bp.route(AGENCY + "/{alert_id}", methods=["DELETE"], authorizer=jwt_auth, cors=CORS)
@api_errors
def delete_agency_usage_alert(agency_id: str, alert_id: str) -> Response:
    usage_alerts.delete_alert(principal_of(alerts_bp.current_request), agency_id, alert_id, agency=True)
    return Response(body="", status_code=204)


@alerts_bp.route(AGENCY + "/{alert_id}/firings", methods=["GET"], authorizer=jwt_auth, cors=CORS)
@api_errors
def list_agency_usage_alert_firings(agency_id: str, alert_id: str) -> dict[str, Any]:
    request = alerts_bp.current_request
    params = query_params(request)
    principal = principal_of(request)
    return usage_alerts.list_firings(principal, agency_id, alert_id, params, parse_limit(params), agency=True)


# -- the agency's clients that need attention --------------------------------------------------------
@alerts_bp.route("/agencies/{agency_id}/attention", methods=["GET"], authorizer=jwt_auth, cors=CORS)
@api_errors
def agency_attention(agency_id: str) -> dict[str, Any]:
    return attention.agency_attention(principal_of(alerts_bp.current_request), agency_id)
