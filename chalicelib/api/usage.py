"""Routes: usage events over HTTP, for producers that do not speak SQS."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from ..services import intake
from .auth import jwt_auth
from .http import CORS, api_errors, json_body, principal_of

usage_bp = Blueprint(__name__)


@usage_bp.route("/usage-events", methods=["POST"], authorizer=jwt_auth, cors=CORS)
@api_errors
def post_usage_events() -> Response:
    request = usage_bp.current_request
    result = intake.submit_usage_events(principal_of(request), json_body(request))
    return Response(body=result.as_json(), status_code=202)
