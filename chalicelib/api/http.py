"""Shared HTTP plumbing: the JSON error shape, request parsing, the caller's identity."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chalice.app import CORSConfig, Request, Response

from ..domain.access import Principal, Role
from ..services.errors import BadRequest, ServiceError

CORS = CORSConfig(
    allow_origin="*",
    allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
    max_age=600,
)
MAX_LIMIT = 500
DEFAULT_LIMIT = 50


def error_response(
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    details: list[dict[str, Any]] | None = None,
) -> Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return Response(
        body={"error": error},
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


@dataclass(frozen=True)
class GatewayError:
    """One of API Gateway's own answers (a "gateway response"), in the contract's shape."""

    status: int | None  # None: keep the status API Gateway chose (the DEFAULT_* responses)
    code: str
    message: str
    headers: Mapping[str, str] = field(default_factory=dict)

    def body(self) -> str:
        return json.dumps({"error": {"code": self.code, "message": self.message}}, separators=(",", ":"))


_NO_SUCH_ROUTE = GatewayError(404, "not_found", "no such route")

# What API Gateway answers before (or instead of) the app, by gateway response type.
# Messages are fixed: API Gateway's own texts may quote the Authorization header (an
# unknown route with a bearer token is read as a malformed SigV4 signature, and its
# 403 echoes the header). The template (deploy/template.py) and the local server
# (devtools/local_api.py) both answer from this table.
GATEWAY_ERRORS: dict[str, GatewayError] = {
    "UNAUTHORIZED": GatewayError(
        401, "unauthorized", "missing or invalid bearer token", {"WWW-Authenticate": "Bearer"}
    ),
    # No resource or method there. Without an Authorization header API Gateway calls it a
    # missing token; with one, an incomplete or invalid signature (no route here is
    # signed with SigV4, so these only ever mean an unknown route).
    "MISSING_AUTHENTICATION_TOKEN": _NO_SUCH_ROUTE,
    "INCOMPLETE_SIGNATURE": _NO_SUCH_ROUTE,
    "INVALID_SIGNATURE": _NO_SUCH_ROUTE,
    "EXPIRED_TOKEN": _NO_SUCH_ROUTE,
    "ACCESS_DENIED": GatewayError(403, "forbidden", "access denied"),
    "AUTHORIZER_FAILURE": GatewayError(
        503, "unavailable", "the token could not be checked, retry shortly", {"Retry-After": "1"}
    ),
    "AUTHORIZER_CONFIGURATION_ERROR": GatewayError(500, "internal_error", "the token could not be checked"),
    "THROTTLED": GatewayError(429, "too_many_requests", "too many requests, retry shortly", {"Retry-After": "1"}),
    "REQUEST_TOO_LARGE": GatewayError(413, "too_large", "the request is too large"),
    "INTEGRATION_TIMEOUT": GatewayError(504, "timeout", "the request took too long"),
    "DEFAULT_4XX": GatewayError(None, "bad_request", "the request was refused"),
    "DEFAULT_5XX": GatewayError(None, "internal_error", "internal error"),
}


# API Gateway's answers carry these besides the error's own headers (CORS for the console).
GATEWAY_CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Authorization,Content-Type,Idempotency-Key",
    "Access-Control-Allow-Methods": "GET,POST,PUT,OPTIONS",
}


def gateway_headers(error: GatewayError) -> dict[str, str]:
    """The headers of a gateway response (values as sent, without the template's quotes)."""
    return {**GATEWAY_CORS_HEADERS, **error.headers}


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"


def principal_of(request: Request) -> Principal:
    """The caller, as the authorizer established; 401 when it could not."""
    context = (request.context or {}).get("authorizer") or {}
    if context.get("auth_error"):
        raise Unauthorized(str(context["auth_error"]))
    try:
        exp = int(context["exp"])
        principal = Principal(str(context["principalId"]), str(context["account_id"]), Role(context["role"]))
    except (KeyError, ValueError, TypeError):
        raise Unauthorized("missing or invalid bearer token") from None
    # API Gateway caches an authorizer's answer per token; expiry is checked here too.
    if exp < time.time():
        raise Unauthorized("token has expired")
    return principal


def json_body(request: Request) -> Any:
    """The request body as JSON, numbers with a fraction parsed as exact Decimals."""
    raw = request.raw_body
    if not raw:
        raise BadRequest("request body must be JSON")
    try:
        return json.loads(raw, parse_float=Decimal)
    except (ValueError, RecursionError):
        raise BadRequest("request body is not valid JSON") from None


def query_params(request: Request) -> dict[str, str]:
    return dict(request.query_params or {})


def parse_limit(params: Mapping[str, str]) -> int:
    text = params.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    # ASCII digits only: str.isdigit() also admits superscripts (int() then raises)
    # and other scripts' digits.
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(text)


# How long a caller should wait before retrying when a dependency is down or throttled.
RETRY_AFTER_SECONDS = 5


def api_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Views raise ServiceError; the caller gets the contract's JSON error shape.

    A dependency (DynamoDB, SQS, SES) that is unreachable, timed out or throttled is
    a 503 with Retry-After (never a 500): the request may be retried as it is.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except ServiceError as exc:
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else getattr(exc, "headers", None)
            if exc.status == 503:
                headers = {"Retry-After": str(RETRY_AFTER_SECONDS), **(headers or {})}
            return error_response(exc.status, exc.code, exc.message, headers, exc.details)
        except Exception as exc:
            from ..adapters.storage_errors import error_code, is_unavailable

            if not is_unavailable(exc):
                raise
            from ..observability import get_logger

            details = {"error": type(exc).__name__, "code": error_code(exc), "detail": str(exc)}
            get_logger().warning("dependency unavailable", extra=details)
            return error_response(
                503,
                "unavailable",
                f"a service this request needs is unavailable or throttled; retry in {RETRY_AFTER_SECONDS} seconds",
                {"Retry-After": str(RETRY_AFTER_SECONDS)},
            )

    return wrapper


def reject_unauthenticated(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """HTTP middleware: a request the authorizer could not authenticate stops here (401).

    The authorizer answers "allow, with the reason it failed" rather than raising,
    so the 401 has our JSON error shape both in AWS and under `chalice local`.
    Errors Chalice answers itself (415 for a non-JSON Content-Type, 405, 500) are
    given the same shape, so every error a client sees reads the same way.
    """
    context = (event.context or {}).get("authorizer") or {}
    if context.get("auth_error"):
        return error_response(
            401,
            "unauthorized",
            str(context["auth_error"]),
            {"WWW-Authenticate": "Bearer", "Access-Control-Allow-Origin": "*"},
        )
    return _contract_error_shape(get_response(event))


_CHALICE_ERROR_CODES = {
    "UnsupportedMediaType": "unsupported_media_type",
    "MethodNotAllowedError": "method_not_allowed",
    "InternalServerError": "internal_error",
    "BadRequest": "bad_request",
}


def _contract_error_shape(response: Response) -> Response:
    """Chalice's own `{"Code", "Message"}` error bodies, as `{"error": {"code", "message"}}`."""
    body = response.body
    if response.status_code < 400 or not isinstance(body, dict) or set(body) != {"Code", "Message"}:
        return response
    fallback = "internal_error" if response.status_code >= 500 else "bad_request"
    code = _CHALICE_ERROR_CODES.get(str(body["Code"]), fallback)
    response.body = {"error": {"code": code, "message": str(body["Message"])}}
    return response


def wants_csv(params: Mapping[str, str]) -> bool:
    """`format=csv` or `format=json` (the default); anything else is a 400."""
    fmt = params.get("format", "json")
    if fmt not in ("json", "csv"):
        raise BadRequest("format must be json or csv")
    return fmt == "csv"
