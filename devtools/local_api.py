"""`chalice local`, answering API Gateway's own errors as the deployed stack does.

    python -m devtools.local_api --port 8000      # what `make run` starts (stage `local`)

It is Chalice's local server (the same gateway emulation, authorizer and app) with
one difference: where API Gateway answers by itself (no token, an unknown route or
method, an authorizer that denies or fails) Chalice's emulation answers AWS's raw
texts (`{"message": "Unauthorized"}`, and for an unknown route with a bearer token a
403 that quotes the whole Authorization header). Here those answers come from the
table the template's gateway responses are made from (`GATEWAY_ERRORS` in
chalicelib/api/http.py): the contract's error shape, fixed messages, nothing echoed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from chalice.app import Chalice
from chalice.cli import create_local_server
from chalice.cli.factory import CLIFactory
from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    ForbiddenError,
    InvalidAuthorizerError,
    LocalDevServer,
    LocalGateway,
    LocalGatewayException,
    NotAuthorizedError,
    RouteMatcher,
)

from .processes import ROOT


def gateway_response_type(error: LocalGatewayException, headers: dict[str, str]) -> str:
    """The API Gateway response type AWS would answer for what Chalice's emulation raised."""
    if isinstance(error, NotAuthorizedError):
        return "UNAUTHORIZED"  # no Authorization header: the authorizer is never called
    if isinstance(error, InvalidAuthorizerError):
        return "AUTHORIZER_CONFIGURATION_ERROR"
    if isinstance(error, ForbiddenError) and error.headers.get("x-amzn-ErrorType") == "AccessDeniedException":
        return "ACCESS_DENIED"
    if isinstance(error, ForbiddenError):
        has_token = any(name.lower() == "authorization" for name in headers)
        return "INCOMPLETE_SIGNATURE" if has_token else "MISSING_AUTHENTICATION_TOKEN"
    return "DEFAULT_4XX" if error.CODE < 500 else "DEFAULT_5XX"


class ContractGateway(LocalGateway):
    """Chalice's gateway, with API Gateway's answer to a method a resource lacks."""

    def __init__(self, app_object: Chalice, config: Config) -> None:
        super().__init__(app_object, config)
        self._routes = RouteMatcher(list(app_object.routes))
        self._app = app_object

    def handle_request(self, method: str, path: str, headers: Any, body: bytes | None) -> Any:
        try:
            route = self._routes.match_route(path).route
        except ValueError:
            route = None
        if route is not None and method != "OPTIONS" and method not in self._app.routes[route]:
            # API Gateway: no such method on the resource reads as a missing token (403).
            raise ForbiddenError({}, b"")
        return super().handle_request(method, path, headers, body)


class ContractErrorsHandler(ChaliceRequestHandler):
    def __init__(self, request: Any, client_address: Any, server: HTTPServer, app_object: Chalice, config: Config):
        self.local_gateway = ContractGateway(app_object, config)
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)  # type: ignore[arg-type]

    def _send_error_response(self, error: LocalGatewayException) -> None:
        from chalicelib.api.http import GATEWAY_ERRORS, gateway_headers

        gateway_error = GATEWAY_ERRORS[gateway_response_type(error, dict(self.headers))]
        headers = {"Content-Type": "application/json", **gateway_headers(gateway_error)}
        self._send_http_response(gateway_error.status or error.CODE, headers, gateway_error.body())


class _Factory(CLIFactory):
    def create_local_server(self, app_obj: Chalice, config: Config, host: str, port: int) -> LocalDevServer:
        return LocalDevServer(app_obj, config, host, port, handler_cls=ContractErrorsHandler)


def local_server(host: str, port: int, stage: str = "local") -> LocalDevServer:
    """The server, bound and ready to serve (the app is imported; the stage's variables are set)."""
    factory = _Factory(project_dir=str(ROOT), environ=os.environ)
    server: LocalDevServer = create_local_server(factory, host, port, stage)
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stage", default="local")
    args = parser.parse_args(argv)
    # As `chalice local`: the root logger prints to stdout (the app's JSON logger does not propagate).
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    local_server(args.host, args.port, args.stage).serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
